"""Patch embedding: images (or feature maps) to a coarser grid of tokens."""

import keras
from keras import ops

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    apply_norm,
    check_bool,
    check_feature_map,
    check_positive_int,
    conv_initializer,
    layer_norm,
)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class PatchEmbedding(keras.layers.Layer):
    """Split a feature map into patches and project each to ``embed_dim``.

    As the model's stem (``FocalNet.patch_embed``) it turns images into
    tokens; the same layer with ``patch_size=2`` is the downsampling between
    stages (``FocalNetStage.downsample``). Two variants, as in
    the official code:

    - non-overlapping (default): a conv with kernel = stride = ``patch_size``;
    - overlapping (``use_conv_embed=True``): kernel ``2 * patch_size - 1``,
      stride ``patch_size``, zero padding ``patch_size // 2`` on each side,
      which is the official 7/4/2 stem and 3/2/1 downsampling.

    Either way a LayerNorm (eps 1e-5) follows when ``use_norm`` is set.

    Args:
        embed_dim: int, channels of the output tokens.
        patch_size: int, the stride (4 for the ImageNet stem, 2 between stages).
        use_conv_embed: bool, overlapping convolution instead of patches.
        use_norm: bool, LayerNorm after the projection (official: True).

    Input shape: ``(batch, height, width, channels)``; height and width must be
    multiples of ``patch_size``.
    Output shape: ``(batch, height // patch_size, width // patch_size, embed_dim)``.

    Raises:
        ValueError: on a non-4D input or a size that ``patch_size`` does not divide.

    Example:

    >>> layer = PatchEmbedding(embed_dim=96, patch_size=4)
    >>> tuple(layer(keras.ops.zeros((2, 224, 224, 3))).shape)
    (2, 56, 56, 96)
    """

    def __init__(self, embed_dim, patch_size=4, use_conv_embed=False,
                 use_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim = check_positive_int("embed_dim", embed_dim)
        self.patch_size = patch_size = check_positive_int("patch_size", patch_size)
        self.use_conv_embed = check_bool("use_conv_embed", use_conv_embed)
        self.use_norm = check_bool("use_norm", use_norm)
        if use_conv_embed:
            kernel_size, self.padding = 2 * patch_size - 1, patch_size // 2
        else:
            kernel_size, self.padding = patch_size, 0
        self.proj = keras.layers.Conv2D(
            embed_dim, kernel_size, strides=patch_size, padding="valid",
            kernel_initializer=conv_initializer(), name="proj",
        )
        self.norm = layer_norm("norm") if use_norm else None

    def _check_spatial(self, input_shape):
        for axis, size in zip(("height", "width"), input_shape[1:3]):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"`PatchEmbedding` ({self.name}) needs the input {axis} to be "
                    f"a multiple of patch_size={self.patch_size}. Resize or crop "
                    f"the input. Received: input_shape={tuple(input_shape)}"
                )

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        self._check_spatial(input_shape)
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] += 2 * self.padding
        self.proj.build(tuple(padded))
        if self.norm is not None:
            self.norm.build(self.compute_output_shape(input_shape))

    def call(self, x):
        self._check_spatial(x.shape)
        if self.padding:
            p = self.padding
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        x = self.proj(x)
        if self.norm is not None:
            x = apply_norm(self.norm, x)
        return x

    def compute_output_shape(self, input_shape):
        def reduce(size):
            return None if size is None else size // self.patch_size

        return (input_shape[0], reduce(input_shape[1]), reduce(input_shape[2]),
                self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            embed_dim=self.embed_dim,
            patch_size=self.patch_size,
            use_conv_embed=self.use_conv_embed,
            use_norm=self.use_norm,
        )
        return config
