"""Token mixers that can take focal modulation's place inside a FocalNet block.

Chapter 9 trains the book's CIFAR-10 model with its token mixer swapped and
everything else (stem, stages, MLPs, norms, recipe) kept, to test the keras-io
example's closing claim that focal modulation beats self-attention. A mixer
takes and returns a feature map ``(batch, height, width, channels)``, so every
one fits the same block:

- ``"focal_modulation"``: the book's ``FocalModulation``;
- ``"attention"``: global multi-head self-attention over all tokens;
- ``"window_attention"``: Swin's attention inside non-overlapping windows,
  shifted by half a window in every other block;
- ``"dwconv"``: focal modulation's own depthwise levels and global context,
  summed without gates and used without the query product: what is left of
  focal modulation when its gating is taken away;
- ``"pooling"``: PoolFormer's ``avgpool(x) - x``, a mixer with no weights.

The attention mixers add a learned relative position bias to the scores, as
Swin does: a FocalNet has no position embedding, and attention without one
would see the tokens as a set. ``keras.layers.MultiHeadAttention`` takes only
a boolean mask, not an additive bias, so the scores are written here with
``keras.ops``; global attention is window attention with one window.
"""

import keras
import numpy as np
from keras import ops

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    check_bool,
    check_feature_map,
    check_positive_int,
    check_rate,
    dense,
    dense_initializer,
    gelu,
)
from focal_utils.layers.depthwise import depthwise_conv
from focal_utils.layers.focal_modulation import FocalModulation

MIXERS = ("focal_modulation", "attention", "window_attention", "dwconv", "pooling")


def _windows(side, window):
    """The window side actually used on a ``side``-token axis (Swin: at most the map)."""
    return min(side, window)


def _shift_mask(height, width, window, shift):
    """Swin's mask for shifted windows: ``(num_windows, T, T)``, True where allowed.

    After the cyclic shift, a window can hold tokens from up to four regions of
    the original map; a token may attend only to tokens of its own region.
    """
    regions = np.zeros((height, width), dtype="int64")
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for rows in cuts:
        for cols in cuts:
            regions[rows, cols] = label
            label += 1
    tiles = regions.reshape(height // window, window, width // window, window)
    tiles = tiles.transpose(0, 2, 1, 3).reshape(-1, window * window)
    return tiles[:, :, None] == tiles[:, None, :]


def _relative_index(window_h, window_w):
    """Index into the bias table of every (query, key) pair of a window: ``(T, T)``."""
    coords = np.stack(np.meshgrid(np.arange(window_h), np.arange(window_w), indexing="ij"))
    coords = coords.reshape(2, -1)
    delta = coords[:, :, None] - coords[:, None, :]  # (2, T, T)
    return (delta[0] + window_h - 1) * (2 * window_w - 1) + (delta[1] + window_w - 1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside windows, with a relative position bias (Swin).

    Args:
        window_size: int or None; the side of the square windows. None (or a
            window at least as large as the map) attends over every token:
            global self-attention.
        head_dim: int, channels per head (Swin: 32); the channels must be a
            multiple of it.
        shift: bool, shift the windows by half a window (the odd blocks of a
            Swin stage); ignored when one window covers the map.
        attn_drop_rate, proj_drop_rate: dropout on the weights and the output.

    Call arguments: ``x`` ``(batch, height, width, channels)``, ``training``,
    ``return_maps``: also return ``{"attention": (batch, windows, heads, T, T)}``
    with ``T`` tokens per window.
    """

    def __init__(self, window_size=None, head_dim=32, shift=False, attn_drop_rate=0.0,
                 proj_drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.window_size = (None if window_size is None
                            else check_positive_int("window_size", window_size))
        self.head_dim = check_positive_int("head_dim", head_dim)
        self.shift = check_bool("shift", shift)
        self.attn_drop_rate = check_rate("attn_drop_rate", attn_drop_rate)
        self.proj_drop_rate = check_rate("proj_drop_rate", proj_drop_rate)
        self.attn_drop = keras.layers.Dropout(self.attn_drop_rate, name="attn_drop")
        self.proj_drop = keras.layers.Dropout(self.proj_drop_rate, name="proj_drop")

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        height, width, channels = input_shape[1:]
        if height is None or width is None:
            raise ValueError(
                "`WindowAttention` needs a known height and width (its windows and "
                f"position bias depend on them). Received: input_shape={tuple(input_shape)}"
            )
        if channels % self.head_dim:
            raise ValueError(
                f"The channels ({channels}) must be a multiple of `head_dim` "
                f"({self.head_dim}). Received: input_shape={tuple(input_shape)}"
            )
        window = max(height, width) if self.window_size is None else self.window_size
        self.window = (_windows(height, window), _windows(width, window))
        if height % self.window[0] or width % self.window[1]:
            raise ValueError(
                f"`window_size` ({self.window_size}) must divide the map "
                f"({height}x{width}). Received: input_shape={tuple(input_shape)}"
            )
        self.num_heads = channels // self.head_dim
        self.shift_size = (self.window[0] // 2 if self.shift and self.window != (height, width)
                           else 0)
        self.qkv = dense(3 * channels, "qkv")
        self.proj = dense(channels, "proj")
        self.qkv.build(input_shape)
        self.proj.build(input_shape)
        table = (2 * self.window[0] - 1) * (2 * self.window[1] - 1)
        self.relative_position_bias = self.add_weight(
            shape=(table, self.num_heads), initializer=dense_initializer(),
            name="relative_position_bias")
        self._index = _relative_index(*self.window).reshape(-1)
        self._mask = (None if not self.shift_size else
                      _shift_mask(height, width, self.window[0], self.shift_size))

    def _partition(self, x):
        height, width, channels = x.shape[1:]
        wh, ww = self.window
        x = ops.reshape(x, (-1, height // wh, wh, width // ww, ww, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, (height // wh) * (width // ww), wh * ww, channels))

    def _merge(self, windows, height, width):
        wh, ww = self.window
        channels = windows.shape[-1]
        x = ops.reshape(windows, (-1, height // wh, width // ww, wh, ww, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height, width, channels))

    def call(self, x, training=None, return_maps=False):
        height, width, channels = x.shape[1:]
        if self.shift_size:
            x = ops.roll(x, (-self.shift_size, -self.shift_size), axis=(1, 2))
        windows = self._partition(x)  # (B, nW, T, C)
        num_windows, tokens = windows.shape[1], windows.shape[2]
        qkv = ops.reshape(self.qkv(windows),
                          (-1, num_windows, tokens, 3, self.num_heads, self.head_dim))
        qkv = ops.transpose(qkv, (3, 0, 1, 4, 2, 5))  # (3, B, nW, heads, T, d)
        scores = ops.matmul(qkv[0], ops.swapaxes(qkv[1], -1, -2)) / float(np.sqrt(self.head_dim))
        bias = ops.take(self.relative_position_bias, self._index, axis=0)
        bias = ops.transpose(ops.reshape(bias, (tokens, tokens, self.num_heads)), (2, 0, 1))
        scores = scores + ops.cast(bias, scores.dtype)
        if self._mask is not None:
            allowed = ops.convert_to_tensor(self._mask[None, :, None])
            scores = ops.where(allowed, scores, ops.cast(-1e9, scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        out = ops.matmul(self.attn_drop(weights, training=training), qkv[2])
        out = ops.reshape(ops.transpose(out, (0, 1, 3, 2, 4)), (-1, num_windows, tokens, channels))
        out = self._merge(self.proj_drop(self.proj(out), training=training), height, width)
        if self.shift_size:
            out = ops.roll(out, (self.shift_size, self.shift_size), axis=(1, 2))
        return (out, {"attention": weights}) if return_maps else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(window_size=self.window_size, head_dim=self.head_dim, shift=self.shift,
                      attn_drop_rate=self.attn_drop_rate, proj_drop_rate=self.proj_drop_rate)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class DepthwiseContext(FocalModulation):
    """Focal modulation without its gates and without the query product.

    The same ``f`` (now only the context), depthwise levels, GELUs, global
    context and ``h``; the levels are summed with weight 1 and ``h``'s output
    is projected directly: ``proj(h(sum_l z_l + z_global))``. Comparing it
    with ``FocalModulation`` measures what the gating and the modulation of
    the query add. Takes ``FocalModulation``'s arguments (``gate_activation``
    must stay None: there are no gates).

    ``return_maps`` gives ``{"modulator": h(...)}``, the map that would have
    multiplied the query.
    """

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        channels = input_shape[-1]
        self.f = dense(channels, "f", self.use_bias)
        self.h = dense(channels, "h", self.use_bias)
        self.proj = dense(channels, "proj")
        for layer in [self.f, *self.focal_layers, self.h, self.proj, self.ln]:
            if layer is not None:
                layer.build(input_shape)

    def call(self, x, training=None, return_maps=False, return_contexts=False):
        ctx = self.f(x)
        ctx_all = 0.0
        for focal_layer in self.focal_layers:
            ctx = gelu(depthwise_conv(focal_layer, ctx))
            ctx_all = ctx_all + ctx
        ctx_all = ctx_all + gelu(ops.mean(ctx, axis=(1, 2), keepdims=True))
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)
        modulator = self.h(ctx_all)
        out = modulator if self.ln is None else self.ln(modulator)
        out = self.proj_drop(self.proj(out), training=training)
        return (out, {"modulator": modulator}) if return_maps else out


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class PoolingMixer(keras.layers.Layer):
    """PoolFormer's token mixer: ``avgpool_3x3(x) - x``, stride 1, padding not counted.

    No weights: what a block does when its mixer only averages neighbours.
    ``return_maps`` gives an empty dict.
    """

    def __init__(self, pool_size=3, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_positive_int("pool_size", pool_size)
        if self.pool_size % 2 == 0:
            raise ValueError(f"`pool_size` must be odd. Received: pool_size={pool_size}")

    def build(self, input_shape):
        check_feature_map(self, input_shape)

    def call(self, x, training=None, return_maps=False):
        size = self.pool_size
        # avg(x) / avg(1) is the mean over the tokens inside the map, whether
        # the backend's "same" pooling counts the padding or not.
        mean = ops.average_pool(x, size, strides=1, padding="same")
        inside = ops.average_pool(ops.ones_like(x[..., :1]), size, strides=1, padding="same")
        out = mean / inside - x
        return (out, {}) if return_maps else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size)
        return config


def make_mixer(config, shift=False, name="modulation"):
    """The token mixer of a block with ``config`` (a ``BlockConfig``).

    ``shift`` applies to window attention only (the odd blocks of a stage).
    The layer is named ``modulation`` whatever the mixer, so a FocalNet's
    weights keep their names.
    """
    if config.mixer == "focal_modulation":
        return FocalModulation(**config.modulation_options(), name=name)
    if config.mixer == "dwconv":
        options = config.modulation_options()
        options.pop("gate_activation")
        return DepthwiseContext(**options, name=name)
    if config.mixer in ("attention", "window_attention"):
        window = config.window_size if config.mixer == "window_attention" else None
        return WindowAttention(window, config.head_dim, shift=shift,
                               proj_drop_rate=config.drop_rate, name=name)
    if config.mixer == "pooling":
        return PoolingMixer(name=name)
    raise ValueError(f"`mixer` must be one of {MIXERS}. Received: mixer={config.mixer!r}")
