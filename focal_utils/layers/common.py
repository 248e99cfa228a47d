"""Initialisers, norms and small checks shared by the FocalNet layers.

The official code initialises every ``nn.Linear`` with ``trunc_normal_(std=.02)``
and a zero bias; its truncation bounds are absolute (+-2, i.e. +-100 std), so
the draw is a plain normal of std 0.02 (Keras' ``TruncatedNormal`` would cut
at 2 std and shrink the spread to ~0.0176); convolutions keep PyTorch's default, which is
``VarianceScaling(1/3, "fan_in", "uniform")`` in Keras terms.
"""

import keras

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


def dense(units, name, use_bias=True):
    """A ``Dense`` initialised as the official Linear layers are."""
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=dense_initializer(),
        bias_initializer="zeros",
        name=name,
    )


def layer_norm(name):
    """LayerNorm over channels with the official epsilon."""
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)


def gelu(x):
    """Exact (erf) GELU, as ``nn.GELU()``; ``keras.ops.gelu`` defaults to tanh."""
    return keras.ops.gelu(x, approximate=False)


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
    """Raise a ValueError naming ``name`` unless ``value`` is an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )


def check_rate(name, value):
    """Raise a ValueError unless ``value`` is a probability in [0, 1)."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")
