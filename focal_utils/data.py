"""CIFAR-10 for the book: online or offline loading, splits and a tf.data pipeline.

Loading order (first that works): an explicit ``data_dir``; the folder named by
the environment variable ``FOCAL_CIFAR10_DIR``; Keras' own download
(the official archive, md5-checked, cached where Keras caches datasets). A
local copy is the dataset's official python format: a ``cifar-10-batches-py``
folder or the ``cifar-10-python.tar.gz`` archive, read in place (nothing is
extracted or cached, so nothing can be left half-written).
"""

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import threading
import time
import zlib

import numpy as np

ENV_VAR = "FOCAL_CIFAR10_DIR"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
# CIFAR-10 channel statistics on the 0-255 scale: models that carry them
# take images exactly as the dataset gives them.
CIFAR10_MEAN = (125.307, 122.950, 113.865)
CIFAR10_STD = (62.993, 62.089, 66.705)
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
IMAGES_PER_FILE = 10_000  # every batch file of the official copy
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR page
FOLDER = "cifar-10-batches-py"
DOWNLOAD_URL = f"https://www.cs.toronto.edu/~kriz/{ARCHIVE}"
NUM_TRAIN, NUM_VAL = 40_000, 10_000


class CIFAR10NotFoundError(RuntimeError):
    """Neither a local copy nor the download gave CIFAR-10."""


class CIFAR10CorruptError(CIFAR10NotFoundError):
    """A CIFAR-10 file is damaged (its path is in the message)."""


def _corrupt(where, problem):
    return CIFAR10CorruptError(
        f"The CIFAR-10 file {where} is damaged: {problem}. Delete it and "
        "download the dataset again (or point data_dir / $"
        f"{ENV_VAR} at an intact copy).")


def _decode_batch(raw, where):
    """Images ``(N, 32, 32, 3)`` uint8 and labels of one batch file, checked."""
    try:
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as err:  # truncated: UnpicklingError, EOFError, ...
        raise _corrupt(where, f"it cannot be unpickled ({type(err).__name__}: "
                              f"{err}); a truncated copy?") from err
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= set(batch):
        raise _corrupt(where, "it is not a CIFAR-10 batch (no b'data' and "
                              "b'labels' entries)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.shape != (IMAGES_PER_FILE, 3 * 32 * 32):
        raise _corrupt(where, f"its images have shape {data.shape} and dtype "
                              f"{data.dtype}, expected ({IMAGES_PER_FILE}, 3072) uint8")
    if labels.shape != (IMAGES_PER_FILE,) or labels.dtype.kind not in "iu":
        raise _corrupt(where, f"its labels have shape {labels.shape} and dtype "
                              f"{labels.dtype}, expected {IMAGES_PER_FILE} integers")
    bad = (labels < 0) | (labels >= len(CLASS_NAMES))
    if bad.any():
        raise _corrupt(where, f"{int(bad.sum())} labels lie outside 0-"
                              f"{len(CLASS_NAMES) - 1} (e.g. {int(labels[bad][0])})")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels.astype(np.int64)


def _read_folder(folder):
    def read(name):
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as err:
            raise _corrupt(path, f"it cannot be read ({err})") from err
        return _decode_batch(raw, path)
    return [read(name) for name in TRAIN_FILES], read(TEST_FILE)


def _read_archive(path):
    # Decompress it all first: gzip checks its CRC and length at the end of
    # the stream, so flipped or missing bytes are caught here, by name.
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except (OSError, EOFError, zlib.error, tarfile.TarError) as err:
        raise _corrupt(path, f"it is not a complete tar.gz archive "
                             f"({type(err).__name__}: {err})") from err
    with tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
        missing = [n for n in TRAIN_FILES + (TEST_FILE,) if n not in members]
        if missing:
            raise CIFAR10NotFoundError(f"{path} lacks the batches {missing}.")

        def read(name):
            return _decode_batch(tar.extractfile(members[name]).read(),
                                 f"{path} (member {members[name].name})")
        return [read(name) for name in TRAIN_FILES], read(TEST_FILE)


def _find_local_copy(root):
    """The batches folder or archive under ``root`` (or ``root`` itself)."""
    for candidate in (root, os.path.join(root, FOLDER)):
        if os.path.isfile(os.path.join(candidate, TEST_FILE)):
            return candidate
    for candidate in (root, os.path.join(root, ARCHIVE)):
        if os.path.isfile(candidate) and candidate.endswith(".tar.gz"):
            return candidate
    return None


def _concatenate(train, test):
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), test


def _load_local(root):
    found = _find_local_copy(root)
    if found is None:
        raise CIFAR10NotFoundError(
            f"No CIFAR-10 copy in {root!r}: expected a '{FOLDER}' folder (with "
            f"data_batch_1..5 and test_batch) or a '{ARCHIVE}' archive."
        )
    return _concatenate(*(_read_archive(found) if os.path.isfile(found)
                          else _read_folder(found)))


def keras_cache_dirs():
    """Where Keras keeps downloads: ``$KERAS_HOME/datasets`` (default
    ``~/.keras/datasets``), and ``/tmp/.keras/datasets``, Keras' fallback
    when that folder is not writable. The first is where we download."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    fallback = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                            ".keras")
    if not os.access(home, os.W_OK) and os.path.exists(home):
        home = fallback
    dirs = [os.path.join(home, "datasets"), os.path.join(fallback, "datasets")]
    return list(dict.fromkeys(dirs))


def _cached_copy():
    """A complete copy in a Keras cache: Keras' extracted folder or our archive."""
    for cache in keras_cache_dirs():
        for folder in (os.path.join(cache, "cifar-10-batches-py-target", FOLDER),
                       os.path.join(cache, FOLDER)):
            if all(os.path.isfile(os.path.join(folder, n))
                   for n in TRAIN_FILES + (TEST_FILE,)):
                return folder
        archive = os.path.join(cache, ARCHIVE)
        if os.path.isfile(archive):
            if _md5(archive) == ARCHIVE_MD5:
                return archive
            os.remove(archive)  # a partial or damaged download: fetch it again
    return None


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url, dest, timeout=5.0, deadline=600.0, md5=None):
    """Download ``url`` to ``dest``, all of it within ``deadline`` seconds.

    ``timeout`` bounds the connection and every wait for more bytes;
    ``deadline`` the whole transfer, however slowly the server trickles.
    The bytes go to ``dest + ".part"``, are checked against ``md5`` and
    only then renamed to ``dest``, so a cache never holds half a file.

    Raises:
        CIFAR10NotFoundError: on a timeout, a network error or a bad checksum.
    """
    import urllib.request

    part, start = dest + ".part", time.monotonic()
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    result, cancel = {}, threading.Event()

    def fetch():  # in a thread: name resolution has no timeout of its own
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(part, "wb") as f:
                while not cancel.is_set():
                    chunk = response.read(1 << 16)
                    if not chunk:
                        result["done"] = True
                        return
                    f.write(chunk)
        except Exception as err:  # network errors come in many types
            result["error"] = err

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(deadline)
    cancel.set()
    elapsed = time.monotonic() - start
    if "done" not in result:
        if os.path.exists(part) and not thread.is_alive():
            os.remove(part)
        reason = result.get("error") or f"it did not finish within the deadline of {deadline:g} s"
        raise CIFAR10NotFoundError(f"downloading {url} failed after {elapsed:.1f} s: {reason}")
    if md5 is not None and _md5(part) != md5:
        os.remove(part)
        raise CIFAR10NotFoundError(
            f"the download of {url} has the wrong checksum (expected md5 {md5}); "
            "the file was deleted, try again")
    os.replace(part, dest)
    return dest


def _load_keras_cache_or_download(timeout, deadline):
    found = _cached_copy()
    if found is None:
        found = download_file(DOWNLOAD_URL, os.path.join(keras_cache_dirs()[0], ARCHIVE),
                         timeout=timeout, deadline=deadline, md5=ARCHIVE_MD5)
    return _load_local(found)


def load_cifar10(data_dir=None, download=True, timeout=5.0, deadline=600.0):
    """CIFAR-10 as uint8 images (N, 32, 32, 3) and int labels 0-9.

    Args:
        data_dir: folder holding ``cifar-10-batches-py`` or
            ``cifar-10-python.tar.gz`` (or that folder/archive itself); if None,
            ``$FOCAL_CIFAR10_DIR`` is used when set.
        download: if no local copy is given, use the Keras cache
            (``keras_cache_dirs()``) or download the official archive there
            (its md5 checked).
        timeout: seconds to wait for the server to connect or send more.
        deadline: seconds for the whole download (163 MB).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: 50,000 and 10,000 images.

    Raises:
        CIFAR10CorruptError: a file is damaged (named in the message).
        CIFAR10NotFoundError: no copy, and no download within ``timeout`` /
            ``deadline``; the message names both ways out.
    """
    root = data_dir or os.environ.get(ENV_VAR)
    if root:
        return _load_local(os.path.expanduser(root))
    reason = "downloading was disabled"
    if download:
        try:
            return _load_keras_cache_or_download(timeout, deadline)
        except CIFAR10CorruptError:
            raise
        except CIFAR10NotFoundError as err:
            reason = str(err)
    raise CIFAR10NotFoundError(
        f"CIFAR-10 could not be loaded ({reason}). Either connect to the internet "
        "so that it can be downloaded, or point "
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
    """A class-balanced random subset of ``size`` examples of ``(x, y)``.

    Each class gets ``size // classes`` examples, so ``size`` must be at least
    the number of classes, and no class may have fewer than its share.
    """
    x, y = split
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"`split` has {len(x)} images but {len(y)} labels.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) == 0:
        raise ValueError("`split` is empty: there is nothing to take a subset of.")
    per_class = size // len(classes)
    if per_class < 1:
        raise ValueError(
            f"A class-balanced subset of size={size} of {len(classes)} classes "
            f"would be empty: pass size >= {len(classes)}.")
    if per_class > counts.min():
        raise ValueError(
            f"size={size} needs {per_class} examples per class, but class "
            f"{classes[counts.argmin()]} has only {counts.min()} in `split`. "
            f"Pass size <= {counts.min() * len(classes)}.")
    rng = np.random.default_rng(seed)
    index = np.concatenate([
        rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes
    ])
    rng.shuffle(index)
    return x[index], y[index]


def _tensorflow():
    """TensorFlow, which the input pipeline needs on every Keras backend."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(
            "The training input pipeline is tf.data, so it needs TensorFlow on every Keras "
            "backend (JAX included): `pip install focal_utils[training]` or `pip install "
            "tensorflow-cpu`."
        ) from None
    return tf


def augment_image(image, pad=4):
    """Random crop after ``pad`` px reflect padding, then a random horizontal flip."""
    tf = _tensorflow()

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
    tf = _tensorflow()

    x, y = split
    if len(x) != len(y):
        raise ValueError(f"`split` has {len(x)} images but {len(y)} labels.")
    if len(x) == 0:
        raise ValueError("`split` is empty: a dataset of it would have no batches.")
    if training and batch_size > len(x):
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(x)} training "
            "examples; a training dataset drops incomplete batches, so it would "
            f"have none. Pass batch_size <= {len(x)}.")
    labels = np.asarray(y)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Labels must lie in 0-{num_classes - 1} (num_classes={num_classes}); "
            f"got {labels.min()}..{labels.max()}. One-hot encoding would turn the "
            "others into all-zero rows.")
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
                         f"dataset mean data.CIFAR10_MEAN; got {fill!r}.")
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
