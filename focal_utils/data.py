"""CIFAR-10 for the book: online or offline loading, splits and a tf.data pipeline.

Loading order (first that works): an explicit ``data_dir``; the folder named by
the environment variable ``FOCAL_CIFAR10_DIR``; Keras' own download
(``keras.datasets.cifar10.load_data``, cached in ``~/.keras/datasets``). A
local copy is the dataset's official python format: a ``cifar-10-batches-py``
folder or the ``cifar-10-python.tar.gz`` archive, read in place (nothing is
extracted or cached, so nothing can be left half-written).
"""

import os
import pickle
import socket
import tarfile
import threading

import numpy as np

ENV_VAR = "FOCAL_CIFAR10_DIR"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)
NUM_TRAIN, NUM_VAL = 40_000, 10_000


class CIFAR10NotFoundError(RuntimeError):
    """Neither a local copy nor the download gave CIFAR-10."""


def _decode_batch(raw):
    batch = pickle.loads(raw, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"], dtype=np.int64)


def _read_folder(folder):
    def read(name):
        with open(os.path.join(folder, name), "rb") as f:
            return _decode_batch(f.read())
    return [read(name) for name in TRAIN_FILES], read(TEST_FILE)


def _read_archive(path):
    with tarfile.open(path, "r:gz") as tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
        missing = [n for n in TRAIN_FILES + (TEST_FILE,) if n not in members]
        if missing:
            raise CIFAR10NotFoundError(f"{path} lacks the batches {missing}.")

        def read(name):
            return _decode_batch(tar.extractfile(members[name]).read())
        return [read(name) for name in TRAIN_FILES], read(TEST_FILE)


def _find_local_copy(root):
    """The batches folder or archive under ``root`` (or ``root`` itself)."""
    candidates = [root, os.path.join(root, FOLDER)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, TEST_FILE)):
            return candidate
    for candidate in (root, os.path.join(root, ARCHIVE)):
        if os.path.isfile(candidate) and candidate.endswith(".tar.gz"):
            return candidate
    return None


def _load_local(root):
    found = _find_local_copy(root)
    if found is None:
        raise CIFAR10NotFoundError(
            f"No CIFAR-10 copy in {root!r}: expected a '{FOLDER}' folder (with "
            f"data_batch_1..5 and test_batch) or a '{ARCHIVE}' archive."
        )
    train, test = _read_archive(found) if os.path.isfile(found) else _read_folder(found)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), test


def _can_reach(host, timeout):
    """Whether ``host`` answers within ``timeout`` s (DNS included, so no hang)."""
    result = []

    def probe():
        try:
            socket.create_connection(host, timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _keras_cache_exists():
    cache = os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    return os.path.isdir(os.path.join(cache, FOLDER)) or any(
        name.startswith(FOLDER) for name in os.listdir(cache)
    ) if os.path.isdir(cache) else False


def _load_keras(timeout):
    import keras

    if not _keras_cache_exists() and not _can_reach(DOWNLOAD_HOST, timeout):
        raise CIFAR10NotFoundError(f"cannot reach {DOWNLOAD_HOST[0]} (offline?)")
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1))


def load_cifar10(data_dir=None, download=True, timeout=5.0):
    """CIFAR-10 as uint8 images (N, 32, 32, 3) and int labels.

    Args:
        data_dir: folder holding ``cifar-10-batches-py`` or
            ``cifar-10-python.tar.gz`` (or that folder/archive itself); if None,
            ``$FOCAL_CIFAR10_DIR`` is used when set.
        download: fall back to ``keras.datasets.cifar10.load_data()``.
        timeout: seconds to wait for the download host before giving up.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: 50,000 and 10,000 images.

    Raises:
        CIFAR10NotFoundError: within seconds, naming both ways out.
    """
    root = data_dir or os.environ.get(ENV_VAR)
    if root:
        return _load_local(os.path.expanduser(root))
    reason = "downloading was disabled"
    if download:
        try:
            return _load_keras(timeout)
        except CIFAR10NotFoundError as err:
            reason = str(err)
        except Exception as err:  # network errors come in many types
            reason = f"the download failed: {err}"
    raise CIFAR10NotFoundError(
        f"CIFAR-10 could not be loaded ({reason}). Either connect to the internet "
        "so that keras.datasets.cifar10.load_data() can download it, or point "
        f"the environment variable {ENV_VAR} (or data_dir=...) at a folder "
        f"holding '{FOLDER}' or '{ARCHIVE}'."
    )


def train_val_test_split(data, num_train=NUM_TRAIN):
    """The book's splits: the first ``num_train`` training images for training,
    the rest for validation; the test set is held out until the end."""
    (x_train, y_train), (x_test, y_test) = data
    return {
        "train": (x_train[:num_train], y_train[:num_train]),
        "val": (x_train[num_train:], y_train[num_train:]),
        "test": (x_test, y_test),
    }


def subset(split, size, seed=0):
    """A class-balanced random subset of ``size`` examples of ``(x, y)``."""
    x, y = split
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = size // len(classes)
    index = np.concatenate([
        rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes
    ])
    rng.shuffle(index)
    return x[index], y[index]


def augment_image(image, pad=4):
    """Random crop after ``pad`` px reflect padding, then a random horizontal flip."""
    import tensorflow as tf

    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    image = tf.image.random_crop(padded, tf.shape(image))
    return tf.image.random_flip_left_right(image)


def make_dataset(split, batch_size=128, training=False, num_classes=10,
                 seed=0, pad=4, erase_prob=0.0, erase_fill=None):
    """A ``tf.data.Dataset`` of ``(images, one-hot labels)`` batches.

    Training: shuffled each epoch, per-image random crop (``pad`` px reflect
    padding) and flip in parallel, then batched; with ``erase_prob`` > 0, each
    image then has that chance of losing a random rectangle (2-33% of its
    area) to ``erase_fill`` (per-channel values; the dataset mean makes it
    Cutout, since the model's standardisation maps the mean to 0). Batches are
    prefetched, so the CPU time goes to the model, not to Python. Images stay
    0-255: the model standardises them itself.
    """
    import tensorflow as tf

    x, y = split
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda image, label: (augment_image(image, pad), label),
                    num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if training and erase_prob > 0:
        erase = random_erasing(erase_prob, erase_fill, seed)
        ds = ds.map(lambda images, labels: (erase(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def random_erasing(prob, fill, seed=None):
    """Keras' ``RandomErasing`` (Zhong et al., 2020) for 0-255 image batches.

    Each image, with probability ``prob``, gets a random rectangle of 2-33%
    of its area set to ``fill`` (per-channel values).
    """
    import keras

    if not 0 < prob <= 1:
        raise ValueError(f"erase_prob must be in (0, 1], got {prob}.")
    if fill is None or len(fill) != 3:
        raise ValueError("erase_fill must be three per-channel values, e.g. the "
                         f"dataset mean registry.CIFAR10_MEAN; got {fill!r}.")
    return keras.layers.RandomErasing(
        factor=(prob, prob), scale=(0.02, 0.33), fill_value=list(fill),
        value_range=(0, 255), seed=seed)


def toy_images(n, seed=0, size=32):
    """Synthetic 0-255 float images: a disc on a colour gradient, plus noise.

    For chapters that need image-like inputs with structure (edges, flat
    regions) but no dataset.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for _ in range(n):
        top, bottom, disc = rng.uniform(0, 255, (3, 3))
        image = top + (bottom - top) * yy[..., None]
        cy, cx = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.15, 0.3)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        image[inside] = disc
        image += rng.normal(0, 8, image.shape)
        images.append(np.clip(image, 0, 255))
    return np.stack(images).astype("float32")
