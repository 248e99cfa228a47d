"""focal_utils: the code of The Focal Modulation Book.

Layers, models and the model registry, FLOPs, and the gate/modulator maps.
"""

from focal_utils import native_logs

if native_logs.in_jupyter_kernel():
    native_logs.filter_native_stderr()  # TensorFlow's C++ INFO lines would show as red stderr boxes

from focal_utils.attention import (
    MultiHeadSelfAttention,
    TransformerBlock,
    VisionTransformer,
    attention_weights,
)
from focal_utils.data import CIFAR10_MEAN, CIFAR10_STD
from focal_utils.flops import count_flops
from focal_utils.layers import (
    BlockConfig,
    FocalModulation,
    FocalNetBlock,
    FocalNetStage,
    Mlp,
    PatchEmbedding,
    StochasticDepth,
    drop_path_rates,
)
from focal_utils.maps import find_focalnet, modulation_maps
from focal_utils.model import FocalNet
from focal_utils.registry import (
    MODEL_CONFIGS,
    PAPER_METRICS,
    create_model,
    list_models,
    model_config,
)

__version__ = "0.1.0"
