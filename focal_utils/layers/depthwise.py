"""A backend-aware depthwise convolution for the focal levels.

``FocalModulation`` keeps each focal level as a ``keras.layers.DepthwiseConv2D``
(its weights, names and saved files are unchanged); only *how* the
convolution is computed depends on the backend:

- TensorFlow: the layer itself, i.e. ``tf.nn.depthwise_conv2d``, whose
  hand-written CPU kernels (forward and both gradients) beat every
  alternative we measured, XLA included.
- JAX: XLA's CPU depthwise convolution (a grouped ``conv_general_dilated``)
  is 10-40x slower than it should be, forward and backward. The same
  convolution written as ``k * k`` shifted multiply-adds over a zero-padded
  input is plain elementwise work that XLA fuses into one loop, and its
  gradient (slices, pads and reductions) is fast too.

Both compute ``y[b, h, w, c] = sum_ij x[b, h + i - p, w + j - p, c] *
kernel[i, j, c]`` with zero padding ``p = k // 2`` ("same", odd ``k``), so
the results agree within float32 rounding (only the order of the sums
differs). ``scripts/benchmark_cpu.py`` measures the difference.
"""

import keras
from keras import ops


def shifted_depthwise_conv(x, kernel):
    """Depthwise "same" convolution as ``k * k`` shifted multiply-adds.

    Args:
        x: ``(batch, height, width, channels)``.
        kernel: ``(k, k, channels, 1)`` (a ``DepthwiseConv2D`` kernel) or
            ``(k, k, channels)``, with odd ``k``.

    Returns:
        A tensor shaped like ``x``.
    """
    size = kernel.shape[0]
    if size % 2 == 0 or kernel.shape[1] != size:
        raise ValueError(
            "`shifted_depthwise_conv` needs a square kernel of odd size. "
            f"Received: kernel.shape={tuple(kernel.shape)}"
        )
    kernel = ops.cast(ops.reshape(kernel, (size, size, -1)), x.dtype)
    height, width = x.shape[1], x.shape[2]
    pad = size // 2
    padded = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    out = None
    for i in range(size):
        for j in range(size):
            term = padded[:, i:i + height, j:j + width, :] * kernel[i, j]
            out = term if out is None else out + term
    return out


def depthwise_conv(layer, x):
    """Apply the ``DepthwiseConv2D`` ``layer`` to ``x``, the fastest way for the backend.

    On JAX the layer's own kernel goes through ``shifted_depthwise_conv``
    (same weights, same result); elsewhere the layer is called as usual.
    Only for stride 1, "same" padding, no bias and no activation, which is
    how ``FocalModulation`` builds its focal levels.
    """
    if (keras.backend.backend() == "jax" and x.shape[1] is not None and x.shape[2] is not None
            and _plain_same_depthwise(layer)):
        return shifted_depthwise_conv(x, layer.kernel)
    return layer(x)


def _plain_same_depthwise(layer):
    """Whether ``layer`` is a stride-1 "same" ``DepthwiseConv2D`` without bias or activation.

    Anything else (e.g. the keras-io construction that
    ``kerasio.build_book_model_kerasio_way`` swaps in) is called as it is.
    """
    return (isinstance(layer, keras.layers.DepthwiseConv2D) and layer.padding == "same"
            and tuple(layer.strides) == (1, 1) and tuple(layer.dilation_rate) == (1, 1)
            and not layer.use_bias and layer.depth_multiplier == 1
            and layer.activation in (None, keras.activations.linear))
