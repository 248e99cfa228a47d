"""Training-step throughput: the book's FocalNet against the keras-io construction.

Three contenders, all trained with the same AdamW step on CIFAR-sized uint8
batches:

- ``book``: the model the book trains, ``create_model(TRAINED_CIFAR_MODEL)``
  (``focalnet_cifar_conv``), focal levels as ``DepthwiseConv2D``;
- ``book, keras-io way``: the same architecture with each focal level built as
  the keras-io example builds it, ``ZeroPadding2D`` + ``Conv2D(groups=C)``
  (:func:`focal_utils.kerasio.build_book_model_kerasio_way`);
- ``keras-io as it is``: the example's own model and defaults (48x48 resize
  and random crop inside the model, softmax head).

The models take turns, repeat after repeat, so a change in the machine's
load hits all of them alike; the median over repeats is reported. Timings
belong in this benchmark (and the chapter that prints it), never in a test.
"""

import statistics
import time

import keras
import numpy as np

from focal_utils.kerasio import build_book_model_kerasio_way, build_kerasio_model
from focal_utils.pretrained import TRAINED_CIFAR_MODEL
from focal_utils.registry import create_model

CONTENDERS = {
    "book": (lambda: create_model(TRAINED_CIFAR_MODEL), True),
    "book, keras-io way": (lambda: build_book_model_kerasio_way(TRAINED_CIFAR_MODEL), True),
    "keras-io as it is": (build_kerasio_model, False),
}


def _batches(batch_size, steps, seed=0):
    """``steps`` copies of one random batch: no input cost, same work every step."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3), dtype=np.uint8)
    targets = np.eye(10, dtype="float32")[rng.integers(0, 10, batch_size)]
    return np.tile(images, (steps, 1, 1, 1)), np.tile(targets, (steps, 1))


def _compiled(build, from_logits):
    model = build()
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=from_logits))
    return model


def _timed_fit(model, x, y, batch_size, clock):
    start = clock()
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return len(x) / (clock() - start)


def compare_training_throughput(batch_size=128, steps=20, repeats=3, warmup_steps=3,
                                contenders=None, progress=None, clock=time.perf_counter):
    """Images per second of a training step for each contender.

    Args:
        batch_size, steps: each timed ``fit`` runs ``steps`` batches.
        repeats: timed fits per model (taking turns); the median is kept.
        warmup_steps: an untimed first ``fit`` (tracing, compilation).
        contenders: ``{label: (build_fn, from_logits)}``; default ``CONTENDERS``.
        progress: optional callable ``progress(message)``.
        clock: callable returning seconds (injectable for tests).

    Returns:
        list of dicts ``{"model", "params", "images_per_s", "rates"}``.
    """
    if min(batch_size, steps, repeats, warmup_steps) < 1:
        raise ValueError("batch_size, steps, repeats and warmup_steps must be >= 1. Received: "
                         f"{batch_size}, {steps}, {repeats}, {warmup_steps}")
    contenders = CONTENDERS if contenders is None else contenders
    models = {label: _compiled(*spec) for label, spec in contenders.items()}
    warm = _batches(batch_size, warmup_steps)
    for model in models.values():
        model.fit(*warm, batch_size=batch_size, epochs=1, verbose=0)
    x, y = _batches(batch_size, steps)
    rates = {label: [] for label in models}
    for r in range(repeats):
        for label, model in models.items():
            rates[label].append(_timed_fit(model, x, y, batch_size, clock))
            if progress:
                progress(f"repeat {r + 1}/{repeats}, {label}: {rates[label][-1]:.1f} images/s")
    return [{"model": label, "params": models[label].count_params(),
             "images_per_s": statistics.median(rates[label]), "rates": rates[label]}
            for label in models]


def throughput_ratios(rows):
    """``book / book keras-io way`` and ``book / keras-io as it is``."""
    rate = {row["model"]: row["images_per_s"] for row in rows}
    return {"book / keras-io way (same architecture)": rate["book"] / rate["book, keras-io way"],
            "book / keras-io as it is": rate["book"] / rate["keras-io as it is"]}
