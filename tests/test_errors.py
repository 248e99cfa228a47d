"""Clear ValueErrors: each names the problem and the value received."""

import keras
import numpy as np
import pytest

from focal_utils import (
    FocalModulation,
    FocalNet,
    FocalNetBlock,
    FocalNetStage,
    Mlp,
    MultiHeadSelfAttention,
    PatchEmbedding,
    StochasticDepth,
    TransformerBlock,
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
    with pytest.raises(ValueError, match="Known models: cifar_conv_attention"):
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


# -- arguments a user gets wrong (Keras-style ValueErrors) -------------------

def test_numpy_integers_are_integers():
    model = create_model("focalnet_cifar", num_classes=np.int64(4), image_size=np.int64(32),
                         depths=(np.int64(1), 1, 1))
    assert model.num_classes == 4 and type(model.num_classes) is int
    assert model.image_size == (32, 32) and model.depths == [1, 1, 1]
    assert model.get_config()["num_classes"] == 4


@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size="32"), r"`image_size` must be an int or a pair.*Received: image_size='32'"),
    (dict(image_size=32.0), r"Received: image_size=32.0"),
    (dict(image_size=(32, 32, 3)), r"Received: image_size=\(32, 32, 3\)"),
    (dict(focal_windows=2), r"`focal_windows` must be odd.*Received: focal_windows=\[2, 2, 2\]"),
    (dict(focal_level=3), r"takes `focal_levels`.*Did you mean `focal_levels`\?.*focal_level=3"),
    (dict(focal_window=5), r"Did you mean `focal_windows`\?"),
    (dict(mlp_ratios=2.0), r"unexpected argument `mlp_ratios`.*Did you mean `mlp_ratio`\?"),
    (dict(mlp_ratio=0), r"`mlp_ratio` must be a number > 0"),
    (dict(drop_rate=1.0), r"`drop_rate` must be a number in \[0, 1\)"),
    (dict(use_postln="yes"), r"`use_postln` must be True or False"),
    (dict(depths=()), r"`depths` needs at least one stage"),
    (dict(depths="223"), r"`depths` needs at least one stage"),
])
def test_model_arguments_name_the_argument_and_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("focalnet_cifar", **kwargs)


@pytest.mark.parametrize("name", [None, 3, ["focalnet_cifar"]])
def test_create_model_needs_a_name_string(name):
    with pytest.raises(ValueError, match=r"must be a string from `list_models\(\)`"):
        create_model(name)


def test_create_model_takes_a_keras_name():
    model = create_model("focalnet_cifar", name="mine", depths=(1, 1, 1))
    assert model.name == "mine"
    assert create_model("focalnet_cifar", depths=(1, 1, 1)).name == "focalnet_cifar"


@pytest.mark.parametrize("make, match", [
    (lambda: FocalNetBlock(drop_path_rate=1.5), "`drop_path_rate` must be a number in"),
    (lambda: FocalNetBlock(mlp_ratio=-1), "`mlp_ratio` must be a number > 0"),
    (lambda: FocalNetBlock(focal_levels=2), r"unexpected argument `focal_levels`.*`focal_level`"),
    (lambda: FocalNetBlock(layerscale_value=0), "`layerscale_value` must be a number > 0"),
    (lambda: FocalNetStage([]), "`drop_path_rates` must be a non-empty list"),
    (lambda: FocalNetStage(0.1), "`drop_path_rates` must be a non-empty list"),
    (lambda: FocalNetStage([0.1], downsample_dim=0), "`downsample_dim` must be an integer"),
    (lambda: FocalNetStage([0.1], use_conv_embed=1), "`use_conv_embed` must be True or False"),
    (lambda: Mlp(0), "`hidden_dim` must be an integer >= 1"),
    (lambda: Mlp(8, drop_rate=-0.1), "`drop_rate` must be a number in"),
    (lambda: MultiHeadSelfAttention(num_heads=2, attn_drop_rate=2.0), "`attn_drop_rate`"),
    (lambda: MultiHeadSelfAttention(qkv_bias="no"), "`qkv_bias` must be True or False"),
    (lambda: TransformerBlock(mlp_ratio=0), "`mlp_ratio` must be a number > 0"),
    (lambda: VisionTransformer(embed_dim=10, num_heads=4), r"`num_heads` \(4\) must divide"),
    (lambda: VisionTransformer(image_size=(32, 30), patch_size=4), "multiple of `patch_size`"),
    (lambda: VisionTransformer(input_mean=(1, 2, 3)), "Give both"),
])
def test_every_layer_validates_its_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_vision_transformer_takes_a_height_and_width():
    vit = create_model("vit_cifar", image_size=(32, 16), depth=1)
    assert vit.image_size == (32, 16) and vit.num_tokens == 16 * 8
    images = np.zeros((2, 32, 16, 3), "float32")
    assert tuple(vit(images).shape) == (2, 10)
    clone = VisionTransformer.from_config(vit.get_config())
    assert clone.image_size == (32, 16)
