"""Exact GELU and LayerNorm, each fused into one loop forward and one backward on TensorFlow.

Why: TensorFlow runs ``tf.nn.gelu(approximate=False)`` as separate kernels
(a negate, ``erfc``, multiplies), and its gradient as more of them (a
square, an exponential, multiplies), each a full pass over the tensor.
After the MLP's first ``Dense`` that tensor is the widest in the block
(``4 * C`` channels per token).

How: the forward and the gradient are each written once as a small
function that XLA compiles (``tf.function(jit_compile=True)``) into one
fused loop, and ``tf.custom_gradient`` ties them together. Only these two
elementwise functions go through XLA; the matmuls and convolutions around
them stay on TensorFlow's own CPU kernels (oneDNN), which are faster there
than XLA's. The formula is the same, so results agree with
``keras.ops.gelu(x, approximate=False)`` within float32 rounding (the tests
check values and gradients).

The LayerNorm (``apply_norm``) is fused the same way: TensorFlow runs
Keras' LayerNormalization as a dozen kernels (moments, rsqrt, scale, shift
and their gradients, with broadcasts), XLA as one loop each way.

Measured with ``scripts/benchmark_cpu.py --workers tensorflow,tensorflow@unfused``
(the 2-core dev machine, idle, 9 turns each): a training step of the book's
CIFAR model (batch 128) 1.05x faster, of FocalNet-T (batch 8 at 224) 1.10x;
inference of FocalNet-T 1.11x, of the CIFAR model 0.92x (for its small
tensors the XLA calls cost about what they save). Less than TensorFlow's
profiler suggested: its per-op times overstate the small elementwise
kernels, which the executor partly overlaps with the matmuls.

JAX compiles the whole step with XLA and fuses both already, and other
backends keep Keras' own ops.
"""

import functools
import math

import keras

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x):
    """Exact (erf) GELU, as PyTorch's ``nn.GELU()``; ``keras.ops.gelu`` defaults to tanh."""
    if _fusion_enabled():
        return _tf_fused_gelu()(x)
    return keras.ops.gelu(x, approximate=False)


def _fusion_enabled():
    """Whether to use the fused TensorFlow functions (``scripts/benchmark_cpu.py``
    switches them off to time the code before them)."""
    return keras.backend.backend() == "tensorflow"


@functools.cache
def _tf_fused_gelu():
    """The TensorFlow GELU with an XLA-fused forward and gradient (built once)."""
    import tensorflow as tf

    @tf.function(jit_compile=True, reduce_retracing=True)
    def forward(x):
        return 0.5 * x * tf.math.erfc(-_SQRT_HALF * x)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def backward(x, upstream):
        cdf = 0.5 * tf.math.erfc(-_SQRT_HALF * x)
        pdf = _INV_SQRT_2PI * tf.exp(-0.5 * x * x)
        return upstream * (cdf + x * pdf)

    @tf.custom_gradient
    def fused_gelu(x):
        return forward(x), lambda upstream: backward(x, upstream)

    return fused_gelu


def apply_norm(layer, x):
    """Apply the ``keras.layers.LayerNormalization`` ``layer`` to ``x``, fused on TensorFlow.

    Same weights and result as ``layer(x)``; on TensorFlow, for a norm over
    the last axis with scale and centre (how every FocalNet norm is built),
    the forward and the gradient each run as one XLA-fused function, as for
    ``gelu`` above. Anything else is called as it is.
    """
    if not (_fusion_enabled() and _plain_last_axis_norm(layer, x)):
        return layer(x)
    import tensorflow as tf

    return _tf_fused_layer_norm()(
        x, tf.convert_to_tensor(layer.gamma), tf.convert_to_tensor(layer.beta),
        tf.constant(layer.epsilon, x.dtype))


def _plain_last_axis_norm(layer, x):
    """Whether ``layer`` is a built LayerNormalization over the last axis of
    ``x``, with scale and centre, in ``x``'s dtype (else it is called as is)."""
    axis = layer.axis if isinstance(layer.axis, int) else (
        layer.axis[0] if len(layer.axis) == 1 else None)
    return (isinstance(layer, keras.layers.LayerNormalization) and layer.built
            and axis in (-1, len(x.shape) - 1) and layer.center and layer.scale
            and not layer.rms_scaling and x.dtype == layer.gamma.dtype)


@functools.cache
def _tf_fused_layer_norm():
    """The TensorFlow LayerNorm (last axis) with an XLA-fused forward and gradient."""
    import tensorflow as tf

    def statistics(x, epsilon):  # the normalised x and 1 / std, per token
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        centred = x - mean
        inv_std = tf.math.rsqrt(tf.reduce_mean(centred * centred, axis=-1, keepdims=True) + epsilon)
        return centred * inv_std, inv_std

    @tf.function(jit_compile=True, reduce_retracing=True)
    def forward(x, gamma, beta, epsilon):
        normalized, _ = statistics(x, epsilon)
        return normalized * gamma + beta

    @tf.function(jit_compile=True, reduce_retracing=True)
    def backward(x, gamma, epsilon, upstream):
        normalized, inv_std = statistics(x, epsilon)
        rows = list(range(len(x.shape) - 1))
        scaled = upstream * gamma
        grad_x = inv_std * (scaled - tf.reduce_mean(scaled, axis=-1, keepdims=True)
                            - normalized * tf.reduce_mean(scaled * normalized, axis=-1,
                                                          keepdims=True))
        return (grad_x, tf.reduce_sum(upstream * normalized, axis=rows),
                tf.reduce_sum(upstream, axis=rows))

    @tf.custom_gradient
    def fused_layer_norm(x, gamma, beta, epsilon):
        def grad(upstream):
            grad_x, grad_gamma, grad_beta = backward(x, gamma, epsilon, upstream)
            return grad_x, grad_gamma, grad_beta, tf.zeros_like(epsilon)
        return forward(x, gamma, beta, epsilon), grad

    return fused_layer_norm
