"""The shipped weights: they load, take 0-255 images, return logits, and classify CIFAR-10."""

import os

import numpy as np
import pytest

from focal_utils import data, pretrained, training


def test_weights_ship_with_the_package_and_load():
    path = pretrained.pretrained_path("focalnet_cifar10")
    assert path.suffix == ".keras" and path.stat().st_size < 15e6  # no optimiser state
    model = pretrained.load_pretrained()
    assert model.count_params() == 2_694_687  # focalnet_cifar_conv
    assert model.patch_embed.use_conv_embed and model.patch_size == 4
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    logits = np.asarray(model.predict(images, verbose=0))
    assert logits.shape == (2, 10)
    assert not np.allclose(logits.sum(axis=-1), 1.0)  # logits, not probabilities


@pytest.mark.parametrize("path", [pretrained.training_log_path(), pretrained.PATCH2_RUN_LOG,
                                  pretrained.CROPFLIP_RUN_LOG],
                         ids=["final run", "patch-2 run", "crop-and-flip run"])
def test_training_logs_have_every_epoch_and_clocks(path):
    log = training.read_log(path)
    for column in ("epoch", "accuracy", "loss", "val_accuracy", "val_loss", "elapsed_s"):
        assert column in log
    np.testing.assert_array_equal(log["epoch"], np.arange(len(log["epoch"])))
    assert np.all(np.diff(log["elapsed_s"]) > 0)


def test_unknown_or_missing_weights_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="Available"):
        pretrained.pretrained_path("resnet")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="Chapter 7"):
        pretrained.pretrained_path()


@pytest.mark.skipif(not os.environ.get("FOCAL_CIFAR10_DIR"), reason="needs a local CIFAR-10 copy")
def test_weights_classify_cifar10():
    (_, _), (x_test, y_test) = data.load_cifar10(download=False)
    model = pretrained.load_pretrained()
    logits = np.asarray(model.predict(x_test[:1000], batch_size=250, verbose=0))
    assert (logits.argmax(-1) == y_test[:1000]).mean() > 0.80  # 81.4% for the shipped model
