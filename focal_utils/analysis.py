"""Measurements on FocalNet layers: per-level contexts and receptive fields.

Two tools the chapters use to look inside a layer rather than trust it:

- :func:`level_contexts` asks a ``FocalModulation`` layer for every
  intermediate of its hierarchical contextualisation: query, gates, the
  context of each level and the global context;
- :func:`receptive_field` measures which inputs one output position depends
  on, as the gradient of that position with respect to the input. It hides
  the backend's autodiff (TensorFlow ``GradientTape``, ``jax.grad`` or
  ``torch.autograd``) behind one call.

Helpers turn a gradient map into numbers (:func:`receptive_field_extent`,
:func:`receptive_field_radius`) and give the theoretical reach of a stack of
stride-1 convolutions (:func:`theoretical_receptive_fields`).
"""

import keras
import numpy as np
from keras import ops

from focal_utils.layers.focal_modulation import FocalModulation


def level_contexts(modulation_layer, x):
    """The intermediates of a ``FocalModulation`` layer's contextualisation.

    Calls the layer itself with ``return_contexts=True``: the arithmetic
    lives once, in ``FocalModulation.call``, and what the chapters measure is
    exactly what the layer computes.

    Args:
        modulation_layer: a ``FocalModulation`` layer (built, or built here
            from ``x``'s shape).
        x: tensor ``(batch, height, width, channels)``, the layer's input.

    Returns:
        dict with
        ``"query"`` ``(B, H, W, C)``, ``"context"`` ``(B, H, W, C)`` (the
        projected context before any level), ``"gates"`` ``(B, H, W, L + 1)``
        (after the layer's gate activation, raw by default), ``"levels"`` a
        list of L tensors ``(B, H, W, C)`` (the output of levels 1, 2, ...; index l - 1),
        ``"global"`` ``(B, 1, 1, C)``, ``"aggregated"`` ``(B, H, W, C)``,
        the gated sum that the layer feeds to ``h``, and ``"modulator"``.

    Raises:
        TypeError: if ``modulation_layer`` is not a ``FocalModulation``.
    """
    if not isinstance(modulation_layer, FocalModulation):
        raise TypeError(
            "`level_contexts` needs a `FocalModulation` layer. "
            f"Received: {type(modulation_layer).__name__}"
        )
    _, contexts = modulation_layer(x, training=False, return_contexts=True)
    return contexts


def theoretical_receptive_fields(kernel_sizes):
    """Side of the square each level of a stride-1 conv stack sees.

    Level ``l`` has seen ``1 + sum_{i <= l} (k_i - 1)`` pixels per side, i.e. a
    radius of ``sum_{i <= l} k_i // 2`` around the centre (odd kernels).

    >>> theoretical_receptive_fields([3, 5, 7])
    [3, 7, 13]
    """
    sizes, size = [], 1
    for kernel in kernel_sizes:
        size += kernel - 1
        sizes.append(size)
    return sizes


def value_and_input_gradient(fn, x):
    """``fn(x)`` (a scalar) and its gradient with respect to ``x``.

    One backend-neutral entry point: TensorFlow's ``GradientTape`` when
    ``keras.backend.backend() == "tensorflow"``, ``jax.value_and_grad`` for
    ``"jax"`` and ``torch.autograd`` for ``"torch"``.

    Args:
        fn: callable from a tensor to a scalar tensor.
        x: numpy array, the point at which to differentiate.

    Returns:
        ``(value, gradient)`` as a float and a numpy array shaped like ``x``.
    """
    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            value = fn(xt)
        grad = tape.gradient(value, xt)
    elif backend == "jax":
        import jax

        value, grad = jax.value_and_grad(lambda t: fn(t))(x)
    elif backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        value = fn(xt)
        (grad,) = torch.autograd.grad(value, xt)
    else:
        raise NotImplementedError(
            "`receptive_field` needs a backend with autodiff (tensorflow, jax "
            f"or torch). Received: backend={backend!r}"
        )
    if grad is None:  # the output does not depend on x at all
        grad = np.zeros_like(x)
    return float(ops.convert_to_numpy(value)), np.asarray(ops.convert_to_numpy(grad))


def receptive_field(fn, input_shape, position, inputs=None, seed=0):
    """Gradient of one output position with respect to the whole input.

    The output ``y = fn(x)`` is ``(1, h, w, c)``; the scalar differentiated is
    ``sum_c y[0, i, j, c]`` at ``position = (i, j)``. The map returned is
    ``sum_c' |dy/dx[0, :, :, c']|``: non-zero exactly where the input can
    change that output (up to accidental cancellations, which a random input
    makes vanishingly unlikely).

    Args:
        fn: callable from a ``(1, H, W, C)`` tensor to a ``(1, h, w, c)``
            tensor, e.g. a layer or a lambda around one.
        input_shape: ``(1, H, W, C)``.
        position: ``(i, j)`` in the output grid.
        inputs: optional array of ``input_shape`` to differentiate at; by
            default a standard normal draw from ``seed``.
        seed: int, for the default input.

    Returns:
        numpy array ``(H, W)``, the absolute gradient summed over channels.

    Raises:
        ValueError: if ``input_shape`` has a batch other than 1 or
            ``position`` lies outside the output.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[0] != 1:
        raise ValueError(
            "`receptive_field` expects input_shape=(1, height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    if inputs is None:
        inputs = np.random.default_rng(seed).standard_normal(input_shape)
    inputs = np.asarray(inputs, dtype="float32").reshape(input_shape)
    i, j = position

    def scalar(x):
        y = fn(x)
        if not (0 <= i < y.shape[1] and 0 <= j < y.shape[2]):
            raise ValueError(
                f"`position` must lie in the output grid {tuple(y.shape[1:3])}. "
                f"Received: position={tuple(position)}"
            )
        return ops.sum(y[0, i, j, :])

    _, grad = value_and_input_gradient(scalar, inputs)
    return np.abs(grad[0]).sum(axis=-1)


def receptive_field_extent(grad_map, atol=0.0):
    """``(height, width)`` of the bounding box where ``|grad_map| > atol``."""
    rows, cols = np.nonzero(np.abs(np.asarray(grad_map)) > atol)
    if rows.size == 0:
        return (0, 0)
    return (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))


def receptive_field_radius(grad_map, position, atol=0.0):
    """Largest Chebyshev distance from ``position`` where ``|grad_map| > atol``.

    For a stride-1 stack whose output and input grids coincide this is the
    radius ``sum_l k_l // 2``; -1 if the map is zero everywhere.
    """
    rows, cols = np.nonzero(np.abs(np.asarray(grad_map)) > atol)
    if rows.size == 0:
        return -1
    i, j = position
    return int(max(np.abs(rows - i).max(), np.abs(cols - j).max()))
