"""Keras 3 layers of a Focal Modulation Network."""

from focal_utils.layers.block import BlockConfig, FocalNetBlock
from focal_utils.layers.focal_modulation import FocalModulation
from focal_utils.layers.mlp import Mlp
from focal_utils.layers.patch_embed import PatchEmbedding
from focal_utils.layers.stage import FocalNetStage
from focal_utils.layers.stochastic_depth import StochasticDepth, drop_path_rates

__all__ = [
    "BlockConfig",
    "FocalModulation",
    "FocalNetBlock",
    "FocalNetStage",
    "Mlp",
    "PatchEmbedding",
    "StochasticDepth",
    "drop_path_rates",
]
