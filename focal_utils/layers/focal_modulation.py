"""Focal modulation: the token mixer that replaces self-attention."""

import keras
from keras import ops

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    apply_norm,
    check_bool,
    check_feature_map,
    check_positive_int,
    check_rate,
    conv_initializer,
    dense,
    depthwise_initializer,
    gelu,
    layer_norm,
)
from focal_utils.layers.depthwise import depthwise_conv

GATE_ACTIVATIONS = (None, "softmax")


def focal_kernel_sizes(focal_level, focal_window=3, focal_factor=2):
    """Kernel size of each depthwise focal level: ``focal_factor * l + focal_window``.

    The one place the rule lives; the layer, the FLOPs formulas and the
    keras-io re-implementation all call it. Level 0 sees ``focal_window``
    pixels per side and every further level adds ``focal_factor``.

    Raises:
        ValueError: for a level below 1, or a rule that gives an even kernel
            (an even ``focal_window``, or an odd ``focal_factor``): an even
            kernel has no centre, so "same" padding would shift the context
            by half a pixel, and the official code (padding ``k // 2`` on
            both sides) would change the feature-map size.

    >>> focal_kernel_sizes(3)
    [3, 5, 7]
    """
    focal_level = check_positive_int("focal_level", focal_level)
    focal_window = check_positive_int("focal_window", focal_window)
    focal_factor = check_positive_int("focal_factor", focal_factor, minimum=0)
    if focal_window % 2 == 0:
        raise ValueError(
            "`focal_window` must be odd, so that every depthwise kernel has a "
            f"centre (the official sizes are 3, 5, 7). Received: focal_window={focal_window}"
        )
    if focal_factor % 2:
        raise ValueError(
            "`focal_factor` must be even (the official value is 2), or the "
            "second level gets an even kernel. Received: "
            f"focal_factor={focal_factor}"
        )
    return [focal_factor * level + focal_window for level in range(focal_level)]


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
        focal_window: int, odd, kernel size of the first level.
        focal_factor: int, even, kernel growth per level (see
            ``focal_kernel_sizes``).
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
        return_contexts: bool; if True also return every intermediate of the
            contextualisation (what ``focal_utils.analysis.level_contexts``
            reads): ``"query"`` and ``"context"`` ``(B, H, W, C)`` (``f``'s
            split), ``"gates"``, ``"levels"`` (a list of L maps
            ``(B, H, W, C)``, the output of levels 1, 2, ...), ``"global"``
            ``(B, 1, 1, C)``, ``"aggregated"`` (the gated sum fed to ``h``)
            and ``"modulator"``. Takes precedence over ``return_maps``.

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
        self.kernel_sizes = focal_kernel_sizes(focal_level, focal_window, focal_factor)
        if gate_activation not in GATE_ACTIVATIONS:
            raise ValueError(
                "`gate_activation` must be None (official, raw gates) or "
                f"'softmax'. Received: gate_activation={gate_activation!r}"
            )
        self.focal_level = int(focal_level)
        self.focal_window = int(focal_window)
        self.focal_factor = int(focal_factor)
        self.use_bias = check_bool("use_bias", use_bias)
        self.proj_drop_rate = check_rate("proj_drop_rate", proj_drop_rate)
        self.use_postln_in_modulation = check_bool(
            "use_postln_in_modulation", use_postln_in_modulation)
        self.normalize_modulator = check_bool("normalize_modulator", normalize_modulator)
        self.gate_activation = gate_activation
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
        self.h = dense(channels, "h", self.use_bias, kernel_initializer=conv_initializer())
        self.proj = dense(channels, "proj")
        self.f.build(input_shape)
        for layer in self.focal_layers:
            layer.build(input_shape)
        for layer in (self.h, self.proj, self.ln):
            if layer is not None:
                layer.build(input_shape)

    def call(self, x, training=None, return_maps=False, return_contexts=False):
        channels = x.shape[-1]
        # pre linear projection: query, context and gates from one Dense. Split, not
        # sliced: each slice's gradient is a zero-padded full-size tensor (TensorFlow's
        # StridedSliceGrad, 8% of a CPU training step), a split's is one concatenation.
        q, context, gates = ops.split(self.f(x), [channels, 2 * channels], axis=-1)
        if self.gate_activation == "softmax":
            gates = ops.softmax(gates, axis=-1)
        level_gates = ops.split(gates, self.focal_level + 1, axis=-1)  # L + 1 maps of 1 channel

        # hierarchical contextualisation and gated aggregation
        levels, ctx, ctx_all = [], context, 0.0
        for level, focal_layer in enumerate(self.focal_layers):
            # depthwise_conv: the layer's kernel, computed the fastest way
            # for the backend (shifted multiply-adds on JAX)
            ctx = gelu(depthwise_conv(focal_layer, ctx))
            levels.append(ctx)
            ctx_all = ctx_all + ctx * level_gates[level]
        ctx_global = gelu(ops.mean(ctx, axis=(1, 2), keepdims=True))
        ctx_all = ctx_all + ctx_global * level_gates[self.focal_level]
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)

        # focal modulation and post projection
        modulator = self.h(ctx_all)
        out = q * modulator
        if self.ln is not None:
            out = apply_norm(self.ln, out)
        out = self.proj_drop(self.proj(out), training=training)
        if return_contexts:
            return out, {"query": q, "context": context, "gates": gates,
                         "levels": levels, "global": ctx_global,
                         "aggregated": ctx_all, "modulator": modulator}
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
