"""The model registry: names, configs, exact ImageNet parameter counts and FLOPs.

Build times are a performance matter: they are not asserted here."""

import gc

import keras
import pytest

from focal_utils import (
    MODEL_CONFIGS,
    PAPER_METRICS,
    FocalNet,
    VisionTransformer,
    count_flops,
    create_model,
    list_models,
    model_config,
)

# The paper's ImageNet models: their published sizes (PAPER_METRICS) are
# checked against models built here from the registry, never against a copy.
IMAGENET = list(PAPER_METRICS)


@pytest.fixture(scope="module")
def imagenet_builds():
    """Build each ImageNet model once at 224 (no forward pass), recording its
    parameter count, FLOPs and structure; free it before the next."""
    results = {}
    for name in IMAGENET:
        keras.backend.clear_session()
        model = create_model(name)
        results[name] = dict(
            params=model.count_params(),
            flops=count_flops(model),
            built=model.built,
            output_shape=model.compute_output_shape((None, 224, 224, 3)),
            kernels={tuple(b.modulation.kernel_sizes)
                     for s in model.stages for b in s.blocks},
        )
        del model
        gc.collect()
    keras.backend.clear_session()
    return results


def test_list_models():
    assert list_models() == sorted([
        "cifar_conv_attention", "cifar_conv_dwconv", "cifar_conv_pooling",
        "cifar_conv_window_attention",
        "focalnet_base_lrf", "focalnet_base_srf", "focalnet_cifar", "focalnet_cifar_conv",
        "focalnet_small_lrf", "focalnet_small_srf", "focalnet_tiny_lrf",
        "focalnet_tiny_srf", "vit_cifar",
    ])
    assert list_models("tiny") == ["focalnet_tiny_lrf", "focalnet_tiny_srf"]
    assert list_models("_lrf") == ["focalnet_base_lrf", "focalnet_small_lrf",
                                   "focalnet_tiny_lrf"]
    assert list_models("nothing-like-this") == []
    assert set(list_models()) == set(MODEL_CONFIGS)


def test_model_config_is_a_copy():
    config = model_config("focalnet_cifar")
    assert "model_class" not in config
    assert config["image_size"] == 32 and config["num_classes"] == 10
    config["embed_dim"] = 1
    assert model_config("focalnet_cifar")["embed_dim"] == 64


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_exact_params(imagenet_builds, name):
    result = imagenet_builds[name]
    assert result["built"]
    assert result["params"] == PAPER_METRICS[name]["params"]
    assert result["output_shape"] == (None, 1000)
    kernels = (3, 5, 7) if name.endswith("lrf") else (3, 5)
    assert result["kernels"] == {kernels}


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_flops_within_2_percent(imagenet_builds, name):
    gflops = imagenet_builds[name]["flops"] / 1e9
    paper = PAPER_METRICS[name]["gflops"]
    assert abs(gflops - paper) / paper < 0.02, (name, gflops, paper)


def test_create_model_returns_built_model_with_overrides():
    model = create_model("focalnet_cifar", num_classes=3, image_size=64,
                         drop_path_rate=0.0, focal_levels=3)
    assert isinstance(model, FocalNet) and model.built
    assert model.name == "focalnet_cifar"
    assert model.num_classes == 3 and model.image_size == (64, 64)
    assert model.drop_path_rate == 0.0
    assert model.head.kernel.shape == (256, 3)
    assert model.stages[0].blocks[0].modulation.kernel_sizes == [3, 5, 7]
    assert model.compute_output_shape((None, 64, 64, 3)) == (None, 3)


def test_create_vit_cifar():
    vit = create_model("vit_cifar")
    assert isinstance(vit, VisionTransformer) and vit.built
    assert vit.num_classes == 10


def test_registry_builds_do_not_share_weights():
    a = create_model("focalnet_cifar")
    b = create_model("focalnet_cifar")
    assert a.count_params() == b.count_params()
    assert a.weights[0] is not b.weights[0]


def test_mixer_variant_names_every_mixer_and_rejects_others():
    from focal_utils.layers.mixers import MIXERS
    from focal_utils.registry import mixer_variant

    assert mixer_variant("focal_modulation") == "focalnet_cifar_conv"
    assert mixer_variant("window_attention") == "cifar_conv_window_attention"
    assert all(mixer_variant(m) in list_models() for m in MIXERS)
    with pytest.raises(ValueError, match="`mixer` must be one of"):
        mixer_variant("convolution")
