"""A FocalNet stage: blocks at one resolution, then optional downsampling."""

import keras

from focal_utils.layers.block import BlockConfig, FocalNetBlock
from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    check_bool,
    check_feature_map,
    check_layer_kwargs,
    check_positive_int,
    check_rate,
)
from focal_utils.layers.patch_embed import PatchEmbedding


class BlocksThenDownsample:
    """``build``/``call``/``compute_output_shape`` of a stage: ``self.blocks``, then
    ``self.downsample`` (or None).

    Shared by ``FocalNetStage`` and the keras-io example's ``BasicLayer``
    (``focal_utils.kerasio``), which differ only in their blocks. Each block
    is called with ``return_maps=True``; the stage returns one maps dict per
    block on request.
    """

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        for block in self.blocks:
            block.build(input_shape)
        if self.downsample is not None:
            self.downsample.build(input_shape)

    def call(self, x, training=None, return_maps=False):
        maps = []
        for block in self.blocks:
            x, block_maps = block(x, training=training, return_maps=True)
            maps.append(block_maps)
        if self.downsample is not None:
            x = self.downsample(x)
        return (x, maps) if return_maps else x

    def compute_output_shape(self, input_shape):
        if self.downsample is None:
            return input_shape
        return self.downsample.compute_output_shape(input_shape)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalNetStage(BlocksThenDownsample, keras.layers.Layer):
    """``len(drop_path_rates)`` FocalNet blocks, then a 2x downsampling.

    The official ``BasicLayer``. Downsampling is a ``PatchEmbedding`` with
    ``patch_size=2`` to ``downsample_dim`` channels; every stage but the last
    has one (``downsample_dim=None`` means none).

    Args:
        drop_path_rates: list of floats, one stochastic depth rate per block
            (its length is the stage depth).
        downsample_dim: int or None, channels after downsampling.
        use_conv_embed: bool, overlapping 3/2/1 downsampling.
        block_config: optional ``BlockConfig`` (or its dict) for every block.
        **options: ``BlockConfig`` fields, overriding ``block_config``, plus
            the usual Keras layer arguments.

    Call arguments: ``x`` ``(batch, height, width, channels)``, ``training``,
    ``return_maps``: if True, also return a list with one maps dict per block.
    """

    def __init__(self, drop_path_rates, downsample_dim=None, use_conv_embed=False,
                 block_config=None, **options):
        self.block_config, kwargs = BlockConfig.split(options, block_config)
        check_layer_kwargs("FocalNetStage", kwargs, [
            "drop_path_rates", "downsample_dim", "use_conv_embed", "block_config",
            *BlockConfig.names()])
        super().__init__(**kwargs)
        if isinstance(drop_path_rates, (str, bytes)) or not hasattr(drop_path_rates, "__len__") \
                or len(drop_path_rates) == 0:
            raise ValueError(
                "`drop_path_rates` must be a non-empty list with one rate per "
                f"block. Received: drop_path_rates={drop_path_rates!r}"
            )
        self.drop_path_rates = [check_rate("drop_path_rates", rate)
                                for rate in drop_path_rates]
        self.downsample_dim = (None if downsample_dim is None
                               else check_positive_int("downsample_dim", downsample_dim))
        self.use_conv_embed = check_bool("use_conv_embed", use_conv_embed)
        self.blocks = [
            FocalNetBlock(drop_path_rate=rate, shift=i % 2 == 1,
                          block_config=self.block_config, name=f"block_{i}")
            for i, rate in enumerate(self.drop_path_rates)
        ]
        self.downsample = None
        if self.downsample_dim is not None:
            self.downsample = PatchEmbedding(
                self.downsample_dim, patch_size=2, use_conv_embed=self.use_conv_embed,
                name="downsample",
            )

    @property
    def depth(self):
        return len(self.blocks)

    def get_config(self):
        config = super().get_config()
        config.update(
            drop_path_rates=self.drop_path_rates,
            downsample_dim=self.downsample_dim,
            use_conv_embed=self.use_conv_embed,
            **self.block_config.to_dict(),
        )
        return config
