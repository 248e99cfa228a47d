"""modulation_maps: keys, shapes, values against the layers called by hand,
no side effects, one forward pass, compiled and reloaded models."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from focal_utils import FocalModulation, FocalNet, create_model, find_focalnet, modulation_maps
from focal_utils.layers.common import gelu

BLOCKS = ["stage_0/block_0", "stage_0/block_1", "stage_1/block_0",
          "stage_1/block_1", "stage_1/block_2", "stage_2/block_0",
          "stage_2/block_1"]


@pytest.fixture(scope="module")
def cifar():
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    model = create_model("focalnet_cifar")
    # batches of 2 everywhere: on JAX every new shape costs a compilation
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    return model, images


def maps_by_hand(net, images):
    """Gates and modulators computed by calling the sublayers directly."""
    x = net.patch_embed(net._preprocess(images))
    out = {}
    for i, stage in enumerate(net.stages):
        for j, block in enumerate(stage.blocks):
            mod = block.modulation
            c = x.shape[-1]
            z = mod.f(block.norm1(x))  # pre-norm: norm1 is applied
            gates = z[..., 2 * c:]
            ctx, ctx_all = z[..., c:2 * c], 0.0
            for level, conv in enumerate(mod.focal_layers):
                ctx = gelu(conv(ctx))
                ctx_all = ctx_all + ctx * gates[..., level:level + 1]
            ctx_global = gelu(keras.ops.mean(ctx, axis=(1, 2), keepdims=True))
            ctx_all = ctx_all + ctx_global * gates[..., mod.focal_level:]
            out[f"stage_{i}/block_{j}"] = {"gates": to_numpy(gates),
                                           "modulator": to_numpy(mod.h(ctx_all))}
            x = block(x)
        if stage.downsample is not None:
            x = stage.downsample(x)
    return out


def test_keys_and_shapes(cifar):
    model, images = cifar
    maps = modulation_maps(model, images)
    assert list(maps) == BLOCKS  # network order
    grid = {"stage_0": (16, 64), "stage_1": (8, 128), "stage_2": (4, 256)}
    for key, block in maps.items():
        side, channels = grid[key.split("/")[0]]
        assert set(block) == {"gates", "modulator"}
        assert block["gates"].shape == (2, side, side, 3)  # L + 1 = 3
        assert block["modulator"].shape == (2, side, side, channels)
        assert isinstance(block["gates"], np.ndarray)


def test_values_equal_the_layers_called_by_hand(cifar):
    model, images = cifar
    maps, logits = modulation_maps(model, images, return_logits=True)
    expected = maps_by_hand(model, images)
    for key in BLOCKS:
        for name in ("gates", "modulator"):
            np.testing.assert_allclose(maps[key][name], expected[key][name],
                                       rtol=1e-4, atol=1e-5, err_msg=f"{key} {name}")
    np.testing.assert_allclose(logits, to_numpy(model(images)), rtol=1e-5, atol=1e-6)


def test_gate_channels_follow_focal_level(rng):
    model = FocalNet(num_classes=2, image_size=16, patch_size=2, embed_dim=8,
                     depths=(1, 1), focal_levels=(1, 3))
    model.build((None, 16, 16, 3))
    maps = modulation_maps(model, rng.uniform(size=(2, 16, 16, 3)).astype("float32"))
    assert maps["stage_0/block_0"]["gates"].shape == (2, 8, 8, 2)
    assert maps["stage_1/block_0"]["gates"].shape == (2, 4, 4, 4)


def test_no_side_effects(cifar):
    model, images = cifar
    layers = [b.modulation for s in model.stages for b in s.blocks]
    attrs = [set(vars(layer)) for layer in layers]
    weights = [to_numpy(w).copy() for w in model.weights]
    before = to_numpy(model(images))
    modulation_maps(model, images)
    assert [set(vars(layer)) for layer in layers] == attrs
    for w, saved in zip(model.weights, weights):
        np.testing.assert_array_equal(to_numpy(w), saved)
    np.testing.assert_array_equal(to_numpy(model(images)), before)


def test_one_forward_pass_per_batch(cifar, monkeypatch):
    model, images = cifar
    calls = []
    original = FocalModulation.call

    def counting_call(self, *args, **kwargs):
        calls.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FocalModulation, "call", counting_call)
    full = modulation_maps(model, images)
    assert len(calls) == len(BLOCKS) and len(set(calls)) == len(BLOCKS)
    calls.clear()
    flipped = images[:, ::-1]
    both = np.concatenate([images, flipped])
    batched = modulation_maps(model, both, batch_size=2)  # 2 passes of 2 images
    assert len(calls) == 2 * len(BLOCKS)
    other = modulation_maps(model, flipped)
    for key in BLOCKS:
        for name in ("gates", "modulator"):
            assert batched[key][name].shape[0] == 4
            np.testing.assert_allclose(
                batched[key][name],
                np.concatenate([full[key][name], other[key][name]]),
                rtol=1e-5, atol=1e-5)


def test_inference_mode_even_with_stochastic_depth(rng):
    model = FocalNet(num_classes=2, image_size=16, patch_size=2, embed_dim=8,
                     depths=(2,), drop_rate=0.5, drop_path_rate=0.5)
    model.build((None, 16, 16, 3))
    images = rng.uniform(size=(2, 16, 16, 3)).astype("float32")
    a = modulation_maps(model, images)
    b = modulation_maps(model, images)
    np.testing.assert_array_equal(a["stage_0/block_1"]["modulator"],
                                  b["stage_0/block_1"]["modulator"])


# saving a compiled, never-trained model: Keras notes the unbuilt optimizer
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_works_on_compiled_and_reloaded_models(cifar, tmp_path):
    model, images = cifar
    expected = modulation_maps(model, images)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    compiled = modulation_maps(model, images)
    path = tmp_path / "cifar.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = modulation_maps(reloaded, images)
    for key in BLOCKS:
        for name in ("gates", "modulator"):
            np.testing.assert_allclose(compiled[key][name], expected[key][name],
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(again[key][name], expected[key][name],
                                       rtol=1e-5, atol=1e-6)


def test_finds_a_focalnet_inside_another_model(cifar):
    model, images = cifar
    wrapper = keras.Sequential([keras.Input((32, 32, 3)), model])
    assert find_focalnet(wrapper) is model
    maps = modulation_maps(wrapper, images)
    assert list(maps) == BLOCKS


def test_errors(cifar):
    model, images = cifar
    with pytest.raises(ValueError, match="batch"):
        modulation_maps(model, images[0])
    with pytest.raises(ValueError, match="FocalNet"):
        modulation_maps(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
                        np.zeros((1, 4)))


def test_a_sequential_wrapper_runs_its_own_layers(cifar):
    """Sequential([Rescaling, net, Dense]): the logits of modulation_maps are
    the wrapper's, and the maps are those of the net on the rescaled input."""
    model, images = cifar
    wrapper = keras.Sequential([keras.Input((32, 32, 3)),
                                keras.layers.Rescaling(0.5, offset=10.0), model,
                                keras.layers.Dense(3)])
    maps, logits = modulation_maps(wrapper, images, return_logits=True)
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(wrapper(images)),
                               rtol=1e-5, atol=1e-5)
    direct = modulation_maps(model, images * 0.5 + 10.0)
    np.testing.assert_allclose(maps[BLOCKS[0]]["gates"], direct[BLOCKS[0]]["gates"],
                               rtol=1e-5, atol=1e-5)


def test_a_functional_wrapper_is_refused_rather_than_skipped(cifar):
    model, images = cifar
    inputs = keras.Input((32, 32, 3))
    wrapper = keras.Model(inputs, model(keras.layers.Rescaling(0.5)(inputs)))
    with pytest.raises(ValueError, match="cannot reproduce"):
        modulation_maps(wrapper, images)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_bad_batch_size_and_empty_batches_are_refused(cifar, batch_size):
    model, images = cifar
    with pytest.raises(ValueError, match="batch_size"):
        modulation_maps(model, images, batch_size=batch_size)
    with pytest.raises(ValueError, match="at least one image"):
        modulation_maps(model, images[:0])
