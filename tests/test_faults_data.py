"""Fault injection for data loading: every kind of damaged file, stalled
downloads, the Keras cache, and datasets that would be empty.

Each damaged file must raise an error that names it; nothing may come back
silently wrong. The download tests run against servers on 127.0.0.1 only.
"""

import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
import time

import numpy as np
import pytest

from focal_utils import data

PER_FILE = 20


@pytest.fixture(autouse=True)
def _tiny_batch_files(monkeypatch):
    monkeypatch.setattr(data, "IMAGES_PER_FILE", PER_FILE)
    monkeypatch.delenv(data.ENV_VAR, raising=False)


def _batch_bytes(images=None, labels=None, seed=0):
    rng = np.random.default_rng(seed)
    if images is None:
        images = rng.integers(0, 256, (PER_FILE, 3 * 32 * 32), dtype=np.uint8)
    if labels is None:
        labels = [int(v) for v in rng.integers(0, 10, len(images))]
    return pickle.dumps({b"data": images, b"labels": labels})


def _write_copy(folder, overrides=None):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(data.TRAIN_FILES + (data.TEST_FILE,)):
        raw = (overrides or {}).get(name)
        raw = _batch_bytes(seed=i) if raw is None else raw
        with open(os.path.join(folder, name), "wb") as f:
            f.write(raw)
    return folder


def _archive_bytes(tmp_path):
    folder = _write_copy(str(tmp_path / "src" / data.FOLDER))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=data.FOLDER)
    return buffer.getvalue()


rng = np.random.default_rng(0)
GOOD = rng.integers(0, 256, (PER_FILE, 3072), dtype=np.uint8)
# name -> (bytes of a damaged data_batch_3, words the error must contain)
DAMAGED_BATCHES = {
    "truncated": (_batch_bytes()[:5000], "truncated"),
    "empty": (b"", "unpickled"),
    "not a batch": (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch"),
    "label -1": (_batch_bytes(GOOD, [-1] + [0] * (PER_FILE - 1)), "outside 0-9"),
    "label 10": (_batch_bytes(GOOD, [10] + [0] * (PER_FILE - 1)), "outside 0-9"),
    "extra images": (_batch_bytes(np.concatenate([GOOD, GOOD[:10]])), "shape (30, 3072)"),
    "fewer labels": (_batch_bytes(GOOD, [0] * (PER_FILE - 1)), "labels have shape"),
    "wrong image shape": (_batch_bytes(GOOD[:, :3000]), "shape (20, 3000)"),
    "float images": (_batch_bytes(GOOD.astype(np.float32)), "float32"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_BATCHES))
def test_every_damaged_batch_file_is_named_in_the_error(tmp_path, case):
    raw, words = DAMAGED_BATCHES[case]
    folder = _write_copy(str(tmp_path / data.FOLDER), {"data_batch_3": raw})
    with pytest.raises(data.CIFAR10CorruptError) as err:
        data.load_cifar10(str(tmp_path))
    message = str(err.value)
    assert os.path.join(folder, "data_batch_3") in message and words in message
    assert "Delete it" in message


def test_a_missing_batch_file_is_named(tmp_path):
    folder = _write_copy(str(tmp_path / data.FOLDER))
    os.remove(os.path.join(folder, "data_batch_4"))
    with pytest.raises(data.CIFAR10CorruptError, match="data_batch_4"):
        data.load_cifar10(folder)


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes", "not gzip"])
def test_a_damaged_archive_is_named_and_not_called_incomplete(tmp_path, damage):
    raw = _archive_bytes(tmp_path)
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "flipped bytes":
        raw = bytearray(raw)
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            raw[i] ^= 0xFF
        raw = bytes(raw)
    else:
        raw = b"<html>not found</html>"
    path = tmp_path / "arch" / data.ARCHIVE
    path.parent.mkdir()
    path.write_bytes(raw)
    with pytest.raises(data.CIFAR10CorruptError) as err:
        data.load_cifar10(str(path.parent))
    assert str(path) in str(err.value) and "lacks" not in str(err.value)


def test_a_bad_member_of_an_archive_is_named(tmp_path):
    folder = _write_copy(str(tmp_path / "src" / data.FOLDER),
                         {"test_batch": DAMAGED_BATCHES["label 10"][0]})
    path = tmp_path / data.ARCHIVE
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=data.FOLDER)
    with pytest.raises(data.CIFAR10CorruptError, match=r"member cifar-10-batches-py/test_batch"):
        data.load_cifar10(str(path))


# -- the Keras cache and the download ------------------------------------------
def test_keras_cache_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(data, "DOWNLOAD_URL", "http://127.0.0.1:9/unreachable")
    assert data.keras_cache_dirs()[0] == str(tmp_path / "kh" / "datasets")
    # Keras 3's layout after keras.datasets.cifar10.load_data():
    _write_copy(str(tmp_path / "kh" / "datasets" / "cifar-10-batches-py-target" / data.FOLDER))
    (x, y), _ = data.load_cifar10(timeout=1.0)
    assert x.shape == (5 * PER_FILE, 32, 32, 3)


def test_keras_cache_falls_back_to_the_temp_folder_like_keras(tmp_path, monkeypatch):
    home = str(tmp_path / "readonly")
    os.makedirs(home)
    monkeypatch.setenv("KERAS_HOME", home)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(home)
                        and real_access(p, mode))  # as for a user without write access
    assert data.keras_cache_dirs()[0] == os.path.join("/tmp", ".keras", "datasets")


class _Server:
    """A tiny HTTP server on 127.0.0.1 that serves ``body`` (optionally slowly)."""

    def __init__(self, body, delay_per_chunk=0.0, chunk=1 << 16):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(0, len(body), chunk):
                    if outer.closed:
                        return
                    time.sleep(delay_per_chunk)
                    self.wfile.write(body[i:i + chunk])

            def log_message(self, *args):
                pass

        self.requests, self.closed = 0, False
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/{data.ARCHIVE}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_goes_to_the_keras_cache_and_checks_the_md5(tmp_path, monkeypatch):
    body = _archive_bytes(tmp_path)
    server = _Server(body)
    try:
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
        monkeypatch.setattr(data, "DOWNLOAD_URL", server.url)
        cache = tmp_path / "kh" / "datasets"
        cache.mkdir(parents=True)
        (cache / data.ARCHIVE).write_bytes(body[:100])  # a leftover partial download
        monkeypatch.setattr(data, "ARCHIVE_MD5", hashlib.md5(body).hexdigest())
        (x, _), _ = data.load_cifar10(timeout=5.0)
        assert x.shape == (5 * PER_FILE, 32, 32, 3) and server.requests == 1
        assert (cache / data.ARCHIVE).read_bytes() == body
        data.load_cifar10()  # now from the cache
        assert server.requests == 1

        (cache / data.ARCHIVE).unlink()
        monkeypatch.setattr(data, "ARCHIVE_MD5", "0" * 32)  # the server sends a wrong file
        with pytest.raises(data.CIFAR10NotFoundError, match="wrong checksum"):
            data.load_cifar10()
        assert not list(cache.iterdir())  # nothing half-checked is kept
    finally:
        server.close()


def test_official_md5_is_the_published_one():
    assert data.ARCHIVE_MD5 == "c58f30108f718f92721af3b95e74349a"


def test_a_server_that_accepts_and_never_answers_fails_within_the_timeout(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
        monkeypatch.setattr(
            data, "DOWNLOAD_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/x.tar.gz")
        start = time.monotonic()
        with pytest.raises(data.CIFAR10NotFoundError) as err:
            data.load_cifar10(timeout=1.0, deadline=30.0)
        assert time.monotonic() - start < 5.0
        assert accepted and data.ENV_VAR in str(err.value)
    finally:
        listener.close()


def test_a_trickling_download_stops_at_the_deadline(tmp_path, monkeypatch):
    body = b"x" * 4096
    server = _Server(body, delay_per_chunk=0.3, chunk=64)  # 64 B every 0.3 s: ~20 s
    try:
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
        monkeypatch.setattr(data, "DOWNLOAD_URL", server.url)
        start = time.monotonic()
        with pytest.raises(data.CIFAR10NotFoundError, match="deadline of 2 s"):
            data.load_cifar10(timeout=1.0, deadline=2.0)
        assert time.monotonic() - start < 4.0  # each read was on time: only the deadline stops it
        assert not (tmp_path / "kh" / "datasets" / data.ARCHIVE).exists()
    finally:
        server.close()


# -- empty datasets -------------------------------------------------------------
def test_a_subset_that_would_be_empty_or_unbalanced_is_refused():
    x, y = np.zeros((100, 2)), np.arange(100) % 10
    with pytest.raises(ValueError, match="size >= 10"):
        data.subset((x, y), 5)
    with pytest.raises(ValueError, match="only 10"):
        data.subset((x, y), 200)
    with pytest.raises(ValueError, match="empty"):
        data.subset((x[:0], y[:0]), 10)
    assert len(data.subset((x, y), 10)[0]) == 10


def test_make_dataset_refuses_empty_training_and_bad_labels():
    pytest.importorskip("tensorflow")
    x = np.zeros((10, 32, 32, 3), np.uint8)
    y = np.arange(10) % 10
    with pytest.raises(ValueError, match="batch_size=16 is larger than the 10"):
        data.make_dataset((x, y), 16, training=True)
    assert len(list(data.make_dataset((x, y), 16))) == 1  # evaluation keeps the rest
    with pytest.raises(ValueError, match="empty"):
        data.make_dataset((x[:0], y[:0]), 4)
    for bad in (-1, 10):
        with pytest.raises(ValueError, match="0-9"):
            data.make_dataset((x, np.full(10, bad)), 4)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        data.make_dataset((x, y[:9]), 4)
