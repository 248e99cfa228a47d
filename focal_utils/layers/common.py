"""Initialisers, norms and small checks shared by the FocalNet layers.

The official code initialises every ``nn.Linear`` with ``trunc_normal_(std=.02)``
and a zero bias; its truncation bounds are absolute (+-2, i.e. +-100 std), so
the draw is a plain normal of std 0.02 (Keras' ``TruncatedNormal`` would cut
at 2 std and shrink the spread to ~0.0176); convolutions keep PyTorch's default, which is
``VarianceScaling(1/3, "fan_in", "uniform")`` in Keras terms.
"""

import difflib
import numbers

import keras
import numpy as np
from keras import ops

from focal_utils.layers.fused import apply_norm, gelu  # noqa: F401 (the layers' GELU and norm)

LAYER_NORM_EPSILON = 1e-5  # the official nn.LayerNorm default (keras-io: 1e-7)
SERIALIZATION_PACKAGE = "focal_utils"


def dense_initializer():
    """Normal, std 0.02: the official ``trunc_normal_(std=.02)`` for Linear."""
    return keras.initializers.RandomNormal(stddev=0.02)


def conv_initializer():
    """PyTorch's default Conv2d init (kaiming uniform with a=sqrt(5))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def depthwise_initializer(kernel_size):
    """PyTorch's default for a depthwise Conv2d (groups = channels).

    Its fan-in is ``k * k`` (one input channel per group), so the bound is
    ``1 / k``. Keras computes the fan-in of a depthwise kernel
    ``(k, k, C, 1)`` as ``k * k * C``, which would start the focal levels
    sqrt(C) times too small: hence an explicit uniform range.
    """
    bound = 1.0 / kernel_size
    return keras.initializers.RandomUniform(-bound, bound)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class TokenDense(keras.layers.Dense):
    """A ``Dense`` on the last axis that multiplies one 2D matrix.

    Same weights (``kernel``, ``bias``), names and result as
    ``keras.layers.Dense``; only the computation differs: the leading axes
    ``(batch, height, width)`` are flattened into one before the matmul and
    restored after. Keras' Dense multiplies a 4D tensor by the kernel
    directly, and in Colab's CPU runtime (TensorFlow 2.20, Keras 3.13) the
    gradient of that broadcast matmul is 10 to 40 times slower than the 2D
    one: it made a training step of the book's model about 10 times slower
    there than with TensorFlow 2.21 (``scripts/benchmark_cpu.py``).
    """

    def call(self, inputs, training=None):
        if len(inputs.shape) <= 2:
            return super().call(inputs)
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
        return ops.reshape(super().call(flat), (*leading, self.units))


def dense(units, name, use_bias=True, kernel_initializer=None):
    """A ``TokenDense`` initialised as the official Linear layers are.

    ``kernel_initializer`` replaces the official Linear init (std 0.02
    normal), e.g. for a 1x1 convolution written as a Dense.
    """
    return TokenDense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer or dense_initializer(),
        bias_initializer="zeros",
        name=name,
    )


def layer_norm(name):
    """LayerNorm over channels with the official epsilon."""
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)


def check_feature_map(layer, input_shape):
    """Raise a clear error unless ``input_shape`` is (batch, height, width, channels)."""
    if len(input_shape) != 4:
        raise ValueError(
            f"`{layer.__class__.__name__}` expects a 4D input "
            "(batch, height, width, channels) in channels-last order. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"`{layer.__class__.__name__}` needs a known channel count. "
            f"Received: input_shape={tuple(input_shape)}"
        )


def check_positive_int(name, value, minimum=1):
    """Return ``value`` as an int, or raise a ValueError naming ``name``.

    Accepts Python and NumPy integers (``np.int64(10)`` is a fine class
    count); rejects bools, floats, strings and values below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return int(value)


def check_rate(name, value):
    """Return ``value`` as a float if it is a probability in [0, 1), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_float(name, value):
    """Return ``value`` as a float if it is a number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` must be a number > 0. Received: {name}={value!r}")
    return float(value)


def check_bool(name, value):
    """Return ``value`` if it is a bool (NumPy bools too), else raise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def as_pair(value, name):
    """``(height, width)`` from an int or a pair of ints, checked.

    Raises:
        ValueError: for anything else, e.g. ``image_size="32"`` (a string is
            not read as a sequence of digits) or a float.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(
            f"`{name}` must be an int or a pair (height, width) of ints. "
            f"Received: {name}={value!r}"
        )
    return tuple(check_positive_int(name, v) for v in pair)


# Keyword arguments that keras.layers.Layer (and keras.Model) take themselves.
LAYER_KWARGS = frozenset(
    {"activity_regularizer", "trainable", "dtype", "autocast", "name",
     "input_dim", "input_shape"})


def check_layer_kwargs(owner, kwargs, known=()):
    """Raise a ValueError for a keyword that neither ``owner`` nor Keras takes.

    Keras would reject it too, but without saying what was meant: this names
    the closest known argument (``focal_level`` -> ``focal_levels``).

    Args:
        owner: the class name, for the message.
        kwargs: the keyword arguments left after the layer took its own.
        known: the layer's own argument names, for the suggestion.
    """
    unknown = [key for key in kwargs if key not in LAYER_KWARGS]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, sorted(set(known) | LAYER_KWARGS), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    raise ValueError(
        f"`{owner}` got an unexpected argument `{key}`.{hint} "
        f"Received: {key}={kwargs[key]!r}"
    )
