"""Tests of focal_utils.analysis: level contexts and measured receptive fields."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from focal_utils import FocalModulation, PatchEmbedding
from focal_utils.analysis import (
    level_contexts,
    receptive_field,
    receptive_field_extent,
    receptive_field_radius,
    theoretical_receptive_fields,
    value_and_input_gradient,
)


def _layer_and_input(focal_level=3, channels=8, size=12, **kwargs):
    keras.utils.set_random_seed(0)
    layer = FocalModulation(focal_level=focal_level, **kwargs)
    x = np.random.default_rng(1).standard_normal((2, size, size, channels)).astype("float32")
    layer(x)
    return layer, x


@pytest.mark.parametrize("kwargs", [{}, {"normalize_modulator": True},
                                    {"gate_activation": "softmax"}])
def test_level_contexts_reproduce_the_layer(kwargs):
    layer, x = _layer_and_input(**kwargs)
    parts = level_contexts(layer, x)
    assert len(parts["levels"]) == 3
    assert tuple(parts["gates"].shape) == (2, 12, 12, 4)
    assert tuple(parts["global"].shape) == (2, 1, 1, 8)
    out, maps = layer(x, return_maps=True)
    modulator = layer.h(parts["aggregated"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(modulator),
                               keras.ops.convert_to_numpy(maps["modulator"]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(parts["gates"]),
                               keras.ops.convert_to_numpy(maps["gates"]), atol=1e-6)
    rebuilt = layer.proj(parts["query"] * modulator)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rebuilt),
                               keras.ops.convert_to_numpy(out), rtol=1e-5, atol=1e-6)


def test_levels_are_nested_exact_gelu_depthwise_convs():
    layer, x = _layer_and_input(focal_level=2)
    parts = level_contexts(layer, x)
    ctx = parts["context"]
    for level, focal_layer in enumerate(layer.focal_layers):
        ctx = keras.ops.gelu(focal_layer(ctx), approximate=False)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ctx),
                                   keras.ops.convert_to_numpy(parts["levels"][level]),
                                   atol=1e-6)
    mean = keras.ops.mean(ctx, axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.gelu(mean, approximate=False)),
        keras.ops.convert_to_numpy(parts["global"]), atol=1e-6)


def test_level_contexts_rejects_other_layers():
    with pytest.raises(TypeError, match="FocalModulation"):
        level_contexts(keras.layers.Dense(4), np.zeros((1, 4, 4, 4), "float32"))


def test_theoretical_receptive_fields():
    assert theoretical_receptive_fields([3, 5, 7]) == [3, 7, 13]
    assert theoretical_receptive_fields([3, 5, 7, 9]) == [3, 7, 13, 21]
    assert theoretical_receptive_fields([]) == []


@pytest.mark.parametrize("focal_level", [1, 2, 3])
def test_measured_receptive_field_of_each_level_is_exact(focal_level):
    layer, _ = _layer_and_input(focal_level=focal_level, channels=4, size=31)
    centre = (15, 15)
    radius = 0
    for level, kernel in enumerate(layer.kernel_sizes):
        radius += kernel // 2

        def fn(x, level=level):
            return level_contexts(layer, x)["levels"][level]

        grad = receptive_field(fn, (1, 31, 31, 4), centre)
        assert grad.shape == (31, 31)
        assert receptive_field_radius(grad, centre) == radius
        side = 2 * radius + 1
        assert receptive_field_extent(grad) == (side, side)
        assert side == theoretical_receptive_fields(layer.kernel_sizes)[level]
        # every input inside the square matters (no accidental zeros)
        box = grad[15 - radius:16 + radius, 15 - radius:16 + radius]
        assert np.all(box > 0)


def test_global_level_sees_everything():
    layer, _ = _layer_and_input(focal_level=2, channels=4, size=16)
    grad = receptive_field(lambda x: layer(x), (1, 16, 16, 4), (8, 8))
    assert receptive_field_extent(grad) == (16, 16)
    assert np.all(grad > 0)


@pytest.mark.parametrize("use_conv_embed, side", [(False, 4), (True, 7)])
def test_receptive_field_of_patch_embedding(use_conv_embed, side):
    keras.utils.set_random_seed(0)
    layer = PatchEmbedding(8, patch_size=4, use_conv_embed=use_conv_embed,
                           use_norm=False)
    grad = receptive_field(layer, (1, 32, 32, 3), (3, 3))
    assert receptive_field_extent(grad) == (side, side)
    rows, cols = np.nonzero(grad)
    # token (3, 3) starts at pixel 12, or 12 - 2 with the overlapping stem's padding
    start = 12 - (2 if use_conv_embed else 0)
    assert rows.min() == start and cols.min() == start


def test_receptive_field_argument_checks():
    layer = keras.layers.Identity()
    with pytest.raises(ValueError, match="input_shape"):
        receptive_field(layer, (2, 8, 8, 1), (0, 0))
    with pytest.raises(ValueError, match="position"):
        receptive_field(layer, (1, 8, 8, 1), (8, 0))


def test_value_and_input_gradient_of_a_quadratic():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    value, grad = value_and_input_gradient(lambda t: keras.ops.sum(t * t), x)
    assert value == pytest.approx(float((x * x).sum()))
    np.testing.assert_allclose(grad, 2 * x)


def test_extent_and_radius_of_empty_map():
    assert receptive_field_extent(np.zeros((5, 5))) == (0, 0)
    assert receptive_field_radius(np.zeros((5, 5)), (2, 2)) == -1


def test_jax_backend_gives_the_same_receptive_field():
    """The jax path of value_and_input_gradient, in a fresh interpreter."""
    pytest.importorskip("jax")
    code = (
        "import keras, numpy as np\n"
        "from focal_utils import FocalModulation\n"
        "from focal_utils.analysis import level_contexts, receptive_field, "
        "receptive_field_radius\n"
        "assert keras.backend.backend() == 'jax'\n"
        "layer = FocalModulation(focal_level=2)\n"
        "layer.build((1, 17, 17, 4))\n"
        "g = receptive_field(lambda x: level_contexts(layer, x)['levels'][1], "
        "(1, 17, 17, 4), (8, 8))\n"
        "print(receptive_field_radius(g, (8, 8)))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "3"
