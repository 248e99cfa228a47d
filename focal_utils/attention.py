"""The self-attention side of the comparison: MHSA and a small ViT.

Written with ``keras.ops`` so the book can show every step; the ViT uses the
same building blocks as FocalNet (pre-norm, ``Mlp``, stochastic depth,
std 0.02 normal init) so that the two differ only in the token mixer.
"""

import math

import keras
from keras import ops

from focal_utils.layers import Mlp, StochasticDepth, drop_path_rates
from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    as_pair,
    check_bool,
    check_positive_float,
    check_positive_int,
    check_rate,
    conv_initializer,
    dense,
    dense_initializer,
    layer_norm,
)


def attention_weights(q, k):
    """softmax(q k^T / sqrt(d)): every query scores every key (N x N per head)."""
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
    return ops.softmax(scores, axis=-1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention over a sequence of tokens (ViT style).

    Interaction first (every token scores every other token: an N x N matrix
    per head), then aggregation (a weighted sum of the values).

    Args:
        num_heads: int, number of heads; must divide the channels.
        qkv_bias: bool, bias in the joint query/key/value projection.
        attn_drop_rate, proj_drop_rate: dropout on the weights and output.

    Call arguments: ``x`` ``(batch, tokens, channels)``, ``training``,
    ``return_attention_scores`` (also return ``(batch, heads, N, N)``).
    """

    def __init__(self, num_heads=4, qkv_bias=True, attn_drop_rate=0.0,
                 proj_drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.qkv_bias = check_bool("qkv_bias", qkv_bias)
        self.attn_drop_rate = check_rate("attn_drop_rate", attn_drop_rate)
        self.proj_drop_rate = check_rate("proj_drop_rate", proj_drop_rate)
        self.attn_drop = keras.layers.Dropout(attn_drop_rate, name="attn_drop")
        self.proj_drop = keras.layers.Dropout(proj_drop_rate, name="proj_drop")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "`MultiHeadSelfAttention` expects (batch, tokens, channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        channels = input_shape[-1]
        if channels % self.num_heads:
            raise ValueError(
                f"`num_heads` ({self.num_heads}) must divide the channels "
                f"({channels}). Received: input_shape={tuple(input_shape)}"
            )
        self.qkv = dense(3 * channels, "qkv", self.qkv_bias)
        self.proj = dense(channels, "proj")
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def call(self, x, training=None, return_attention_scores=False):
        tokens, channels = x.shape[1], x.shape[2]
        head_dim = channels // self.num_heads
        qkv = ops.reshape(self.qkv(x), (-1, tokens, 3, self.num_heads, head_dim))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, heads, N, head_dim)
        weights = attention_weights(qkv[0], qkv[1])  # interaction
        out = ops.matmul(self.attn_drop(weights, training=training), qkv[2])  # aggregation
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, tokens, channels))
        out = self.proj_drop(self.proj(out), training=training)
        return (out, weights) if return_attention_scores else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, qkv_bias=self.qkv_bias,
                      attn_drop_rate=self.attn_drop_rate,
                      proj_drop_rate=self.proj_drop_rate)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: ``x + MHSA(LN(x))``, ``x + MLP(LN(x))``."""

    def __init__(self, num_heads=4, mlp_ratio=4.0, drop_rate=0.0,
                 drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.mlp_ratio = check_positive_float("mlp_ratio", mlp_ratio)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.norm1 = layer_norm("norm1")
        self.attn = MultiHeadSelfAttention(num_heads, proj_drop_rate=drop_rate,
                                           name="attn")
        self.drop_path = StochasticDepth(drop_path_rate, name="drop_path")
        self.norm2 = layer_norm("norm2")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "`TransformerBlock` expects (batch, tokens, channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.mlp = Mlp(int(input_shape[-1] * self.mlp_ratio), self.drop_rate, name="mlp")
        for layer in (self.norm1, self.attn, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path(self.attn(self.norm1(x), training=training),
                               training=training)
        return x + self.drop_path(self.mlp(self.norm2(x), training=training),
                                  training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                      drop_rate=self.drop_rate, drop_path_rate=self.drop_path_rate)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class VisionTransformer(keras.Model):
    """A plain ViT for small images: patches, learned positions, blocks, GAP head.

    Global average pooling instead of a class token keeps the head the same
    as FocalNet's; the head returns logits.

    Args:
        num_classes, image_size, in_channels, patch_size: as in ``FocalNet``
            (``image_size`` an int or (height, width)).
        drop_rate, drop_path_rate, input_mean, input_std: as in ``FocalNet``.
        embed_dim: int, token channels.
        depth: int, number of blocks.
        num_heads: int, attention heads.
        mlp_ratio: float, MLP hidden width relative to ``embed_dim``.
    """

    def __init__(self, num_classes=10, image_size=32, in_channels=3,
                 patch_size=4, embed_dim=192, depth=6, num_heads=3,
                 mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.1,
                 input_mean=None, input_std=None, **kwargs):
        super().__init__(**kwargs)
        self.image_size = as_pair(image_size, "image_size")
        self.patch_size = check_positive_int("patch_size", patch_size)
        for side in self.image_size:
            if side % self.patch_size:
                raise ValueError(
                    f"`image_size` ({self.image_size}) must be a multiple of "
                    f"`patch_size` ({self.patch_size}) in both directions. "
                    f"Received: image_size={image_size!r}"
                )
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.depth = check_positive_int("depth", depth)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"`num_heads` ({num_heads}) must divide `embed_dim` ({embed_dim}). "
                f"Received: num_heads={num_heads}, embed_dim={embed_dim}"
            )
        self.mlp_ratio = check_positive_float("mlp_ratio", mlp_ratio)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        if (input_mean is None) != (input_std is None):
            raise ValueError("Give both `input_mean` and `input_std`, or neither.")
        for name, value in (("input_mean", input_mean), ("input_std", input_std)):
            if value is not None and len(value) != self.in_channels:
                raise ValueError(
                    f"`{name}` needs one value per input channel "
                    f"(in_channels={self.in_channels}). Received: {name}={value!r}"
                )
        self.input_mean = None if input_mean is None else [float(v) for v in input_mean]
        self.input_std = None if input_std is None else [float(v) for v in input_std]
        self.grid = (self.image_size[0] // self.patch_size,
                     self.image_size[1] // self.patch_size)
        self.num_tokens = self.grid[0] * self.grid[1]
        self.patch_embed = keras.layers.Conv2D(
            embed_dim, patch_size, strides=patch_size,
            kernel_initializer=conv_initializer(), name="patch_embed")
        self.pos_drop = keras.layers.Dropout(drop_rate, name="pos_drop")
        self.blocks = [
            TransformerBlock(num_heads, mlp_ratio, drop_rate, rate, name=f"block_{i}")
            for i, rate in enumerate(drop_path_rates(drop_path_rate, [depth])[0])
        ]
        self.norm = layer_norm("norm")
        self.head = dense(num_classes, "head")

    def build(self, input_shape):
        expected = (*self.image_size, self.in_channels)
        if len(input_shape) != 4 or tuple(input_shape[1:]) != expected:
            raise ValueError(
                "VisionTransformer expects images of shape (batch, "
                f"{expected[0]}, {expected[1]}, {expected[2]}) (its learned positions "
                f"fix the size). Received: input shape {tuple(input_shape)}"
            )
        self.patch_embed.build(input_shape)
        self.pos_embed = self.add_weight(
            shape=(1, self.num_tokens, self.embed_dim),
            initializer=dense_initializer(),
            name="pos_embed")
        token_shape = (input_shape[0], self.num_tokens, self.embed_dim)
        for block in self.blocks:
            block.build(token_shape)
        self.norm.build(token_shape)
        self.head.build((input_shape[0], self.embed_dim))

    def call(self, images, training=None):
        x = ops.cast(images, self.compute_dtype)
        if self.input_mean is not None:
            x = (x - ops.convert_to_tensor(self.input_mean, x.dtype)) / ops.convert_to_tensor(
                self.input_std, x.dtype)
        x = self.patch_embed(x)
        x = ops.reshape(x, (-1, self.num_tokens, self.embed_dim)) + self.pos_embed
        x = self.pos_drop(x, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(ops.mean(self.norm(x), axis=1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes, image_size=list(self.image_size),
            in_channels=self.in_channels, patch_size=self.patch_size,
            embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads,
            mlp_ratio=self.mlp_ratio, drop_rate=self.drop_rate,
            drop_path_rate=self.drop_path_rate, input_mean=self.input_mean,
            input_std=self.input_std)
        return config
