"""Clear ValueErrors: each names the problem and the value received."""

import keras
import numpy as np
import pytest

from focal_utils import (
    FocalModulation,
    FocalNet,
    FocalNetBlock,
    MultiHeadSelfAttention,
    PatchEmbedding,
    StochasticDepth,
    VisionTransformer,
    count_flops,
    create_model,
    list_models,
    model_config,
)

SMALL = dict(num_classes=3, image_size=16, patch_size=2, embed_dim=8, depths=(1, 1))


@pytest.mark.parametrize("value", [0, -1, 1.5, True, None, "2"])
def test_focal_level_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match=r"focal_level.*>= 1.*Received: focal_level="):
        FocalModulation(focal_level=value)


def test_focal_level_in_blocks_and_models():
    with pytest.raises(ValueError, match="focal_level"):
        FocalNetBlock(focal_level=0)
    with pytest.raises(ValueError, match="focal_levels"):
        FocalNet(**SMALL, focal_levels=0)
    with pytest.raises(ValueError, match="focal_levels"):
        FocalNet(**SMALL, focal_levels=(2, 0))
    with pytest.raises(ValueError, match=r"one value per stage \(2 stages"):
        FocalNet(**SMALL, focal_levels=(2, 2, 2))


def test_other_modulation_options():
    with pytest.raises(ValueError, match="focal_window"):
        FocalModulation(focal_window=0)
    with pytest.raises(ValueError, match="focal_factor"):
        FocalModulation(focal_factor=-1)
    with pytest.raises(ValueError, match="gate_activation.*sigmoid"):
        FocalModulation(gate_activation="sigmoid")


@pytest.mark.parametrize("layer", [
    lambda: FocalModulation(), lambda: FocalNetBlock(), lambda: PatchEmbedding(8),
])
def test_wrong_rank_for_feature_map_layers(layer):
    with pytest.raises(ValueError, match=r"4D input.*Received: input_shape=\(2, 16, 8\)"):
        layer()(np.zeros((2, 16, 8), "float32"))
    with pytest.raises(ValueError, match="known channel count"):
        layer().build((None, 8, 8, None))


def test_patch_size_must_divide_the_input():
    with pytest.raises(ValueError, match=r"height to be a multiple of patch_size=4"):
        PatchEmbedding(8, patch_size=4)(np.zeros((1, 10, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"width to be a multiple of patch_size=2"):
        PatchEmbedding(8, patch_size=2, use_conv_embed=True).build((None, 8, 7, 3))
    layer = PatchEmbedding(8, patch_size=2)
    layer.build((None, None, None, 3))  # unknown sizes are checked at call time
    with pytest.raises(ValueError, match="multiple of patch_size=2"):
        layer(np.zeros((1, 6, 5, 3), "float32"))


def test_model_image_size_must_be_divisible():
    # focalnet_cifar: patch 2, two downsamplings: multiples of 8
    with pytest.raises(ValueError, match=r"height \(30\) must be a multiple of 8"):
        create_model("focalnet_cifar", image_size=30)
    with pytest.raises(ValueError, match=r"width \(36\) must be a multiple of 8"):
        create_model("focalnet_cifar", image_size=(32, 36))
    with pytest.raises(ValueError, match=r"multiple of 32 = patch_size \(4\)"):
        FocalNet(image_size=100).build((None, 100, 100, 3))


def test_model_wrong_input_rank_and_channels():
    model = FocalNet(**SMALL)
    model.build((None, 16, 16, 3))
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        model(np.zeros((16, 16, 3), "float32"))
    with pytest.raises(ValueError, match=r"in_channels=3.*has 1 channels"):
        model(np.zeros((1, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match=r"height \(10\) must be a multiple of 4"):
        model(np.zeros((1, 10, 16, 3), "float32"))
    with pytest.raises(ValueError, match="in_channels=3"):
        FocalNet(**SMALL).build((None, 16, 16, 4))


def test_model_bad_configuration():
    with pytest.raises(ValueError, match="depths"):
        FocalNet(**dict(SMALL, depths=()))
    with pytest.raises(ValueError, match="depths"):
        FocalNet(**dict(SMALL, depths=(1, 0)))
    with pytest.raises(ValueError, match="drop_path_rate"):
        FocalNet(**SMALL, drop_path_rate=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        FocalNet(**dict(SMALL, num_classes=-1))
    with pytest.raises(ValueError, match="image_size"):
        FocalNet(**dict(SMALL, image_size=(16, 16, 3)))
    with pytest.raises(ValueError, match="input_mean.*one value per input channel"):
        FocalNet(**SMALL, input_mean=(1.0, 2.0), input_std=(1.0, 1.0))
    with pytest.raises(ValueError, match="both `input_mean` and `input_std`"):
        FocalNet(**SMALL, input_mean=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="input_std` must be positive"):
        FocalNet(**SMALL, input_mean=(0.0,) * 3, input_std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="rate"):
        StochasticDepth(1.0)


def test_unknown_model_name_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        create_model("focalnet_tiny")
    message = str(info.value)
    assert "Unknown model name 'focalnet_tiny'" in message
    for name in list_models():
        assert name in message
    assert "Did you mean" in message
    with pytest.raises(ValueError, match="Known models: focalnet_base_lrf"):
        model_config("resnet50")


def test_attention_errors():
    with pytest.raises(ValueError, match=r"num_heads.*must divide the channels \(10\)"):
        MultiHeadSelfAttention(num_heads=4).build((None, 5, 10))
    with pytest.raises(ValueError, match=r"\(batch, tokens, channels\)"):
        MultiHeadSelfAttention(num_heads=2)(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadSelfAttention(num_heads=0)
    with pytest.raises(ValueError, match=r"image_size.*multiple of `patch_size`"):
        VisionTransformer(image_size=30, patch_size=4)
    vit = VisionTransformer(num_classes=2, image_size=8, patch_size=2, embed_dim=8,
                            depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 3\)"):
        vit.build((None, 16, 16, 3))


def test_count_flops_needs_a_focalnet():
    with pytest.raises(ValueError, match="FocalNet"):
        count_flops(keras.Sequential([keras.layers.Dense(2)]))
