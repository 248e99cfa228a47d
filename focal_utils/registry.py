"""A timm-style registry: every model the book uses, by name.

Each entry holds the model class, the input it is meant for, and only the
arguments that differ from the class defaults. ``create_model`` returns a
built ``keras.Model``.
"""

import difflib

from focal_utils.attention import VisionTransformer
from focal_utils.data import CIFAR10_MEAN, CIFAR10_STD
from focal_utils.layers.mixers import MIXERS
from focal_utils.model import FocalNet

_IMAGENET = dict(image_size=224, num_classes=1000)
_CIFAR = dict(image_size=32, num_classes=10, input_mean=CIFAR10_MEAN,
              input_std=CIFAR10_STD)


# The model the book trains (chapter 7): focalnet_cifar's stages behind the
# official overlapping stem (use_conv_embed: a 7x7 stride-4 conv, 8x8 tokens)
# and 3x3 stride-2 downsampling. A quarter of the FLOPs per image of patch 2,
# so more epochs fit the same CPU budget.
_CIFAR_CONV = dict(**_CIFAR, patch_size=4, use_conv_embed=True, embed_dim=64,
                   depths=(2, 3, 2), focal_levels=2, drop_path_rate=0.1)


def mixer_variant(mixer):
    """The registry name of the book's CIFAR model with token mixer ``mixer`` (chapter 9).

    ``"focal_modulation"`` is the book's own ``focalnet_cifar_conv``; every
    other mixer of ``focal_utils.layers.mixers.MIXERS`` is ``cifar_conv_<mixer>``.
    """
    if mixer not in MIXERS:
        raise ValueError(f"`mixer` must be one of {MIXERS}. Received: mixer={mixer!r}")
    return "focalnet_cifar_conv" if mixer == "focal_modulation" else f"cifar_conv_{mixer}"


def _entry(model_class, **kwargs):
    return {"model_class": model_class, **kwargs}


MODEL_CONFIGS = {
    # The paper's ImageNet-1K models: srf = focal level 2 (kernels 3, 5),
    # lrf = focal level 3 (kernels 3, 5, 7).
    "focalnet_tiny_srf": _entry(FocalNet, **_IMAGENET, embed_dim=96,
                                depths=(2, 2, 6, 2), focal_levels=2,
                                drop_path_rate=0.2),
    "focalnet_tiny_lrf": _entry(FocalNet, **_IMAGENET, embed_dim=96,
                                depths=(2, 2, 6, 2), focal_levels=3,
                                drop_path_rate=0.2),
    "focalnet_small_srf": _entry(FocalNet, **_IMAGENET, embed_dim=96,
                                 depths=(2, 2, 18, 2), focal_levels=2,
                                 drop_path_rate=0.3),
    "focalnet_small_lrf": _entry(FocalNet, **_IMAGENET, embed_dim=96,
                                 depths=(2, 2, 18, 2), focal_levels=3,
                                 drop_path_rate=0.3),
    "focalnet_base_srf": _entry(FocalNet, **_IMAGENET, embed_dim=128,
                                depths=(2, 2, 18, 2), focal_levels=2,
                                drop_path_rate=0.5),
    "focalnet_base_lrf": _entry(FocalNet, **_IMAGENET, embed_dim=128,
                                depths=(2, 2, 18, 2), focal_levels=3,
                                drop_path_rate=0.5),
    # The book's CIFAR-10 model: 32x32 inputs, patch 2 (16x16 tokens), three
    # stages of 64/128/256 channels, focal level 2 (kernels 3, 5).
    "focalnet_cifar": _entry(FocalNet, **_CIFAR, patch_size=2, embed_dim=64,
                             depths=(2, 3, 2), focal_levels=2,
                             drop_path_rate=0.1),
    # The model the book trains (chapter 7; see _CIFAR_CONV).
    "focalnet_cifar_conv": _entry(FocalNet, **_CIFAR_CONV),
    # Chapter 9: focalnet_cifar_conv with its token mixer swapped and everything
    # else kept (focal_utils.layers.mixers): global and shifted-window
    # self-attention (head_dim 32, windows of 4x4 tokens), the depthwise
    # levels without gates or query, and PoolFormer's pooling.
    **{mixer_variant(mixer): _entry(FocalNet, **_CIFAR_CONV, mixer=mixer)
       for mixer in MIXERS if mixer != "focal_modulation"},
    # The attention baseline, sized to focalnet_cifar's parameter count.
    "vit_cifar": _entry(VisionTransformer, **_CIFAR, patch_size=2,
                        embed_dim=184, depth=6, num_heads=4,
                        drop_path_rate=0.1),
}

# Metrics the paper reports for its ImageNet-1K models (224x224).
PAPER_METRICS = {
    "focalnet_tiny_srf": dict(params=28_427_116, gflops=4.4, top1=82.1),
    "focalnet_tiny_lrf": dict(params=28_647_928, gflops=4.5, top1=82.3),
    "focalnet_small_srf": dict(params=49_891_216, gflops=8.6, top1=83.4),
    "focalnet_small_lrf": dict(params=50_342_440, gflops=8.7, top1=83.5),
    "focalnet_base_srf": dict(params=88_148_144, gflops=15.3, top1=83.7),
    "focalnet_base_lrf": dict(params=88_749_768, gflops=15.4, top1=83.9),
}


def list_models(pattern=""):
    """Names of the registered models that contain ``pattern``, sorted."""
    return sorted(name for name in MODEL_CONFIGS if pattern in name)


def model_config(name):
    """The registered keyword arguments of ``name`` (without the class)."""
    if not isinstance(name, str):
        raise ValueError(
            "The model name must be a string from `list_models()`, e.g. "
            f"'focalnet_cifar_conv'. Received: name={name!r}"
        )
    if name not in MODEL_CONFIGS:
        close = difflib.get_close_matches(name, MODEL_CONFIGS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Known models: "
            f"{', '.join(list_models())}"
        )
    config = dict(MODEL_CONFIGS[name])
    config.pop("model_class")
    return config


def create_model(model_name, /, num_classes=None, image_size=None, **overrides):
    """Build the registered model ``model_name`` and return it built.

    Args:
        model_name: a name from ``list_models()`` (positional).
        num_classes: int, replaces the registered number of classes.
        image_size: int or (height, width), replaces the registered size.
        **overrides: any other constructor argument of the model class,
            ``name`` included (the Keras name; by default ``model_name``).

    Returns:
        A built ``keras.Model`` (weights created for ``image_size`` inputs).

    Raises:
        ValueError: for an unknown name or an invalid configuration.
    """
    config = model_config(model_name)
    if num_classes is not None:
        config["num_classes"] = num_classes
    if image_size is not None:
        config["image_size"] = image_size
    config.update(overrides)
    config.setdefault("name", model_name)
    model = MODEL_CONFIGS[model_name]["model_class"](**config)
    height, width = model.image_size
    model.build((None, height, width, model.in_channels))
    return model
