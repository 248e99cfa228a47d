"""Round trips: from_config(get_config()) for every layer, save/load_model for
the models, with identical outputs."""

import json

import keras
import numpy as np
import pytest
from conftest import to_numpy

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
    create_model,
)
from focal_utils.layers.block import BlockConfig

FEATURE_MAP = (2, 8, 8, 8)
TOKENS = (2, 6, 8)

LAYERS = [
    (PatchEmbedding, dict(embed_dim=6, patch_size=2), FEATURE_MAP),
    (PatchEmbedding, dict(embed_dim=6, patch_size=4, use_conv_embed=True,
                          use_norm=False), FEATURE_MAP),
    (Mlp, dict(hidden_dim=12, drop_rate=0.1), FEATURE_MAP),
    (StochasticDepth, dict(rate=0.2, seed=3), FEATURE_MAP),
    (FocalModulation, dict(focal_level=3), FEATURE_MAP),
    (FocalModulation, dict(focal_level=1, focal_window=5, focal_factor=4,
                           use_bias=False, use_postln_in_modulation=True,
                           normalize_modulator=True, gate_activation="softmax",
                           proj_drop_rate=0.1), FEATURE_MAP),
    (FocalNetBlock, dict(focal_level=2, mlp_ratio=2.0, drop_path_rate=0.1),
     FEATURE_MAP),
    (FocalNetBlock, dict(use_layerscale=True, layerscale_value=0.3, use_postln=True,
                         use_postln_in_modulation=True, normalize_modulator=True),
     FEATURE_MAP),
    (FocalNetStage, dict(drop_path_rates=[0.0, 0.1], downsample_dim=16,
                         use_conv_embed=True, focal_level=1, mlp_ratio=2.0),
     FEATURE_MAP),
    (FocalNetStage, dict(drop_path_rates=[0.0], downsample_dim=None), FEATURE_MAP),
    (MultiHeadSelfAttention, dict(num_heads=2, qkv_bias=False), TOKENS),
    (TransformerBlock, dict(num_heads=4, mlp_ratio=2.0, drop_path_rate=0.1), TOKENS),
]


@pytest.mark.parametrize("cls, kwargs, shape", LAYERS,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(LAYERS)])
def test_layer_from_config_round_trip(cls, kwargs, shape, rng):
    layer = cls(**kwargs)
    x = rng.normal(size=shape).astype("float32")
    out = to_numpy(layer(x))
    config = layer.get_config()
    json.dumps(config)  # plain JSON
    for key, value in kwargs.items():
        assert config[key] == value, key
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone.build(shape)
    assert len(clone.weights) == len(layer.weights)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(x)), out)
    # the generic Keras path, as load_model uses it
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is cls and again.get_config() == config


MODELS = {
    "small": dict(num_classes=5, image_size=16, patch_size=2, embed_dim=8,
                  depths=(1, 2), focal_levels=(2, 1)),
    "all_options": dict(num_classes=5, image_size=16, patch_size=2, embed_dim=8,
                        depths=(1, 1), focal_levels=2, focal_windows=(3, 1),
                        use_conv_embed=True, use_layerscale=True, use_postln=True,
                        use_postln_in_modulation=True, normalize_modulator=True,
                        gate_activation="softmax", input_mean=(1.0, 2.0, 3.0),
                        input_std=(2.0, 2.0, 2.0), mlp_ratio=3.0),
    "features": dict(num_classes=0, image_size=16, patch_size=4, embed_dim=8,
                     depths=(1,)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_focalnet_save_load_round_trip(name, tmp_path, rng):
    model = FocalNet(**MODELS[name])
    model.build((None, 16, 16, 3))
    for w in model.weights:  # move away from the init, so the check means something
        w.assign(w + rng.normal(0.0, 0.05, size=w.shape).astype("float32"))
    images = rng.uniform(0, 4, size=(2, 16, 16, 3)).astype("float32")
    expected = to_numpy(model(images))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is FocalNet
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(to_numpy(loaded(images)), expected)
    # from_config(get_config()) for the model too
    clone = FocalNet.from_config(model.get_config())
    clone.build((None, 16, 16, 3))
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(images)), expected)


@pytest.mark.parametrize("name", ["focalnet_cifar", "vit_cifar"])
def test_registry_models_save_load_round_trip(name, tmp_path, rng):
    model = create_model(name)
    images = rng.integers(0, 256, size=(2, 32, 32, 3)).astype("float32")
    expected = to_numpy(model(images))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(to_numpy(loaded(images)), expected)


def test_vit_from_config(rng):
    vit = VisionTransformer(num_classes=3, image_size=8, patch_size=2, embed_dim=16,
                            depth=2, num_heads=4)
    vit.build((None, 8, 8, 3))
    clone = VisionTransformer.from_config(vit.get_config())
    clone.build((None, 8, 8, 3))
    clone.set_weights(vit.get_weights())
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(vit(x)))


# -- one block config -----------------------------------------------------------

OPTIONS = dict(mlp_ratio=2.0, drop_rate=0.1, use_layerscale=True, layerscale_value=0.5,
               use_postln=True, use_postln_in_modulation=True, normalize_modulator=True,
               gate_activation="softmax")


def test_block_options_reach_every_block_and_every_config():
    """Every BlockConfig field is threaded from the model to each block and
    written back into each config with no hand-written list in between."""
    model = FocalNet(num_classes=3, image_size=16, patch_size=2, embed_dim=8, depths=(1, 2),
                     focal_levels=(2, 3), focal_windows=(3, 5), **OPTIONS)
    for i, stage in enumerate(model.stages):
        expected = BlockConfig(focal_level=(2, 3)[i], focal_window=(3, 5)[i], **OPTIONS)
        assert stage.block_config == expected
        for block in stage.blocks:
            assert block.config == expected
            assert {k: v for k, v in block.get_config().items()
                    if k in BlockConfig.names()} == expected.to_dict()
    config = model.get_config()
    per_stage = {"focal_level", "focal_window"}
    assert {k: config[k] for k in BlockConfig.names() if k not in per_stage} == {
        k: v for k, v in BlockConfig(**OPTIONS).to_dict().items() if k not in per_stage}
    assert not per_stage & set(config)  # the model stores them per stage
    clone = FocalNet.from_config(config)
    assert [s.block_config for s in clone.stages] == [s.block_config for s in model.stages]


def test_block_config_is_checked_and_plain():
    config = BlockConfig(focal_level=np.int64(3), mlp_ratio=np.float32(2.0))
    assert type(config.focal_level) is int and type(config.mlp_ratio) is float
    assert config.replace(focal_level=1).focal_level == 1
    with pytest.raises(ValueError, match="focal_level"):
        config.replace(focal_level=0)
    with pytest.raises(ValueError, match="gate_activation"):
        BlockConfig(gate_activation="relu")
    base, rest = BlockConfig.split({"mlp_ratio": 3.0, "name": "b"}, {"focal_level": 4})
    assert (base.focal_level, base.mlp_ratio, rest) == (4, 3.0, {"name": "b"})
