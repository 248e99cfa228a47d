"""A FocalNet stage: blocks at one resolution, then optional downsampling."""

import keras

from focal_utils.layers.block import FocalNetBlock
from focal_utils.layers.common import SERIALIZATION_PACKAGE, check_feature_map
from focal_utils.layers.patch_embed import PatchEmbedding


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalNetStage(keras.layers.Layer):
    """``len(drop_path_rates)`` FocalNet blocks, then a 2x downsampling.

    The official ``BasicLayer``. Downsampling is a ``PatchEmbedding`` with
    ``patch_size=2`` to ``downsample_dim`` channels; every stage but the last
    has one (``downsample_dim=None`` means none).

    Args:
        drop_path_rates: list of floats, one stochastic depth rate per block
            (its length is the stage depth).
        downsample_dim: int or None, channels after downsampling.
        use_conv_embed: bool, overlapping 3/2/1 downsampling.
        **block_kwargs: passed to every ``FocalNetBlock``.

    Call arguments: ``x`` ``(batch, height, width, channels)``, ``training``,
    ``return_maps``: if True, also return a list with one maps dict per block.
    """

    def __init__(self, drop_path_rates, downsample_dim=None, use_conv_embed=False,
                 focal_level=2, focal_window=3, mlp_ratio=4.0, drop_rate=0.0,
                 use_layerscale=False, layerscale_value=1e-4, use_postln=False,
                 use_postln_in_modulation=False, normalize_modulator=False,
                 gate_activation=None, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rates = [float(rate) for rate in drop_path_rates]
        self.downsample_dim = downsample_dim
        self.use_conv_embed = use_conv_embed
        self.block_kwargs = dict(
            focal_level=focal_level, focal_window=focal_window,
            mlp_ratio=mlp_ratio, drop_rate=drop_rate,
            use_layerscale=use_layerscale, layerscale_value=layerscale_value,
            use_postln=use_postln,
            use_postln_in_modulation=use_postln_in_modulation,
            normalize_modulator=normalize_modulator,
            gate_activation=gate_activation,
        )
        self.blocks = [
            FocalNetBlock(drop_path_rate=rate, name=f"block_{i}", **self.block_kwargs)
            for i, rate in enumerate(self.drop_path_rates)
        ]
        self.downsample = None
        if downsample_dim is not None:
            self.downsample = PatchEmbedding(
                downsample_dim, patch_size=2, use_conv_embed=use_conv_embed,
                name="downsample",
            )

    @property
    def depth(self):
        return len(self.blocks)

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

    def get_config(self):
        config = super().get_config()
        config.update(
            drop_path_rates=self.drop_path_rates,
            downsample_dim=self.downsample_dim,
            use_conv_embed=self.use_conv_embed,
            **self.block_kwargs,
        )
        return config
