"""The FocalNet model: shapes, structure, exact parameter counts, numbers."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from focal_utils import CIFAR10_MEAN, CIFAR10_STD, FocalNet, create_model, model_config

SMALL = dict(num_classes=7, image_size=32, patch_size=4, embed_dim=8,
             depths=(1, 1, 2), focal_levels=(1, 2, 3), drop_path_rate=0.2)


def expected_params(num_classes, in_channels, patch_size, embed_dim, depths,
                    focal_levels, focal_windows=3, mlp_ratio=4.0,
                    use_conv_embed=False, use_layerscale=False, **_):
    """Parameter count of a FocalNet, summed layer by layer from the paper."""
    stages = len(depths)
    levels = [focal_levels] * stages if isinstance(focal_levels, int) else focal_levels
    windows = [focal_windows] * stages if isinstance(focal_windows, int) else focal_windows

    def embed(c_in, c_out, patch):
        k = 2 * patch - 1 if use_conv_embed else patch
        return k * k * c_in * c_out + c_out + 2 * c_out  # conv + bias + LN

    def block(c, level, window):
        kernels = [2 * i + window for i in range(level)]
        out = 2 * c + level + 1
        modulation = (c * out + out + sum(k * k * c for k in kernels)
                      + 2 * (c * c + c))
        hidden = int(c * mlp_ratio)
        mlp = c * hidden + hidden + hidden * c + c
        return 4 * c + modulation + mlp + (2 * c if use_layerscale else 0)

    dims = [embed_dim * 2**i for i in range(stages)]
    total = embed(in_channels, embed_dim, patch_size)
    for i, (depth, c) in enumerate(zip(depths, dims)):
        total += depth * block(c, levels[i], windows[i])
        if i < stages - 1:
            total += embed(c, dims[i + 1], 2)
    total += 2 * dims[-1]  # final norm
    if num_classes:
        total += dims[-1] * num_classes + num_classes
    return total


def small_model(**overrides):
    config = dict(SMALL, **overrides)
    model = FocalNet(**config)
    model.build((None, 32, 32, config.get("in_channels", 3)))
    return model


def test_small_model_shapes_and_params(rng):
    model = small_model()
    assert model.count_params() == expected_params(in_channels=3, **SMALL)
    images = rng.uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    logits = model(images)
    assert tuple(logits.shape) == (2, 7)
    features = model.forward_features(images)
    assert tuple(features.shape) == (2, 2, 2, 32)  # 32 / (4 * 2 * 2), 8 * 2**2
    assert model.stage_dims == [8, 16, 32] and model.num_features == 32
    assert model.compute_output_shape((None, 32, 32, 3)) == (None, 7)
    # the head: mean over the grid, then a linear layer (logits, no softmax)
    pooled = model.forward_head(features, pre_logits=True)
    np.testing.assert_allclose(to_numpy(pooled), to_numpy(features).mean((1, 2)),
                               rtol=1e-5, atol=1e-6)
    head = to_numpy(pooled) @ to_numpy(model.head.kernel) + to_numpy(model.head.bias)
    np.testing.assert_allclose(to_numpy(logits), head, rtol=1e-4, atol=1e-5)
    assert model.head.activation is keras.activations.linear


@pytest.mark.parametrize("overrides", [
    dict(use_conv_embed=True),
    dict(use_layerscale=True),
    dict(focal_levels=2, focal_windows=(1, 3, 5)),
    dict(mlp_ratio=2.0, num_classes=0),
])
def test_param_count_formula(overrides):
    model = small_model(**overrides)
    config = dict(SMALL, **overrides)
    assert model.count_params() == expected_params(in_channels=3, **config)


def test_focalnet_cifar_params_and_input():
    model = create_model("focalnet_cifar")
    assert isinstance(model, FocalNet)
    assert model.count_params() == 2_481_247
    assert model.count_params() == expected_params(
        **{k: v for k, v in model_config("focalnet_cifar").items()}, in_channels=3)
    assert model.stage_dims == [64, 128, 256]
    assert [s.depth for s in model.stages] == [2, 3, 2]
    assert model.input_mean == list(CIFAR10_MEAN)
    assert model.input_std == list(CIFAR10_STD)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    logits = model(images)  # 0-255 integers, preprocessing inside
    assert tuple(logits.shape) == (2, 10)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_preprocessing_inside_the_model(rng):
    mean, std = (120.0, 110.0, 100.0), (60.0, 50.0, 40.0)
    raw = small_model(input_mean=mean, input_std=std)
    plain = small_model()
    plain.set_weights(raw.get_weights())
    images = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    standardised = (images - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(to_numpy(raw(images)),
                               to_numpy(plain(standardised.astype("float32"))),
                               rtol=1e-4, atol=1e-5)


def test_features_without_head(rng):
    model = small_model(num_classes=0)
    assert model.head is None
    images = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    out = model(images)
    assert tuple(out.shape) == (2, 32)
    np.testing.assert_allclose(to_numpy(out),
                               to_numpy(model.forward_features(images)).mean((1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_forward_features_by_hand(rng):
    """patch embedding, the stages (each downsampling at its end except the
    last), then the final LayerNorm."""
    model = small_model()
    images = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    x = model.patch_embed(images)
    shapes = [tuple(x.shape)]
    for stage in model.stages:
        for block in stage.blocks:
            x = block(x)
        if stage.downsample is not None:
            x = stage.downsample(x)
        shapes.append(tuple(x.shape))
    x = model.norm(x)
    assert shapes == [(2, 8, 8, 8), (2, 4, 4, 16), (2, 2, 2, 32), (2, 2, 2, 32)]
    np.testing.assert_allclose(to_numpy(model.forward_features(images)), to_numpy(x),
                               rtol=1e-5, atol=1e-5)
    assert [s.downsample is not None for s in model.stages] == [True, True, False]


def test_structure_of_the_imagenet_config():
    """Checked without building: layers exist after the constructor."""
    model = FocalNet(**model_config("focalnet_tiny_srf"))
    assert model.depths == [2, 2, 6, 2]
    assert model.stage_dims == [96, 192, 384, 768]
    assert [s.downsample.embed_dim if s.downsample else None for s in model.stages] == [
        192, 384, 768, None]
    rates = [b.drop_path.rate for s in model.stages for b in s.blocks]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.2, 12), atol=1e-12)
    blocks = [b for s in model.stages for b in s.blocks]
    assert all(b.modulation.kernel_sizes == [3, 5] for b in blocks)
    assert not any(b.config.use_postln or b.config.use_layerscale for b in blocks)
    lrf = FocalNet(**model_config("focalnet_base_lrf"))
    assert all(b.modulation.kernel_sizes == [3, 5, 7]
               for s in lrf.stages for b in s.blocks)
    assert lrf.stage_dims == [128, 256, 512, 1024]


def test_every_layer_norm_has_eps_1e5():
    model = small_model(use_conv_embed=True, use_postln=True,
                        use_postln_in_modulation=True)
    norms = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.LayerNormalization)]
    # patch_embed, 2 downsamplings, final; per block norm1, norm2, modulation ln
    assert len(norms) == 4 + 3 * 4
    assert {layer.epsilon for layer in norms} == {1e-5}


def test_overlapping_embedding_model(rng):
    model = small_model(use_conv_embed=True)
    assert tuple(model.patch_embed.proj.kernel_size) == (7, 7)
    assert model.patch_embed.padding == 2
    for stage in model.stages[:-1]:
        assert tuple(stage.downsample.proj.kernel_size) == (3, 3)
        assert tuple(stage.downsample.proj.strides) == (2, 2)
        assert stage.downsample.padding == 1
    logits = model(rng.uniform(size=(2, 32, 32, 3)).astype("float32"))
    assert tuple(logits.shape) == (2, 7)


def test_dense_kernels_trunc_normal_biases_zero():
    model = small_model(num_classes=10)
    denses = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.Dense) and layer.name != "h"]
    assert len(denses) == 1 + 4 * 4  # head; f, proj, fc1, fc2 per block
    for layer in denses:
        init = layer.kernel_initializer
        assert isinstance(init, keras.initializers.RandomNormal), layer.path
        assert init.stddev == 0.02
        np.testing.assert_array_equal(to_numpy(layer.bias), 0.0)


def test_training_flag_changes_nothing_without_dropout(rng):
    model = small_model(drop_path_rate=0.0)
    images = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(model(images, training=True)),
                               to_numpy(model(images, training=False)),
                               rtol=1e-5, atol=1e-6)
    dropped = small_model(drop_path_rate=0.5)
    keras.utils.set_random_seed(3)
    assert np.abs(to_numpy(dropped(images, training=True))
                  - to_numpy(dropped(images))).max() > 0


def test_non_square_images(rng):
    model = FocalNet(num_classes=2, image_size=(16, 24), patch_size=4, embed_dim=8,
                     depths=(1, 1))
    model.build((None, 16, 24, 3))
    out = model.forward_features(rng.uniform(size=(2, 16, 24, 3)).astype("float32"))
    assert tuple(out.shape) == (2, 2, 3, 16)
    assert model.compute_output_shape((None, 16, 24, 3)) == (None, 2)
