"""Layers: shapes, exact parameter counts, and numbers against numpy.

Covers PatchEmbedding (non-overlapping, overlapping 7/4/2 stem and 3/2/1
downsampling), Mlp, StochasticDepth, FocalModulation (hand-computed case,
numpy reference, raw gates, receptive field of each level), FocalNetBlock
(pre-norm with norm1 applied, LayerScale, post-norm) and FocalNetStage.
"""

import math

import keras
import numpy as np
import pytest
from conftest import (
    named_weights,
    np_conv2d,
    np_depthwise_same,
    np_focal_modulation,
    np_gelu,
    np_layer_norm,
    to_numpy,
)

from focal_utils import (
    FocalModulation,
    FocalNetBlock,
    FocalNetStage,
    Mlp,
    PatchEmbedding,
    StochasticDepth,
    drop_path_rates,
)
from focal_utils.layers.common import gelu
from focal_utils.layers.focal_modulation import focal_kernel_sizes


def randomize(layer, rng, scale=0.5):
    """Replace every weight by N(0, scale) draws (init values are too small
    to exercise the nonlinearities); returns the new named weights."""
    for w in layer.weights:
        w.assign(rng.normal(0.0, scale, size=w.shape).astype("float32"))
    return named_weights(layer)


# -- PatchEmbedding ------------------------------------------------------------


@pytest.mark.parametrize(
    "patch_size, use_conv_embed, in_size, kernel, padding, out_size",
    [
        (4, False, 224, 4, 0, 56),  # official stem
        (4, True, 224, 7, 2, 56),  # overlapping 7/4/2 stem
        (2, False, 56, 2, 0, 28),  # downsampling
        (2, True, 56, 3, 1, 28),  # overlapping 3/2/1 downsampling
        (2, True, 32, 3, 1, 16),
        (3, True, 9, 5, 1, 3),
    ],
)
def test_patch_embedding_geometry(patch_size, use_conv_embed, in_size, kernel,
                                  padding, out_size):
    layer = PatchEmbedding(96, patch_size=patch_size, use_conv_embed=use_conv_embed)
    layer.build((None, in_size, in_size, 3))
    assert tuple(layer.proj.kernel_size) == (kernel, kernel)
    assert tuple(layer.proj.strides) == (patch_size, patch_size)
    assert layer.padding == padding
    assert layer.compute_output_shape((None, in_size, in_size, 3)) == (
        None, out_size, out_size, 96)
    # exact parameter count: conv kernel + bias + LayerNorm gamma/beta
    assert layer.count_params() == kernel * kernel * 3 * 96 + 96 + 2 * 96


def test_patch_embedding_param_counts():
    stem = PatchEmbedding(96, 4)
    stem.build((None, 224, 224, 3))
    assert stem.count_params() == 4896
    stem_overlap = PatchEmbedding(96, 4, use_conv_embed=True)
    stem_overlap.build((None, 224, 224, 3))
    assert stem_overlap.count_params() == 14400
    down = PatchEmbedding(192, 2, use_conv_embed=True)
    down.build((None, 56, 56, 96))
    assert down.count_params() == 166464
    no_norm = PatchEmbedding(96, 4, use_norm=False)
    no_norm.build((None, 224, 224, 3))
    assert no_norm.norm is None and no_norm.count_params() == 4896 - 192


def test_patch_embedding_output_shape_at_224():
    layer = PatchEmbedding(embed_dim=96, patch_size=4)
    out = layer(np.zeros((2, 224, 224, 3), "float32"))
    assert tuple(out.shape) == (2, 56, 56, 96)


@pytest.mark.parametrize("use_conv_embed", [False, True])
def test_patch_embedding_matches_numpy(use_conv_embed, rng):
    layer = PatchEmbedding(5, patch_size=4, use_conv_embed=use_conv_embed)
    x = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    out = to_numpy(layer(x))
    w = named_weights(layer)
    assert layer.norm.epsilon == 1e-5
    expected = np_conv2d(x, w["proj/kernel"], w["proj/bias"], stride=4,
                         pad=layer.padding)
    expected = np_layer_norm(expected, w["norm/gamma"], w["norm/beta"])
    assert out.shape == (2, 2, 3, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_non_overlapping_patches_are_independent(rng):
    """Without overlap a patch embedding is a per-patch linear map: changing
    one input pixel changes exactly one output token."""
    layer = PatchEmbedding(4, patch_size=4, use_norm=False)
    x = rng.normal(size=(1, 16, 16, 3)).astype("float32")
    base = to_numpy(layer(x))
    x2 = x.copy()
    x2[0, 4, 8] += 1.0  # pixel (4, 8) lies in patch (1, 2)
    diff = np.abs(to_numpy(layer(x2)) - base).max(-1)[0]
    assert np.argwhere(diff > 0).tolist() == [[1, 2]]
    # with the overlapping 7/4/2 stem, token i sees rows 4i - 2 .. 4i + 4:
    # pixel (4, 8) reaches tokens (0|1, 1|2)
    overlap = PatchEmbedding(4, patch_size=4, use_conv_embed=True, use_norm=False)
    base = to_numpy(overlap(x))
    diff = np.abs(to_numpy(overlap(x2)) - base).max(-1)[0]
    assert np.argwhere(diff > 0).tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]


# -- Mlp and StochasticDepth -------------------------------------------------------


def test_mlp_params_and_numbers(rng):
    mlp = Mlp(384)
    mlp.build((None, 56, 56, 96))
    assert mlp.count_params() == 96 * 384 + 384 + 384 * 96 + 96 == 74208
    small = Mlp(6)
    x = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    small.build(x.shape)
    w = randomize(small, rng)
    expected = np_gelu(x @ w["fc1/kernel"] + w["fc1/bias"]) @ w["fc2/kernel"] + w["fc2/bias"]
    np.testing.assert_allclose(to_numpy(small(x)), expected, rtol=1e-5, atol=1e-5)


def test_gelu_is_exact_not_tanh():
    x = np.linspace(-4, 4, 81).astype("float32")
    np.testing.assert_allclose(to_numpy(gelu(x)), np_gelu(x), atol=1e-6)
    tanh_gelu = to_numpy(keras.ops.gelu(x, approximate=True))
    assert np.abs(tanh_gelu - np_gelu(x)).max() > 1e-4  # the two differ


def test_stochastic_depth():
    x = np.ones((256, 3, 3, 2), "float32")
    layer = StochasticDepth(0.25, seed=1)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)  # inference: identity
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)
    out = to_numpy(layer(x, training=True))
    per_sample = out.reshape(256, -1)
    # whole samples are dropped (0) or kept and scaled by 1 / (1 - rate)
    assert np.all(per_sample == per_sample[:, :1])
    values = np.unique(per_sample)
    assert len(values) == 2 and values[0] == 0.0
    np.testing.assert_allclose(values[1], 1 / 0.75, rtol=1e-6)
    kept = (per_sample[:, 0] > 0).mean()
    assert 0.6 < kept < 0.9
    np.testing.assert_array_equal(
        to_numpy(StochasticDepth(0.0)(x, training=True)), x)


def test_drop_path_rates_linear_over_all_blocks():
    rates = drop_path_rates(0.2, [2, 2, 6, 2])
    assert [len(r) for r in rates] == [2, 2, 6, 2]
    np.testing.assert_allclose(sum(rates, []), np.linspace(0.0, 0.2, 12), atol=1e-12)
    assert drop_path_rates(0.3, [1]) == [[0.0]]


# -- FocalModulation -------------------------------------------------------------


def focal_params(c, levels, kernels, postln=False):
    f = c * (2 * c + levels + 1) + (2 * c + levels + 1)
    depthwise = sum(k * k * c for k in kernels)  # no bias
    h = c * c + c
    proj = c * c + c
    return f + depthwise + h + proj + (2 * c if postln else 0)


@pytest.mark.parametrize("levels, window, factor, kernels", [
    (1, 3, 2, [3]),
    (2, 3, 2, [3, 5]),
    (3, 3, 2, [3, 5, 7]),
    (4, 3, 2, [3, 5, 7, 9]),
    (2, 1, 2, [1, 3]),
    (3, 5, 0, [5, 5, 5]),
])
def test_focal_modulation_kernels_and_params(levels, window, factor, kernels):
    assert focal_kernel_sizes(levels, window, factor) == kernels
    layer = FocalModulation(focal_level=levels, focal_window=window,
                            focal_factor=factor)
    layer.build((None, 7, 7, 16))
    assert layer.kernel_sizes == kernels
    assert len(layer.focal_layers) == levels
    for conv, k in zip(layer.focal_layers, kernels):
        assert isinstance(conv, keras.layers.DepthwiseConv2D)
        assert tuple(conv.kernel_size) == (k, k)
        assert conv.padding == "same" and not conv.use_bias
        assert tuple(conv.strides) == (1, 1)
    assert layer.f.units == 2 * 16 + levels + 1
    assert layer.count_params() == focal_params(16, levels, kernels)


def test_focal_modulation_param_counts_exact():
    layer = FocalModulation(focal_level=2)
    layer.build((None, 56, 56, 96))
    assert layer.count_params() == 40803
    layer = FocalModulation(focal_level=3, use_postln_in_modulation=True)
    layer.build((None, 56, 56, 96))
    # f: 96 * 196 + 196; depthwise: (9 + 25 + 49) * 96; h, proj; post-LN
    assert layer.count_params() == 19012 + 7968 + 18624 + 192 == 45796


def test_focal_modulation_hand_computed():
    """channels=1, focal_level=1 (one 3x3 level), every weight set by hand;
    the expected output is computed pixel by pixel with math.erf."""
    layer = FocalModulation(focal_level=1, focal_window=3)
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]])
    layer.build((1, 3, 3, 1))
    dw = np.array([[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]])
    values = {
        # f: x -> [q, ctx, gate_0, gate_global]
        "f/kernel": np.array([[1.0, 1.0, 0.5, -1.0]]),
        "f/bias": np.array([0.0, 0.0, 0.25, 0.1]),
        "focal_layer_0/kernel": dw.reshape(3, 3, 1, 1),
        "h/kernel": np.array([[2.0]]),
        "h/bias": np.array([0.5]),
        "proj/kernel": np.array([[1.5]]),
        "proj/bias": np.array([-0.25]),
    }
    for w in layer.weights:
        w.assign(values[w.path.split("/", 1)[1]].astype("float32"))

    def g(v):
        return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))

    def at(i, j):
        return x[i, j] if 0 <= i < 3 and 0 <= j < 3 else 0.0  # zero padding

    level = [[g(sum(dw[a, b] * at(i + a - 1, j + b - 1)
                    for a in range(3) for b in range(3)))
              for j in range(3)] for i in range(3)]
    glob = g(sum(map(sum, level)) / 9.0)
    expected = np.zeros((3, 3))
    gates = np.zeros((3, 3, 2))
    modulator = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            q = x[i, j]
            g0, g1 = 0.5 * x[i, j] + 0.25, -x[i, j] + 0.1
            gates[i, j] = g0, g1
            modulator[i, j] = 2.0 * (level[i][j] * g0 + glob * g1) + 0.5
            expected[i, j] = 1.5 * q * modulator[i, j] - 0.25
    out, maps = layer(x.reshape(1, 3, 3, 1).astype("float32"), return_maps=True)
    np.testing.assert_allclose(to_numpy(out)[0, ..., 0], expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(maps["gates"])[0], gates, atol=1e-6)
    np.testing.assert_allclose(to_numpy(maps["modulator"])[0, ..., 0], modulator,
                               atol=1e-5)
    # a spot value, fully by hand: pixel (1, 1): level = g(2*2) = g(4)
    assert level[1][1] == pytest.approx(g(4.0))


def test_focal_modulation_hand_computed_two_channels():
    """channels=2, focal_level=1, identity-like weights: channel 1 carries the
    context, q = x; checks the split order q | ctx | gates and per-channel
    depthwise kernels."""
    c = 2
    layer = FocalModulation(focal_level=1, focal_window=3)
    layer.build((1, 1, 3, c))
    f_kernel = np.zeros((c, 2 * c + 2))
    f_kernel[:, :c] = np.eye(c)  # q = x
    f_kernel[:, c:2 * c] = 2.0 * np.eye(c)  # ctx = 2x
    f_kernel[0, 2 * c] = 1.0  # gate_0 = x_0
    f_bias = np.zeros(2 * c + 2)
    f_bias[2 * c + 1] = 1.0  # gate_global = 1
    dw = np.zeros((3, 3, c, 1))
    dw[1, 1, 0, 0] = 1.0  # channel 0: identity
    dw[1, 0, 1, 0] = 1.0  # channel 1: takes the left neighbour
    values = {"f/kernel": f_kernel, "f/bias": f_bias, "focal_layer_0/kernel": dw,
              "h/kernel": np.eye(c), "h/bias": np.zeros(c),
              "proj/kernel": np.eye(c), "proj/bias": np.zeros(c)}
    for w in layer.weights:
        w.assign(values[w.path.split("/", 1)[1]].astype("float32"))
    x = np.array([[[1.0, -1.0], [0.5, 2.0], [3.0, 1.0]]])  # (1, 3, 2)
    g = np_gelu
    ctx = 2 * x[0]
    level = np.stack([g(ctx[:, 0]), g(np.array([0.0, ctx[0, 1], ctx[1, 1]]))], -1)
    glob = g(level.mean(0))
    modulator = level * x[0, :, :1] + glob * 1.0
    expected = x[0] * modulator
    out = to_numpy(layer(x[None].astype("float32")))[0, 0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("options", [
    dict(),
    dict(focal_level=1),
    dict(focal_level=3),
    dict(normalize_modulator=True),
    dict(use_postln_in_modulation=True),
    dict(gate_activation="softmax"),
    dict(focal_level=2, focal_window=1, focal_factor=2),
])
def test_focal_modulation_matches_numpy(options, rng):
    layer = FocalModulation(**options)
    x = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    layer.build(x.shape)
    w = randomize(layer, rng)
    out, maps = layer(x, return_maps=True)
    expected, gates, modulator, _ = np_focal_modulation(
        x, w, layer.focal_level, layer.kernel_sizes,
        use_postln=layer.use_postln_in_modulation,
        normalize_modulator=layer.normalize_modulator,
        softmax_gates=layer.gate_activation == "softmax")
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(maps["gates"]), gates, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(maps["modulator"]), modulator,
                               rtol=1e-4, atol=1e-4)
    assert to_numpy(maps["gates"]).shape == (2, 6, 5, layer.focal_level + 1)
    assert to_numpy(maps["modulator"]).shape == (2, 6, 5, 4)
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(out))


def test_gates_are_raw_linear_outputs(rng):
    """Official gates: the last L + 1 outputs of f, no softmax."""
    layer = FocalModulation(focal_level=2)
    x = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    layer.build(x.shape)
    w = randomize(layer, rng)
    _, maps = layer(x, return_maps=True)
    gates = to_numpy(maps["gates"])
    raw = x @ w["f/kernel"][:, 16:] + w["f/bias"][16:]
    np.testing.assert_allclose(gates, raw, rtol=1e-5, atol=1e-5)
    assert gates.min() < 0  # not a probability ...
    assert np.abs(gates.sum(-1) - 1).max() > 0.1  # ... and not normalised
    # the softmax variant exists only as an explicit option
    soft = FocalModulation(focal_level=2, gate_activation="softmax")
    soft.build(x.shape)
    for a, b in zip(soft.weights, layer.weights):
        a.assign(b)
    _, soft_maps = soft(x, return_maps=True)
    soft_gates = to_numpy(soft_maps["gates"])
    np.testing.assert_allclose(soft_gates.sum(-1), 1.0, atol=1e-5)
    e = np.exp(raw - raw.max(-1, keepdims=True))
    np.testing.assert_allclose(soft_gates, e / e.sum(-1, keepdims=True), atol=1e-5)
    assert FocalModulation().gate_activation is None


def test_global_level_is_gelu_of_spatial_mean(rng):
    """With every local gate at zero, the modulator is h(GELU(mean(z_L)) * g_L):
    the same vector at every position."""
    c, levels = 3, 2
    layer = FocalModulation(focal_level=levels)
    x = rng.normal(size=(1, 5, 5, c)).astype("float32")
    layer.build(x.shape)
    w = randomize(layer, rng)
    f_kernel, f_bias = w["f/kernel"].copy(), w["f/bias"].copy()
    f_kernel[:, 2 * c:], f_bias[2 * c:] = 0.0, 0.0
    f_bias[-1] = 1.0  # global gate = 1, local gates = 0
    layer.f.kernel.assign(f_kernel.astype("float32"))
    layer.f.bias.assign(f_bias.astype("float32"))
    _, maps = layer(x, return_maps=True)
    modulator = to_numpy(maps["modulator"])[0]
    # by hand through the sublayers: each level fed by the previous one
    ctx = to_numpy(layer.f(x))[..., c:2 * c]
    for conv in layer.focal_layers:
        ctx = np_gelu(to_numpy(conv(ctx.astype("float32"))))
    glob = np_gelu(ctx.mean(axis=(1, 2)))[0]
    expected = glob @ w["h/kernel"] + w["h/bias"]
    np.testing.assert_allclose(modulator, np.broadcast_to(expected, (5, 5, c)),
                               rtol=1e-5, atol=1e-5)


def _level_contexts(layer, x):
    """Local contexts z_1..z_L computed by calling the layer's sublayers."""
    c = x.shape[-1]
    ctx = layer.f(x)[..., c:2 * c]
    levels = []
    for conv in layer.focal_layers:
        ctx = gelu(conv(ctx))
        levels.append(to_numpy(ctx))
    return levels


def test_receptive_field_of_each_level(rng):
    """Level l sees input pixels within sum_{i<=l} kernel_i // 2 (Chebyshev
    distance): 1, 3, 6 for kernels 3, 5, 7. A pixel one step further away
    leaves that level's context unchanged; a pixel at the reach changes it."""
    layer = FocalModulation(focal_level=3)
    size, c, center = 17, 2, 8
    x = rng.normal(size=(1, size, size, c)).astype("float32")
    layer.build(x.shape)
    randomize(layer, rng)  # weights of order 1: every path carries signal
    assert layer.kernel_sizes == [3, 5, 7]
    reaches = np.cumsum([k // 2 for k in layer.kernel_sizes])
    assert reaches.tolist() == [1, 3, 6]
    base = _level_contexts(layer, x)
    for level, reach in enumerate(reaches):
        for offset, (di, dj) in enumerate([(1, 0), (0, 1), (1, 1), (-1, 1)]):
            inside = x.copy()
            inside[0, center + di * reach, center + dj * reach] += 3.0
            outside = x.copy()
            outside[0, center + di * (reach + 1), center + dj * (reach + 1)] += 3.0
            z_in = _level_contexts(layer, inside)[level][0, center, center]
            z_out = _level_contexts(layer, outside)[level][0, center, center]
            assert np.abs(z_in - base[level][0, center, center]).max() > 1e-6, (
                level, reach, offset)
            np.testing.assert_array_equal(z_out, base[level][0, center, center],
                                          err_msg=f"level {level} offset {offset}")
        # the whole changed region of level l is the (2 reach + 1)^2 square
        probe = x.copy()
        probe[0, center, center] += 3.0
        changed = np.abs(_level_contexts(layer, probe)[level][0]
                         - base[level][0]).max(-1) > 0
        rows, cols = np.nonzero(changed)
        assert rows.min() == cols.min() == center - reach
        assert rows.max() == cols.max() == center + reach


def test_receptive_field_via_modulator_and_gates(rng):
    """Gates are per-pixel (reach 0). With the global gate switched off the
    modulator sees exactly the last level's reach; with it on, every pixel."""
    layer = FocalModulation(focal_level=2)  # kernels 3, 5: reach 3
    size, c, center = 13, 3, 6
    x = rng.normal(size=(1, size, size, c)).astype("float32")
    layer.build(x.shape)
    randomize(layer, rng, scale=0.3)
    _, base = layer(x, return_maps=True)
    probe = x.copy()
    probe[0, center, center] += 2.0
    _, maps = layer(probe, return_maps=True)
    gate_change = np.abs(to_numpy(maps["gates"]) - to_numpy(base["gates"])).max(-1)[0]
    assert np.argwhere(gate_change > 0).tolist() == [[center, center]]
    mod_change = np.abs(to_numpy(maps["modulator"])
                        - to_numpy(base["modulator"])).max(-1)[0]
    assert (mod_change > 0).all()  # the global level reaches every pixel
    # switch the global gate off: f's last output column and bias to zero
    f_kernel = to_numpy(layer.f.kernel).copy()
    f_bias = to_numpy(layer.f.bias).copy()
    f_kernel[:, -1], f_bias[-1] = 0.0, 0.0
    layer.f.kernel.assign(f_kernel)
    layer.f.bias.assign(f_bias)
    _, base = layer(x, return_maps=True)
    _, maps = layer(probe, return_maps=True)
    mod_change = np.abs(to_numpy(maps["modulator"])
                        - to_numpy(base["modulator"])).max(-1)[0]
    rows, cols = np.nonzero(mod_change > 0)
    assert rows.min() == cols.min() == center - 3
    assert rows.max() == cols.max() == center + 3


def test_focal_modulation_keeps_no_state(rng):
    layer = FocalModulation(focal_level=2)
    x = rng.normal(size=(1, 4, 4, 4)).astype("float32")
    layer(x)
    before = set(vars(layer))
    layer(x, return_maps=True)
    assert set(vars(layer)) == before


def test_dense_init_trunc_normal_and_zero_bias():
    layer = FocalModulation(focal_level=2)
    layer.build((None, 8, 8, 96))
    for dense in (layer.f, layer.proj):
        init = dense.kernel_initializer
        assert isinstance(init, keras.initializers.RandomNormal)
        assert init.stddev == 0.02 and init.mean == 0.0
        kernel = to_numpy(dense.kernel)
        assert 0.018 < kernel.std() < 0.022  # official trunc_normal_: bounds +-2 = +-100 std
        np.testing.assert_array_equal(to_numpy(dense.bias), 0.0)
    np.testing.assert_array_equal(to_numpy(layer.h.bias), 0.0)
    mlp = Mlp(64)
    mlp.build((None, 32))
    for dense in (mlp.fc1, mlp.fc2):
        assert isinstance(dense.kernel_initializer, keras.initializers.RandomNormal)
        np.testing.assert_array_equal(to_numpy(dense.bias), 0.0)


# -- FocalNetBlock and FocalNetStage --------------------------------------------


def np_block(x, w, block, postln=False, layerscale=False):
    def mod(v):
        sub = {k[len("modulation/"):]: a for k, a in w.items()
               if k.startswith("modulation/")}
        return np_focal_modulation(v, sub, block.config.focal_level,
                                   block.modulation.kernel_sizes)[0]

    def mlp(v):
        return np_gelu(v @ w["mlp/fc1/kernel"] + w["mlp/fc1/bias"]) @ \
            w["mlp/fc2/kernel"] + w["mlp/fc2/bias"]

    def ln(v, name):
        return np_layer_norm(v, w[f"{name}/gamma"], w[f"{name}/beta"])

    g1 = w["gamma_1"] if layerscale else 1.0
    g2 = w["gamma_2"] if layerscale else 1.0
    x = np.asarray(x, np.float64)
    if postln:
        x = x + g1 * ln(mod(x), "norm1")
        return x + g2 * ln(mlp(x), "norm2")
    x = x + g1 * mod(ln(x, "norm1"))
    return x + g2 * mlp(ln(x, "norm2"))


@pytest.mark.parametrize("options", [
    dict(),
    dict(use_layerscale=True, layerscale_value=0.5),
    dict(use_postln=True),
    dict(use_postln=True, use_layerscale=True, focal_level=3),
])
def test_block_matches_numpy(options, rng):
    block = FocalNetBlock(mlp_ratio=2.0, **options)
    x = rng.normal(size=(2, 5, 5, 4)).astype("float32")
    block.build(x.shape)
    if options.get("use_layerscale"):
        np.testing.assert_allclose(to_numpy(block.gamma_1),
                                   options.get("layerscale_value", 1e-4))
    w = randomize(block, rng, scale=0.4)
    expected = np_block(x, w, block, postln=block.config.use_postln,
                        layerscale=block.config.use_layerscale)
    np.testing.assert_allclose(to_numpy(block(x)), expected, rtol=1e-4, atol=1e-4)


def test_block_applies_norm1_by_hand(rng):
    """Pre-norm: the modulation sees norm1(x), not x (the keras-io example
    creates norm1 and never applies it)."""
    block = FocalNetBlock()
    x = (3.0 + 2.0 * rng.normal(size=(1, 4, 4, 8))).astype("float32")
    block.build(x.shape)
    randomize(block, rng, scale=0.3)
    y = x + block.modulation(block.norm1(x))
    expected = y + block.mlp(block.norm2(y))
    np.testing.assert_allclose(to_numpy(block(x)), to_numpy(expected),
                               rtol=1e-5, atol=1e-5)
    without_norm1 = x + block.modulation(x)
    without_norm1 = without_norm1 + block.mlp(block.norm2(without_norm1))
    assert np.abs(to_numpy(block(x)) - to_numpy(without_norm1)).max() > 1e-2


def test_block_params_and_layer_norm_eps():
    block = FocalNetBlock(focal_level=2)
    block.build((None, 56, 56, 96))
    assert block.count_params() == 192 + 40803 + 192 + 74208 == 115395
    scaled = FocalNetBlock(focal_level=2, use_layerscale=True)
    scaled.build((None, 56, 56, 96))
    assert scaled.count_params() == 115395 + 2 * 96
    assert block.norm1.epsilon == block.norm2.epsilon == 1e-5
    assert block.gamma_1 is None


def test_block_stochastic_depth_in_training(rng):
    block = FocalNetBlock(drop_path_rate=0.5)
    x = rng.normal(size=(64, 2, 2, 4)).astype("float32")
    np.testing.assert_array_equal(to_numpy(block(x)), to_numpy(block(x, training=False)))
    keras.utils.set_random_seed(1)
    train = to_numpy(block(x, training=True))
    assert np.abs(train - to_numpy(block(x))).max() > 1e-3
    assert block.drop_path.rate == 0.5


@pytest.mark.parametrize("use_conv_embed", [False, True])
def test_stage_shapes_and_downsampling(use_conv_embed, rng):
    stage = FocalNetStage([0.0, 0.05, 0.1], downsample_dim=16,
                          use_conv_embed=use_conv_embed, focal_level=2)
    x = rng.normal(size=(2, 8, 8, 8)).astype("float32")
    out, maps = stage(x, return_maps=True)
    assert stage.depth == 3 and len(maps) == 3
    assert tuple(out.shape) == (2, 4, 4, 16)
    assert stage.compute_output_shape((None, 8, 8, 8)) == (None, 4, 4, 16)
    assert [b.drop_path.rate for b in stage.blocks] == [0.0, 0.05, 0.1]
    kernel = 3 if use_conv_embed else 2
    assert tuple(stage.downsample.proj.kernel_size) == (kernel, kernel)
    # the blocks run first, at full resolution, then the downsampling
    y = x
    for block in stage.blocks:
        y = block(y)
    np.testing.assert_allclose(to_numpy(out), to_numpy(stage.downsample(y)),
                               rtol=1e-5, atol=1e-5)
    last = FocalNetStage([0.0], downsample_dim=None)
    assert tuple(last(x).shape) == (2, 8, 8, 8) and last.downsample is None


def test_depthwise_reference_is_same_padded_cross_correlation(rng):
    """Sanity check of the numpy helper against Keras itself."""
    conv = keras.layers.DepthwiseConv2D(5, padding="same", use_bias=False)
    x = rng.normal(size=(1, 6, 7, 3)).astype("float32")
    out = to_numpy(conv(x))
    np.testing.assert_allclose(out, np_depthwise_same(x, to_numpy(conv.kernel)),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(focal_window=2), "`focal_window` must be odd"),
    (dict(focal_window=4, focal_level=1), "`focal_window` must be odd"),
    (dict(focal_factor=1), "`focal_factor` must be even"),
    (dict(focal_factor=3), "`focal_factor` must be even"),
])
def test_even_kernels_are_refused(kwargs, match):
    """An even kernel has no centre: 'same' padding would shift the context
    and the official code could not build it."""
    with pytest.raises(ValueError, match=match):
        FocalModulation(**kwargs)
    with pytest.raises(ValueError, match=match):
        focal_kernel_sizes(kwargs.get("focal_level", 2), kwargs.get("focal_window", 3),
                           kwargs.get("focal_factor", 2))
