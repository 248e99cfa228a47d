#!/usr/bin/env python
"""Training-step throughput: the book's FocalNet vs the keras-io construction.

    python scripts/benchmark_training.py [--batch-size 128] [--steps 20] [--repeats 3]

Times ``fit`` steps (after a warm-up that traces and compiles) on a fixed
in-memory batch stream of CIFAR-sized uint8 images, for three models:

1. book: ``create_model("focalnet_cifar")``: DepthwiseConv2D focal levels;
2. book, keras-io way: the same architecture and weights layout with each
   focal level built as ZeroPadding2D + Conv2D(groups=channels), as the
   keras-io example builds them (``focal_utils.kerasio.build_book_model_kerasio_way``);
3. keras-io as it is: the example's own model and defaults (48x48 resize
   and random crop inside the model, softmax head).

Prints images/s for each (median over repeats) and the ratios. The figures
depend on the machine and its load: run it on an idle machine.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from focal_utils import create_model  # noqa: E402
from focal_utils.kerasio import build_book_model_kerasio_way, build_kerasio_model  # noqa: E402


def _stream(batch_size, one_hot):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, batch_size)
    targets = np.eye(10, dtype="float32")[labels] if one_hot else labels
    return tf.data.Dataset.from_tensors((images, targets)).repeat()


def images_per_second(model, from_logits, batch_size, steps, repeats):
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=from_logits),
    )
    data = _stream(batch_size, one_hot=True)
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # trace and warm up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    builders = {
        "book (DepthwiseConv2D)": (lambda: create_model("focalnet_cifar"), True),
        "book, keras-io way (ZeroPadding2D + grouped Conv2D)":
            (lambda: build_book_model_kerasio_way("focalnet_cifar"), True),
        "keras-io example as it is": (build_kerasio_model, False),
    }
    rates = {}
    for label, (build, from_logits) in builders.items():
        keras.backend.clear_session()
        model = build()
        rates[label] = images_per_second(model, from_logits, args.batch_size,
                                         args.steps, args.repeats)
        print(f"{label:55s} {model.count_params():>10,d} params  "
              f"{rates[label]:7.1f} images/s", flush=True)
    book, grouped, kerasio = rates.values()
    print(f"ratio book / keras-io way, same architecture: {book / grouped:.2f}x")
    print(f"ratio book / keras-io example as it is:       {book / kerasio:.2f}x")


if __name__ == "__main__":
    main()
