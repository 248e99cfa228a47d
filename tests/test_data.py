"""CIFAR-10 loading (local folder, archive, env var, clear failure) and the pipeline."""

import os
import pickle
import tarfile
import time

import numpy as np
import pytest

from focal_utils import data

PER_FILE = 20


@pytest.fixture(autouse=True)
def _tiny_batch_files(monkeypatch):
    """The fake copies hold 20 images per file instead of 10,000."""
    monkeypatch.setattr(data, "IMAGES_PER_FILE", PER_FILE)


def _write_fake_cifar(root, per_batch=PER_FILE, seed=0):
    """A tiny copy in the official python format: 5 train batches + test."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, data.FOLDER)
    os.makedirs(folder)
    batches = {}
    for name in data.TRAIN_FILES + (data.TEST_FILE,):
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batches[name] = (images, labels)
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({b"data": images.transpose(0, 3, 1, 2).reshape(per_batch, -1),
                         b"labels": labels}, f)
    return folder, batches


def test_reads_folder_archive_and_env_var(tmp_path, monkeypatch):
    folder, batches = _write_fake_cifar(str(tmp_path / "copy"))
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(str(tmp_path / "copy"))
    assert x_train.shape == (100, 32, 32, 3) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train[:20], batches["data_batch_1"][0])
    np.testing.assert_array_equal(x_test, batches["test_batch"][0])
    assert list(y_train[20:40]) == batches["data_batch_2"][1]

    archive = tmp_path / "arch" / data.ARCHIVE
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=data.FOLDER)
    from_archive = data.load_cifar10(str(archive.parent))
    np.testing.assert_array_equal(from_archive[0][0], x_train)
    assert not (archive.parent / data.FOLDER).exists()  # read in place

    monkeypatch.setenv(data.ENV_VAR, folder)  # the batches folder itself
    np.testing.assert_array_equal(data.load_cifar10()[1][1], y_test)


def test_missing_data_fails_fast_with_both_ways_out(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / ".keras"))  # no Keras cache
    monkeypatch.setattr(data, "DOWNLOAD_URL", "https://host.invalid/" + data.ARCHIVE)
    start = time.perf_counter()
    with pytest.raises(data.CIFAR10NotFoundError) as err:
        data.load_cifar10(timeout=2.0)
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert data.ENV_VAR in message and "internet" in message
    assert not list((tmp_path / ".keras" / "datasets").glob("cifar*"))  # nothing half-written

    with pytest.raises(data.CIFAR10NotFoundError, match="No CIFAR-10 copy"):
        data.load_cifar10(str(tmp_path))


def test_splits_and_balanced_subset():
    x = np.arange(50_000 * 1).reshape(-1, 1)
    y = np.arange(50_000) % 10
    splits = data.train_val_test_split(((x, y), (x[:10_000], y[:10_000])))
    assert [len(splits[k][0]) for k in ("train", "val", "test")] == [40_000, 10_000, 10_000]
    assert splits["val"][0][0, 0] == 40_000  # validation = the last 10,000
    xs, ys = data.subset(splits["train"], 500, seed=1)
    assert len(xs) == 500 and np.bincount(ys).tolist() == [50] * 10


def test_pipeline_shapes_augmentation_and_one_hot():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)
    images, labels = next(iter(data.make_dataset((x, y), 16, training=False)))
    assert images.shape == (16, 32, 32, 3) and images.dtype == tf.uint8
    np.testing.assert_array_equal(images.numpy(), x[:16])
    np.testing.assert_array_equal(np.argmax(labels.numpy(), 1), y[:16])
    train = data.make_dataset((x, y), 16, training=True, seed=3)
    batches = list(train)
    assert len(batches) == 4 and batches[0][0].shape == (16, 32, 32, 3)
    seen = np.concatenate([b[0].numpy() for b in batches])
    assert not np.array_equal(seen, x)  # shuffled and augmented
    # A crop of a reflect-padded image keeps the pixel statistics.
    assert abs(seen.mean() - x.mean()) < 3.0
    one = data.augment_image(tf.constant(x[0]))
    assert one.shape == (32, 32, 3) and one.dtype == tf.uint8


def test_random_erasing_fills_rectangles_with_the_given_mean_at_the_given_rate():
    pytest.importorskip("tensorflow")
    x = np.full((512, 32, 32, 3), 7, np.uint8)
    y = np.zeros(512, np.int64)
    fill = (125.0, 123.0, 114.0)
    train = data.make_dataset((x, y), 128, training=True, pad=0, erase_prob=0.25,
                              erase_fill=fill, seed=1)
    images = np.concatenate([b[0].numpy() for b in train])
    erased = images[..., 0] != 7
    hit = erased.any(axis=(1, 2))
    assert 0.15 < hit.mean() < 0.35  # p = 0.25 per image
    area = erased[hit].mean(axis=(1, 2))
    assert area.min() >= 0.01 and area.max() <= 0.34  # 2-33% of the image
    for i in np.flatnonzero(hit)[:20]:  # one axis-aligned rectangle of the fill
        rows, cols = np.flatnonzero(erased[i].any(1)), np.flatnonzero(erased[i].any(0))
        assert erased[i].sum() == len(rows) * len(cols)
        np.testing.assert_array_equal(images[i][erased[i]], np.tile(fill, (erased[i].sum(), 1)))
    # A new epoch erases other images.
    again = np.concatenate([b[0].numpy() for b in train])
    assert not np.array_equal(again[..., 0] != 7, erased)


def test_random_erasing_rejects_bad_settings():
    with pytest.raises(ValueError, match="erase_prob"):
        data.random_erasing(1.5, (0, 0, 0))
    with pytest.raises(ValueError, match="CIFAR10_MEAN"):
        data.random_erasing(0.25, None)


def test_toy_images_are_reproducible_images():
    a, b = data.toy_images(3, seed=1), data.toy_images(3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 255 and a.std() > 10
    assert not np.array_equal(a, data.toy_images(3, seed=2))


def test_the_pipeline_says_how_to_get_tensorflow(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorflow(name, *args, **kwargs):
        if name == "tensorflow":
            raise ImportError("No module named 'tensorflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorflow)
    with pytest.raises(ImportError, match=r"focal_utils\[training\]"):
        data.make_dataset((np.zeros((4, 32, 32, 3), "uint8"), np.zeros(4, "int64")), batch_size=2)
