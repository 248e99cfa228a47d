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

import csv
import ctypes.util
import os
import pathlib
import platform

import keras
import numpy as np

from focal_utils.layers.mixers import MIXERS
from focal_utils.registry import create_model, mixer_variant

_CIFAR_CASE = dict(image_size=32, batch_size=128, num_classes=10)  # the training batch
# name -> the registry model, input size, batch size and classes it is timed at; the CIFAR model's
# token-mixer variants (scripts/benchmark_mixers.py) are timed as the CIFAR model is
CASES = {
    "focalnet_tiny_srf": dict(image_size=224, batch_size=8, num_classes=1000),
    **{mixer_variant(mixer): _CIFAR_CASE for mixer in MIXERS},
}
MODES = ("inference", "train_step")
# glibc's malloc on transparent huge pages (glibc 2.35 or later; ignored elsewhere). It must be in the
# environment when Python starts: a running process cannot switch. See ``hugepages_env``.
HUGEPAGES_TUNABLE = "glibc.malloc.hugetlb=1"
# the stored run of scripts/benchmark_cpu.py that Chapter 7 reads (its --csv output)
BENCHMARK_FILE = pathlib.Path(__file__).parent / "weights" / "benchmark_cpu.csv"
# the stored run of scripts/benchmark_mixers.py that Chapter 9 reads
MIXER_SPEED_FILE = pathlib.Path(__file__).parent / "weights" / "mixers" / "mixer_speed.csv"
NUMERIC_COLUMNS = ("ms_per_batch", "images_per_s", "speed_vs_timm")
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


def tcmalloc_library():
    """The soname of Google's tcmalloc on this system (``LD_PRELOAD`` takes it), or None.

    Debian and Ubuntu ship it as ``libtcmalloc-minimal4`` (or ``libgoogle-perftools4``).
    """
    return ctypes.util.find_library("tcmalloc") or ctypes.util.find_library("tcmalloc_minimal")


def tcmalloc_env(env):
    """A copy of the environment ``env`` that preloads tcmalloc in place of glibc's malloc.

    Why: XLA's CPU runtime (JAX) frees and re-takes its large buffers every
    step. glibc's malloc hands them back to the kernel, so each step faults
    its memory in again (see ``hugepages_env``). Huge pages make the faults
    few, and alone on the dev machine they were nearly as fast; but while
    another process was working (a training run, other benchmark workers),
    a FocalNet-T step on huge pages that followed an inference call spent
    about 3 s in the kernel and took nearly twice as long. tcmalloc keeps
    freed memory for the next request: next to no faults or kernel time, in
    any order and under any load, and the fastest step of the three. Other
    ``LD_PRELOAD`` entries in ``env`` are kept.

    Raises:
        RuntimeError: tcmalloc is not installed (the message says how).
    """
    library = tcmalloc_library()
    if library is None:
        raise RuntimeError("tcmalloc is not installed: on Debian or Ubuntu, "
                           "`apt-get install libtcmalloc-minimal4`; or use `hugepages_env`.")
    env = dict(env)
    env["LD_PRELOAD"] = " ".join([library] + [p for p in env.get("LD_PRELOAD", "").split() if p])
    return env


def hugepages_env(env):
    """A copy of the environment ``env`` with glibc's malloc on transparent huge pages.

    Why: on a CPU, XLA (JAX's compiler) takes fresh memory from malloc for
    every large buffer of a step, and Linux zero-fills it on first touch,
    one 4 KiB page fault at a time. On the dev machine that was about
    900,000 page faults and 2 s of system time per FocalNet-T training step
    on JAX; with 2 MiB pages it is a few thousand, and the step is about
    1.5x faster (TensorFlow's own allocator reuses its memory and gains
    nothing). Other ``GLIBC_TUNABLES`` in ``env`` are kept.
    """
    env = dict(env)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":")
                if t and not t.startswith("glibc.malloc.hugetlb=")]
    env["GLIBC_TUNABLES"] = ":".join(tunables + [HUGEPAGES_TUNABLE])
    return env


# worker and process setups of the benchmark scripts (``jax+tcmalloc``): name -> environment maker
ALLOCATOR_ENVS = {"hugepages": hugepages_env, "tcmalloc": tcmalloc_env}


def machine_name():
    """``"<CPU model>, <n> cores"``: the machine a benchmark ran on, for its stored rows."""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    return f"{cpu}, {os.cpu_count()} cores"


def _read_rows(path, numeric, what):
    """The rows of a stored benchmark CSV, the ``numeric`` columns as floats (None where empty)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"The {what} file {str(path)!r} has no rows.")
    for row in rows:
        for key in numeric:
            row[key] = float(row[key]) if row.get(key) not in (None, "") else None
    return rows


def read_mixer_speed(path=MIXER_SPEED_FILE):
    """The rows of a ``scripts/benchmark_mixers.py`` CSV, keyed by mixer, numbers as floats."""
    numeric = ("inference_images_per_s", "train_images_per_s", "inference_peak_mb", "train_peak_mb")
    return {row["mixer"]: row for row in _read_rows(path, numeric, "mixer benchmark")}


def read_benchmark(path=BENCHMARK_FILE):
    """The rows of a ``scripts/benchmark_cpu.py --csv`` file, keyed by ``(model, mode, worker)``.

    Timings are floats; ``speed_vs_timm`` is ``None`` where timm was not run.
    """
    return {(row["model"], row["mode"], row["worker"]): row
            for row in _read_rows(path, NUMERIC_COLUMNS, "benchmark")}
