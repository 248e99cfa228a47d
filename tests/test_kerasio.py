"""Tests of focal_utils.kerasio, the keras-io example kept as a baseline."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import focal_utils  # noqa: E402
from focal_utils import kerasio  # noqa: E402


@pytest.fixture(scope="module")
def kerasio_model():
    keras.utils.set_random_seed(0)
    return kerasio.build_kerasio_model()


def images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 32, 32, 3)).astype("float32")


def test_parameter_count_matches_the_example(kerasio_model):
    assert kerasio_model.count_params() == kerasio.KERASIO_NUM_PARAMS == 2_446_680


def test_norm1_exists_but_is_never_built(kerasio_model):
    for stage in kerasio_model.basic_layers:
        for block in stage.blocks:
            assert not block.norm1.built
            assert block.norm1.weights == []
            assert block.norm2.built


def test_every_level_is_a_1x1_grouped_conv(kerasio_model):
    for stage in kerasio_model.basic_layers:
        for block in stage.blocks:
            mod = block.modulation
            assert mod.focal_level == 1 and mod.kernel_sizes == [1]
            conv = mod.focal_layers[0].layers[-1]
            assert conv.groups == mod.dim
            assert tuple(conv.kernel.shape) == (1, 1, 1, mod.dim)


def test_epsilons(kerasio_model):
    assert kerasio_model.norm.epsilon == 1e-7
    assert kerasio_model.patch_embed.norm.epsilon == 1e-7
    assert kerasio_model.basic_layers[0].downsample.norm.epsilon == 1e-7
    assert kerasio_model.basic_layers[0].blocks[0].norm2.epsilon == 1e-5


def test_softmax_head_and_softmax_gates(kerasio_model):
    probs, maps = kerasio_model(images(), training=False, return_maps=True)
    probs = keras.ops.convert_to_numpy(probs)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert list(maps) == ["stage_0/block_0", "stage_0/block_1", "stage_1/block_0",
                          "stage_1/block_1", "stage_1/block_2", "stage_2/block_0",
                          "stage_2/block_1"]
    gates = keras.ops.convert_to_numpy(maps["stage_0/block_0"]["gates"])
    assert gates.shape == (2, 12, 12, 2)  # 48 / 4 tokens, L + 1 = 2 gates
    np.testing.assert_allclose(gates.sum(axis=-1), 1.0, atol=1e-5)
    assert maps["stage_2/block_1"]["modulator"].shape == (2, 3, 3, 256)


def test_training_path_runs_and_keeps_shapes(kerasio_model):
    probs = kerasio_model(images(), training=True)
    assert tuple(probs.shape) == (2, 10)


def test_modulation_layer_matches_a_hand_computation():
    keras.utils.set_random_seed(1)
    dim, level = 8, 2
    layer = kerasio.FocalModulationLayer(dim, focal_window=3, focal_level=level)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, dim)).astype("float32")
    out, maps = layer(x, return_maps=True)
    ops = keras.ops
    proj = layer.initial_proj(x)
    q, ctx, g = proj[..., :dim], proj[..., dim:2 * dim], proj[..., 2 * dim:]
    g = ops.softmax(g, axis=-1)
    total = 0.0
    for i in range(level):
        conv = layer.focal_layers[i].layers[-1]
        kernel = ops.transpose(conv.kernel, (0, 1, 3, 2))  # to depthwise layout
        ctx = keras.activations.gelu(
            ops.depthwise_conv(ctx, kernel, padding="same"), approximate=False)
        total = total + ctx * g[..., i:i + 1]
    glob = ops.gelu(ops.mean(ctx, axis=(1, 2), keepdims=True), approximate=True)
    total = total + glob * g[..., level:]
    expected = layer.proj(q * layer.mod_proj(total))
    np.testing.assert_allclose(ops.convert_to_numpy(out),
                               ops.convert_to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(maps["gates"]),
                               ops.convert_to_numpy(g), atol=1e-6)


def test_block_skips_norm1():
    keras.utils.set_random_seed(2)
    block = kerasio.FocalModulationBlock(8, focal_level=1, focal_window=1)
    x = np.random.default_rng(2).normal(3.0, 5.0, size=(1, 4, 4, 8)).astype("float32")
    out = block(x)
    y = x + block.modulation(x)
    expected = y + block.mlp(block.norm2(y))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                               keras.ops.convert_to_numpy(expected), atol=1e-5)


def test_configs_round_trip():
    layer = kerasio.FocalModulationLayer(16, 3, 2, name="fm")
    clone = kerasio.FocalModulationLayer.from_config(layer.get_config())
    assert clone.kernel_sizes == [3, 5]
    block = kerasio.FocalModulationBlock(16, focal_level=2, focal_window=3)
    assert kerasio.FocalModulationBlock.from_config(block.get_config()).focal_level == 2
    stage = kerasio.BasicLayer(16, 32, depth=2)
    clone = kerasio.BasicLayer.from_config(stage.get_config())
    assert len(clone.blocks) == 2 and clone.downsample is not None
    model = kerasio.FocalModulationNetwork(embed_dim=8, depths=(1, 1))
    clone = kerasio.FocalModulationNetwork.from_config(model.get_config())
    clone.build((None, 32, 32, 3))
    model.build((None, 32, 32, 3))
    assert clone.count_params() == model.count_params()


def test_book_model_the_kerasio_way_computes_the_same_function():
    keras.utils.set_random_seed(3)
    book = focal_utils.create_model("focalnet_cifar")
    grouped = kerasio.build_book_model_kerasio_way("focalnet_cifar")
    assert grouped.count_params() == book.count_params()
    level = grouped.stages[0].blocks[0].modulation.focal_layers[1]
    assert isinstance(level.layers[0], keras.layers.ZeroPadding2D)
    assert level.layers[1].groups == 64
    kerasio.copy_depthwise_to_grouped(book, grouped)
    x = images(2, seed=3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grouped(x)),
                               keras.ops.convert_to_numpy(book(x)), atol=1e-5)


def test_copy_rejects_mismatched_models():
    book = focal_utils.create_model("focalnet_cifar")
    other = kerasio.build_book_model_kerasio_way("focalnet_cifar", depths=(1, 1, 1))
    with pytest.raises(ValueError, match="same weights"):
        kerasio.copy_depthwise_to_grouped(book, other)


def test_book_model_the_kerasio_way_refuses_to_save(tmp_path):
    """Its config describes the depthwise model: a saved file could not load,
    so saving fails at once with a message that says so."""
    grouped = kerasio.build_book_model_kerasio_way("focalnet_cifar", depths=(1, 1, 1))
    with pytest.raises(NotImplementedError, match="speed comparisons only"):
        grouped.get_config()
    with pytest.raises(NotImplementedError, match="speed comparisons only"):
        grouped.save(tmp_path / "twin.keras")
    assert not (tmp_path / "twin.keras").exists()


def test_kerasio_layer_uses_the_books_kernel_rule():
    layer = kerasio.FocalModulationLayer(dim=8, focal_window=3, focal_level=3)
    assert layer.kernel_sizes == [3, 5, 7]
