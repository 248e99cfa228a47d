"""The token mixers that take focal modulation's place (chapter 9): numbers against numpy,
the shifted-window mask, and every registered variant's shapes, FLOPs and round trip."""

import keras
import numpy as np
import pytest
from conftest import np_gelu, to_numpy

from focal_utils import FocalNet, count_flops, create_model, model_config
from focal_utils.flops import window_attention_flops
from focal_utils.layers.mixers import (
    MIXERS,
    DepthwiseContext,
    PoolingMixer,
    WindowAttention,
    _shift_mask,
)

VARIANTS = [f"cifar_conv_{m}" for m in MIXERS if m != "focal_modulation"]


def np_window_attention(x, layer):
    """Global attention with the layer's weights and relative position bias (one window)."""
    b, h, w, c = x.shape
    heads, d = layer.num_heads, layer.head_dim
    tokens = x.reshape(b, h * w, c).astype("float64")
    qkv = tokens @ to_numpy(layer.qkv.kernel) + to_numpy(layer.qkv.bias)
    q, k, v = (qkv[..., i * c:(i + 1) * c].reshape(b, h * w, heads, d).transpose(0, 2, 1, 3)
               for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    table = to_numpy(layer.relative_position_bias)
    for i in range(h * w):
        for j in range(h * w):
            di, dj = i // w - j // w, i % w - j % w
            scores[:, :, i, j] += table[(di + h - 1) * (2 * w - 1) + dj + w - 1]
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(b, h * w, c)
    out = out @ to_numpy(layer.proj.kernel) + to_numpy(layer.proj.bias)
    return out.reshape(b, h, w, c)


def randomize(layer, rng):
    for weight in layer.weights:
        weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))


def test_global_attention_matches_numpy(rng):
    layer = WindowAttention(None, head_dim=4)
    x = rng.normal(size=(2, 3, 4, 8)).astype("float32")
    layer.build(x.shape)
    randomize(layer, rng)
    assert layer.num_heads == 2 and layer.window == (3, 4)
    np.testing.assert_allclose(to_numpy(layer(x)), np_window_attention(x, layer),
                               rtol=1e-4, atol=1e-4)


def test_a_window_as_large_as_the_map_is_global_attention(rng):
    x = rng.normal(size=(1, 4, 4, 8)).astype("float32")
    small, whole = WindowAttention(8, head_dim=4, shift=True), WindowAttention(None, head_dim=4)
    small.build(x.shape)
    whole.build(x.shape)
    assert small.window == (4, 4) and small.shift_size == 0  # nothing to shift
    whole.set_weights(small.get_weights())
    np.testing.assert_allclose(to_numpy(small(x)), to_numpy(whole(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shift", [False, True])
def test_windows_see_only_their_own_tokens(rng, shift):
    """Perturb one token: only the tokens of its (shifted) window may change."""
    layer = WindowAttention(4, head_dim=4, shift=shift)
    x = rng.normal(size=(1, 8, 8, 8)).astype("float32")
    layer.build(x.shape)
    randomize(layer, rng)
    base = to_numpy(layer(x))
    probe = x.copy()
    probe[0, 1, 1] += 5.0
    changed = np.abs(to_numpy(layer(probe)) - base).max(-1)[0] > 1e-6
    expected = np.zeros((8, 8), bool)
    if shift:
        # shifted by 2: token (1, 1) sits in the window of rows/cols {6, 7, 0, 1}
        # after the roll, but the mask keeps it to its own region: rows/cols 0-1
        expected[0:2, 0:2] = True
    else:
        expected[0:4, 0:4] = True
    np.testing.assert_array_equal(changed, expected)


def test_shift_mask_regions():
    mask = _shift_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert mask[0].all()  # the top-left window holds one region only
    # the bottom-right window mixes four regions: each token sees a quarter
    assert mask[3].sum(axis=1).tolist() == [4] * 16


def test_pooling_mixer_is_the_mean_of_the_neighbours_inside_minus_x(rng):
    x = rng.normal(size=(1, 4, 5, 3)).astype("float32")
    out = to_numpy(PoolingMixer()(x))
    padded = np.pad(x[0].astype("float64"), ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    expected = np.stack([[np.nanmean(padded[i:i + 3, j:j + 3].reshape(-1, 3), axis=0)
                          for j in range(5)] for i in range(4)]) - x[0]
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-5)
    layer = PoolingMixer()
    layer.build(x.shape)
    assert layer.count_params() == 0


def test_depthwise_context_has_no_gates_and_no_query(rng):
    layer = DepthwiseContext(focal_level=2)
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    layer.build(x.shape)
    randomize(layer, rng)
    assert layer.f.units == 8  # context only: no query, no gates
    ctx = x.astype("float64") @ to_numpy(layer.f.kernel) + to_numpy(layer.f.bias)
    total = 0.0
    for conv in layer.focal_layers:
        ctx = np_gelu(keras.ops.convert_to_numpy(conv(ctx.astype("float32"))))
        total = total + ctx
    total = total + np_gelu(ctx.mean(axis=(1, 2), keepdims=True))
    modulator = total @ to_numpy(layer.h.kernel) + to_numpy(layer.h.bias)
    expected = modulator @ to_numpy(layer.proj.kernel) + to_numpy(layer.proj.bias)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_differ_only_in_the_mixer(name, tmp_path):
    base = dict(model_config("focalnet_cifar_conv"))
    config = dict(model_config(name))
    mixer = config.pop("mixer")
    assert config == base and mixer in MIXERS
    model = create_model(name)
    blocks = [b for s in model.stages for b in s.blocks]
    assert all(b.config.mixer == mixer for b in blocks)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    logits = to_numpy(model(images))
    assert logits.shape == (2, 10)
    assert count_flops(model) > 0 or mixer == "pooling"
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, FocalNet)
    np.testing.assert_allclose(to_numpy(again(images)), logits, rtol=1e-5, atol=1e-5)


def test_shifts_alternate_inside_a_stage():
    model = create_model("cifar_conv_window_attention")
    shifts = [[b.modulation.shift_size for b in s.blocks] for s in model.stages]
    assert shifts[0] == [0, 2]  # 8x8 tokens, windows of 4: shifted by 2 in block 1
    assert shifts[1] == [0, 0, 0]  # 4x4 tokens: one window, nothing to shift


def test_attention_flops_follow_the_window():
    attention = count_flops(create_model("cifar_conv_attention"))
    window = count_flops(create_model("cifar_conv_window_attention"))
    tokens, channels = 64, 64  # stage 0: 8x8 tokens of 64 channels, two blocks
    assert attention - window == 2 * (window_attention_flops(tokens, channels, 64)
                                      - window_attention_flops(tokens, channels, 16))


def test_bad_mixer_options():
    with pytest.raises(ValueError, match="`mixer` must be one of"):
        create_model("focalnet_cifar_conv", mixer="mlp")
    with pytest.raises(ValueError, match="multiple of `head_dim`"):
        WindowAttention(head_dim=5).build((1, 4, 4, 8))
    with pytest.raises(ValueError, match="must divide the map"):
        WindowAttention(3, head_dim=4).build((1, 8, 8, 8))
    with pytest.raises(ValueError, match="`pool_size` must be odd"):
        PoolingMixer(2)
