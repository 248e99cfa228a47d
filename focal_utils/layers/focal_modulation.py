"""Focal modulation: the token mixer that replaces self-attention."""

import keras
from keras import ops

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    check_feature_map,
    check_positive_int,
    conv_initializer,
    dense,
    depthwise_initializer,
    gelu,
    layer_norm,
)
from focal_utils.layers.depthwise import depthwise_conv

GATE_ACTIVATIONS = (None, "softmax")


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalModulation(keras.layers.Layer):
    """Focal modulation (Yang et al., 2022), as in the official code.

    For an input ``x`` with C channels and L = ``focal_level``:

    1. one linear ``f`` gives query ``q`` (C), context ``z`` (C) and L + 1
       gates ``g`` (raw linear outputs: no softmax);
    2. hierarchical contextualisation: ``z_l = GELU(DWConv_l(z_{l-1}))`` with
       kernel ``focal_factor * l + focal_window`` (3, 5, 7 ... by default),
       and a global level ``z_L = GELU(mean_hw(z_{L-1}))``;
    3. gated aggregation: ``sum_l g_l * z_l`` (divided by L + 1 when
       ``normalize_modulator``), then the modulator ``m = h(...)`` where ``h``
       is a 1x1 convolution with bias (a per-token linear map);
    4. ``proj(q * m)`` (LayerNorm before ``proj`` if
       ``use_postln_in_modulation``), then dropout.

    Args:
        focal_level: int >= 1, number of depthwise context levels L.
        focal_window: int, kernel size of the first level.
        focal_factor: int, kernel growth per level.
        use_bias: bool, bias in ``f`` and ``h``.
        proj_drop_rate: float, dropout after ``proj``.
        use_postln_in_modulation: bool, LayerNorm on ``q * m``.
        normalize_modulator: bool, divide the aggregated context by L + 1.
        gate_activation: None (official) or ``"softmax"`` (the keras-io
            example's choice, kept only for comparison).

    Call arguments:
        x: ``(batch, height, width, channels)``.
        training: bool, for dropout.
        return_maps: bool; if True also return ``{"gates": (B, H, W, L + 1),
            "modulator": (B, H, W, C)}``. Nothing is stored on the layer.

    Reference: https://arxiv.org/abs/2203.11926

    Example:

    >>> layer = FocalModulation(focal_level=2)
    >>> tuple(layer(keras.ops.zeros((1, 8, 8, 16))).shape)
    (1, 8, 8, 16)
    """

    def __init__(self, focal_level=2, focal_window=3, focal_factor=2,
                 use_bias=True, proj_drop_rate=0.0,
                 use_postln_in_modulation=False, normalize_modulator=False,
                 gate_activation=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("focal_level", focal_level)
        check_positive_int("focal_window", focal_window)
        check_positive_int("focal_factor", focal_factor, minimum=0)
        if gate_activation not in GATE_ACTIVATIONS:
            raise ValueError(
                "`gate_activation` must be None (official, raw gates) or "
                f"'softmax'. Received: gate_activation={gate_activation!r}"
            )
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.focal_factor = focal_factor
        self.use_bias = use_bias
        self.proj_drop_rate = proj_drop_rate
        self.use_postln_in_modulation = use_postln_in_modulation
        self.normalize_modulator = normalize_modulator
        self.gate_activation = gate_activation
        self.kernel_sizes = [
            focal_factor * level + focal_window for level in range(focal_level)
        ]
        self.focal_layers = [
            keras.layers.DepthwiseConv2D(
                size, padding="same", use_bias=False,
                depthwise_initializer=depthwise_initializer(size),
                name=f"focal_layer_{i}",
            )
            for i, size in enumerate(self.kernel_sizes)
        ]
        self.proj_drop = keras.layers.Dropout(proj_drop_rate, name="proj_drop")
        self.ln = layer_norm("ln") if use_postln_in_modulation else None

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        channels = input_shape[-1]
        self.f = dense(2 * channels + self.focal_level + 1, "f", self.use_bias)
        # h is the official 1x1 Conv2d: on channels-last tokens, a Dense.
        self.h = keras.layers.Dense(
            channels, use_bias=self.use_bias, kernel_initializer=conv_initializer(),
            name="h",
        )
        self.proj = dense(channels, "proj")
        self.f.build(input_shape)
        for layer in self.focal_layers:
            layer.build(input_shape)
        for layer in (self.h, self.proj, self.ln):
            if layer is not None:
                layer.build(input_shape)

    def call(self, x, training=None, return_maps=False):
        channels = x.shape[-1]
        # pre linear projection: query, context and gates from one Dense
        x = self.f(x)
        q = x[..., :channels]
        ctx = x[..., channels:2 * channels]
        gates = x[..., 2 * channels:]
        if self.gate_activation == "softmax":
            gates = ops.softmax(gates, axis=-1)

        # hierarchical contextualisation and gated aggregation
        ctx_all = 0.0
        for level, focal_layer in enumerate(self.focal_layers):
            # depthwise_conv: the layer's kernel, computed the fastest way
            # for the backend (shifted multiply-adds on JAX; issue 19)
            ctx = gelu(depthwise_conv(focal_layer, ctx))
            ctx_all = ctx_all + ctx * gates[..., level:level + 1]
        ctx_global = gelu(ops.mean(ctx, axis=(1, 2), keepdims=True))
        ctx_all = ctx_all + ctx_global * gates[..., self.focal_level:]
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)

        # focal modulation and post projection
        modulator = self.h(ctx_all)
        out = q * modulator
        if self.ln is not None:
            out = self.ln(out)
        out = self.proj_drop(self.proj(out), training=training)
        if return_maps:
            return out, {"gates": gates, "modulator": modulator}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            focal_level=self.focal_level,
            focal_window=self.focal_window,
            focal_factor=self.focal_factor,
            use_bias=self.use_bias,
            proj_drop_rate=self.proj_drop_rate,
            use_postln_in_modulation=self.use_postln_in_modulation,
            normalize_modulator=self.normalize_modulator,
            gate_activation=self.gate_activation,
        )
        return config
