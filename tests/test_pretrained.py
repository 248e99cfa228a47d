"""The shipped weights: they load, take 0-255 images, return logits, and classify CIFAR-10."""

import os

import keras
import numpy as np
import pytest

from focal_utils import data, list_models, pretrained, training


def test_weights_ship_with_the_package_and_load():
    path = pretrained.pretrained_path()
    assert path.name == "focalnet_cifar_conv.cifar10_e120_ema.keras"
    assert path.suffix == ".keras" and path.stat().st_size < 15e6  # no optimiser state
    model = pretrained.load_pretrained()
    assert model.count_params() == 2_694_687  # focalnet_cifar_conv
    assert model.patch_embed.use_conv_embed and model.patch_size == 4
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    logits = np.asarray(model.predict(images, verbose=0))
    assert logits.shape == (2, 10)
    assert not np.allclose(logits.sum(axis=-1), 1.0)  # logits, not probabilities


@pytest.mark.parametrize("path", [pretrained.training_log_path(), pretrained.PATCH2_RUN_LOG,
                                  pretrained.CROPFLIP_RUN_LOG, pretrained.E60_RUN_LOG],
                         ids=["final run", "patch-2 run", "crop-and-flip run", "60-epoch run"])
def test_training_logs_have_every_epoch_and_clocks(path):
    log = training.read_log(path)
    for column in ("epoch", "accuracy", "loss", "val_accuracy", "val_loss", "elapsed_s"):
        assert column in log
    np.testing.assert_array_equal(log["epoch"], np.arange(len(log["epoch"])))
    assert np.all(np.diff(log["elapsed_s"]) > 0)


def test_names_are_architecture_dot_tag_and_the_old_name_is_an_alias():
    assert pretrained.DEFAULT == "focalnet_cifar_conv.cifar10_e120_ema"
    architecture = pretrained.DEFAULT.split(".")[0]
    assert architecture == pretrained.TRAINED_CIFAR_MODEL
    assert architecture in list_models()
    assert list(pretrained.list_pretrained()) == [pretrained.DEFAULT]
    assert pretrained.pretrained_path("focalnet_cifar10") == pretrained.pretrained_path()
    assert pretrained.training_log_path("focalnet_cifar10").name == \
        "focalnet_cifar_conv.cifar10_e120_ema_log.csv"
    # the shipped model's own config names its architecture
    assert pretrained.load_pretrained("focalnet_cifar10").name == architecture


def test_shipped_model_gives_the_logits_it_gave_before_the_refactor():
    """tests/data/shipped_logits.npz holds the logits of 8 fixed images,
    computed with the package as it was when the weights were trained: the
    layers' names, config keys and arithmetic still load the same model."""
    reference = np.load(os.path.join(os.path.dirname(__file__), "data", "shipped_logits.npz"))
    model = pretrained.load_pretrained()
    logits = keras.ops.convert_to_numpy(model(reference["images"], training=False))
    np.testing.assert_allclose(logits, reference["logits"], rtol=0, atol=2e-5)


@pytest.mark.parametrize("content, match", [
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "an HTML page"),
    (b"PK\x03\x04 truncated", "truncated or corrupted"),
    (None, "truncated or corrupted"),
])
def test_a_bad_keras_file_says_what_is_wrong(tmp_path, content, match):
    path = tmp_path / "model.keras"
    if content is None:  # the first half of the real file
        data_ = pretrained.pretrained_path().read_bytes()
        content = data_[:len(data_) // 2]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as error:
        pretrained.load_pretrained(path)
    assert str(path) in str(error.value)


def test_a_zip_without_a_model_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "notes.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="without a Keras model"):
        pretrained.load_pretrained(path)


def test_unknown_or_missing_weights_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="Available: focalnet_cifar_conv.cifar10_e120_ema"):
        pretrained.pretrained_path("resnet")
    assert pretrained.snapshots_path("focalnet_cifar10").exists()  # the long run kept them
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="Chapter 7"):
        pretrained.pretrained_path()
    (tmp_path / f"{pretrained.DEFAULT}.keras").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="kept no map snapshots.*--ship NAME"):
        pretrained.snapshots_path()  # a run shipped without them
    (tmp_path / f"{pretrained.DEFAULT}_snapshots.npz").write_bytes(b"")  # what --ship writes
    assert pretrained.snapshots_path("focalnet_cifar10") == tmp_path / f"{pretrained.DEFAULT}_snapshots.npz"


@pytest.mark.skipif(not os.environ.get("FOCAL_CIFAR10_DIR"), reason="needs a local CIFAR-10 copy")
def test_weights_classify_cifar10():
    (_, _), (x_test, y_test) = data.load_cifar10(download=False)
    model = pretrained.load_pretrained()
    logits = np.asarray(model.predict(x_test[:1000], batch_size=250, verbose=0))
    assert (logits.argmax(-1) == y_test[:1000]).mean() > 0.84  # 85.0% for the shipped model


def test_every_shipped_file_is_in_the_wheel():
    """Colab installs a wheel: a file under weights/ that pyproject's package-data misses is not there."""
    import pathlib
    import tomllib

    root = pathlib.Path(__file__).resolve().parents[1]
    with open(root / "pyproject.toml", "rb") as f:
        globs = tomllib.load(f)["tool"]["setuptools"]["package-data"]["focal_utils"]
    package = root / "focal_utils"
    shipped = [p.relative_to(package) for p in (package / "weights").rglob("*") if p.is_file()]
    assert shipped
    for path in shipped:
        posix = pathlib.PurePosixPath(path.as_posix())
        assert any(posix.match(g) and len(posix.parts) == len(pathlib.PurePosixPath(g).parts)
                   for g in globs), f"{path} is not in pyproject's package-data {globs}"
