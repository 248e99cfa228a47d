"""Step times of the book's FocalNets on the CPU, for ``scripts/benchmark_cpu.py``.

The benchmark compares the same two models across frameworks: FocalNet-T
(srf) at 224x224, batch 8, and the book's CIFAR model
(``focalnet_cifar_conv``) at 32x32, batch 128, for inference and for one
training step with AdamW. This module holds the Keras side; the script runs
it in one process per backend (and timm in another), the processes taking
turns so that the machine's load hits every contender alike.

Nothing here is a test: timings depend on the machine and its load, and
belong in the benchmark's printed ratios.
"""


import keras
import numpy as np

from focal_utils.registry import create_model

# name -> the registry model, input size, batch size and classes it is timed at
CASES = {
    "focalnet_tiny_srf": dict(image_size=224, batch_size=8, num_classes=1000),
    "focalnet_cifar_conv": dict(image_size=32, batch_size=128, num_classes=10),
}
MODES = ("inference", "train_step")
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.05


def case_batch(name, seed=0):
    """A fixed random batch for case ``name``: NHWC float32 images, int labels.

    The same seed gives the same numbers in every framework (transpose the
    images for channels-first ones).
    """
    spec = CASES[name]
    rng = np.random.default_rng(seed)
    size, batch = spec["image_size"], spec["batch_size"]
    images = rng.standard_normal((batch, size, size, 3)).astype("float32")
    labels = rng.integers(0, spec["num_classes"], batch)
    return images, labels


class KerasCase:
    """One registry model, compiled with AdamW; `run(mode)` is one call (timed by the benchmark).

    Args:
        name: a key of ``CASES``.
        jit_compile: passed to ``Model.compile`` (``"auto"``: XLA on JAX,
            graph mode without XLA on a CPU-only TensorFlow).
    """

    def __init__(self, name, jit_compile="auto"):
        spec = CASES[name]
        self.name = name
        self.model = create_model(name)
        self.model.compile(
            optimizer=keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
        if self.model.input_mean is not None:
            # models that standardise inside take images on the 0-255 scale
            mean = np.asarray(self.model.input_mean, "float32")
            std = np.asarray(self.model.input_std, "float32")
        else:
            mean, std = 0.0, 1.0
        images, labels = case_batch(name)
        self.images = images * std + mean
        self.labels = labels
        self.batch_size = spec["batch_size"]

    def run(self, mode):
        """One inference call or one training step; returns when it is done."""
        if mode == "inference":
            return self.model.predict_on_batch(self.images)
        if mode == "train_step":
            return self.model.train_on_batch(self.images, self.labels)
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
