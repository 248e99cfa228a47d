"""The token-mixer comparison of chapter 9: its stored runs, and the maps of attention next to gates.

``scripts/train_mixers.py`` trains the book's CIFAR model with each token
mixer of ``focal_utils.layers.mixers`` and ships one table row per run
(``TABLE_FILE``: ``weights/mixer_comparison.csv``) and, into ``MIXER_DIR``,
each run's per-epoch log, its model and its test predictions.
``scripts/benchmark_mixers.py`` adds the speed of every variant, measured in
one run (``focal_utils.speed.read_mixer_speed``). Chapter 9 reads them here
and never retrains.

The logs' ``elapsed_s`` is wall-clock time on a machine that was also doing
other work during hours of training, so ``idle_seconds`` gives a second time
axis: epochs multiplied by the seconds that one epoch's steps take on an idle
machine, from the benchmark.
"""

import csv
import math

import numpy as np
from keras import ops

from focal_utils.pretrained import WEIGHTS_DIR

MIXER_DIR = WEIGHTS_DIR / "mixers"
TABLE_FILE = WEIGHTS_DIR / "mixer_comparison.csv"
TABLE_COLUMNS = ("model", "mixer", "seed", "epochs", "params", "flops", "test_accuracy",
                 "train_images_per_s", "wall_s")
_INTEGER_COLUMNS = ("seed", "epochs", "params", "flops")


def run_stem(model_name, seed):
    """The file stem of a shipped run: ``<model>.seed<seed>`` (``.keras`` and ``_log.csv``)."""
    return f"{model_name}.seed{seed}"


def read_table(path=TABLE_FILE):
    """The shipped runs: a list of dicts with ``TABLE_COLUMNS``, numbers typed.

    Raises:
        ValueError: the file has no rows or lacks a column.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"The mixer table {str(path)!r} has no rows.")
    missing = set(TABLE_COLUMNS) - set(rows[0])
    if missing:
        raise ValueError(f"The mixer table {str(path)!r} lacks the columns {sorted(missing)}.")
    for row in rows:
        for key in TABLE_COLUMNS[2:]:
            row[key] = int(row[key]) if key in _INTEGER_COLUMNS else float(row[key])
    return rows


def run_log_path(model_name, seed, folder=MIXER_DIR):
    return folder / f"{run_stem(model_name, seed)}_log.csv"


def run_model_path(model_name, seed, folder=MIXER_DIR):
    return folder / f"{run_stem(model_name, seed)}.keras"


def run_predictions_path(model_name, seed, folder=MIXER_DIR):
    """The shipped run's predicted class for each of the 10,000 test images (``uint8`` ``.npy``).

    Why: chapter 9 scores every run from these and, in CI's quick mode,
    re-predicts only a slice to check that the shipped model still gives them:
    predicting all test images with every model would cost a minute per run of
    the chapter.
    """
    return folder / f"{run_stem(model_name, seed)}_test_predictions.npy"


def agreement(fresh, stored):
    """Share of ``fresh`` predicted classes equal to the first ``len(fresh)`` of ``stored``."""
    fresh, stored = np.asarray(fresh), np.asarray(stored)[:len(fresh)]
    return float((fresh == stored).mean())


def paired_outcomes(predicted_a, predicted_b, labels):
    """How two models fare on the same images: ``{"both", "only_a", "only_b", "neither"}`` -> count.

    Why: two accuracies on one test set are not independent samples; what
    separates the models is only the images that one gets right and the
    other wrong (``only_a``, ``only_b``), which ``mcnemar_p`` tests.
    """
    labels = np.asarray(labels).reshape(-1)
    predicted_a, predicted_b = np.asarray(predicted_a).reshape(-1), np.asarray(predicted_b).reshape(-1)
    if not len(predicted_a) == len(predicted_b) == len(labels):
        raise ValueError(f"The predictions cover {len(predicted_a)} and {len(predicted_b)} images and the "
                         f"labels {len(labels)}; pass predictions of the same images.")
    right_a, right_b = predicted_a == labels, predicted_b == labels
    return {"both": int((right_a & right_b).sum()), "only_a": int((right_a & ~right_b).sum()),
            "only_b": int((~right_a & right_b).sum()), "neither": int((~right_a & ~right_b).sum())}


def mcnemar_p(only_a, only_b):
    """Two-sided p-value of McNemar's test (normal approximation with continuity correction).

    Under "the two models are equally accurate", each image that exactly one
    of them gets right is as likely to favour either, so ``only_a`` is
    binomial(``only_a + only_b``, 1/2). A small p says the gap is larger than
    the choice of test images explains; it says nothing about the spread
    from one training run to another (another seed), which is measured apart.
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    z = max(abs(only_a - only_b) - 1, 0) / math.sqrt(n)
    return math.erfc(z / math.sqrt(2))


def idle_seconds(epochs, n_train, n_val, speed_row):
    """Seconds that ``epochs`` epochs take on an idle machine, from one benchmark row.

    One epoch is ``n_train`` images through the training step and ``n_val``
    through inference, at the rates of ``speed_row`` (a row of
    ``speed.read_mixer_speed``). The input pipeline and the per-epoch
    overheads of ``fit`` are left out, the same for every mixer.
    """
    per_epoch = (n_train / speed_row["train_images_per_s"]
                 + n_val / speed_row["inference_images_per_s"])
    return np.asarray(epochs, dtype="float64") * per_epoch


def attention_received(layer, weights, height, width):
    """The attention each token receives, averaged over heads and queries, as an image-shaped map.

    Args:
        layer: the built ``WindowAttention`` that made ``weights`` (its
            windows and shift say where each window's tokens sit).
        weights: ``(N, windows, heads, T, T)`` from ``return_maps``
            (``maps[key]["attention"]``).
        height, width: the token grid of the layer's input.

    Returns:
        ``(N, height, width)`` numpy array. Each query's weights sum to 1, so
        the map averages to ``1 / T`` per window: above it, a token is looked
        at more than its share.
    """
    received = np.asarray(weights).mean(axis=(2, 3))  # (N, windows, T)
    grid = ops.convert_to_numpy(layer._merge(ops.convert_to_tensor(received[..., None]), height, width))
    if layer.shift_size:  # the layer rolled its input before making windows: roll back
        grid = np.roll(grid, (layer.shift_size, layer.shift_size), axis=(1, 2))
    return grid[..., 0]


def attention_from(layer, weights, height, width, row, col):
    """Where the token at ``(row, col)`` looks: its weights over the grid, averaged over heads.

    Tokens outside its window get 0. Returns ``(N, height, width)``.
    """
    weights = np.asarray(weights)
    n = weights.shape[0]
    grid_index = np.arange(height * width, dtype="float32").reshape(1, height, width, 1)
    if layer.shift_size:
        grid_index = np.roll(grid_index, (-layer.shift_size, -layer.shift_size), axis=(1, 2))
    # which window and which place in it each grid position lands in (the layer's own partition)
    where = ops.convert_to_numpy(layer._partition(ops.convert_to_tensor(grid_index)))[0, ..., 0]
    window, place = (int(v[0]) for v in np.nonzero(where == row * width + col))
    out = np.zeros((n, height * width), "float32")
    out[:, where[window].astype(int)] = weights[:, window].mean(axis=1)[:, place]
    return out.reshape(n, height, width)


def _window_distances(layer):
    """``(T, T)`` distances, in tokens, between the places of one of ``layer``'s windows.

    A window's tokens are in row-major order (the layer's ``_partition``). In a
    shifted window, pairs that wrap around the grid are masked out by the
    layer, so every pair that gets weight is as far apart as its places say.
    """
    wh, ww = layer.window
    rows, cols = np.divmod(np.arange(wh * ww), ww)
    return np.hypot(rows[:, None] - rows[None], cols[:, None] - cols[None])


def attention_distance(layer, weights):
    """Mean attention distance, in tokens, per image and head: ``(N, heads)``.

    How far each query looks: the distance from the query to every key,
    weighted by the attention, averaged over queries and windows (the "mean
    attention distance" of the ViT papers). Why: global attention may look
    anywhere, so how far it looks after training says whether it has learned
    the locality that focal modulation's small kernels build in. Compare with
    ``uniform_attention_distance``.

    Args:
        layer: the built ``WindowAttention`` that made ``weights``.
        weights: ``(N, windows, heads, T, T)`` (``maps[key]["attention"]``).
    """
    weights = np.asarray(weights, dtype="float32")
    per_query = (weights * _window_distances(layer)).sum(axis=-1)  # (N, windows, heads, T)
    return per_query.mean(axis=(1, 3))


def uniform_attention_distance(layer):
    """The mean attention distance of equal weights on every key of a window."""
    return float(_window_distances(layer).mean())
