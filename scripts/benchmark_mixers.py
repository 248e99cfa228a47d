#!/usr/bin/env python
"""Speed and peak memory of the token-mixer variants of the book's CIFAR model, in one run.

    python scripts/benchmark_mixers.py [--mixers focal_modulation attention ...] [--repeats 7]
        [--csv focal_utils/weights/mixers/mixer_speed.csv]

Chapter 9 compares the variants that ``scripts/train_mixers.py`` trains. Their
training logs carry wall-clock times, but those include whatever else the
machine was doing during hours of training; the speed columns of the chapter's
table come from here instead: every variant built in one process, on the
backend in ``KERAS_BACKEND``, with the batch of training (128 images of 32x32),
timed in turns (``focal_utils.timing.time_interleaved``: inference and one AdamW
training step per variant, round after round, medians), then the peak memory
of each call beyond what the model already holds (``focal_utils.memory``).
Run it on an idle machine. It prints images per second and the ratio of each
variant to focal modulation, and writes one CSV row per variant.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from focal_utils.checkpoints import write_csv  # noqa: E402
from focal_utils.layers.mixers import MIXERS  # noqa: E402
from focal_utils.memory import peak_memory  # noqa: E402
from focal_utils.registry import mixer_variant  # noqa: E402
from focal_utils.speed import MIXER_SPEED_FILE, MODES, KerasCase, machine_name  # noqa: E402
from focal_utils.timing import time_interleaved  # noqa: E402

COLUMNS = ("model", "mixer", "inference_images_per_s", "train_images_per_s", "inference_peak_mb",
           "train_peak_mb", "versions", "machine", "date")


def measure(mixers, repeats):
    """One row per mixer: images/s of inference and of a training step, and their peak memory."""
    cases = {mixer: KerasCase(mixer_variant(mixer)) for mixer in mixers}
    calls = [(case.run, (mode,)) for case in cases.values() for mode in MODES]
    timings = iter(time_interleaved(calls, repeats=repeats, warmup=2))
    backend = keras.backend.backend()
    versions = f"Keras {keras.__version__}, {backend} {__import__(backend).__version__}"
    machine = machine_name()
    rows = []
    for mixer, case in cases.items():
        row = dict(model=case.name, mixer=mixer, versions=versions, machine=machine,
                   date=time.strftime("%Y-%m-%d"))
        prefixes = dict(zip(MODES, ("inference", "train")))
        for prefix in prefixes.values():  # the timings come in the order of ``calls``
            row[f"{prefix}_images_per_s"] = round(case.batch_size / next(timings).median, 1)
        for mode, prefix in prefixes.items():
            peak = peak_memory(case.run, mode)
            row[f"{prefix}_peak_mb"] = "" if peak is None else round(peak / 2**20, 1)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixers", nargs="+", default=list(MIXERS), choices=MIXERS)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--csv", default=str(MIXER_SPEED_FILE))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    rows = measure(args.mixers, args.repeats)
    base = next((r for r in rows if r["mixer"] == "focal_modulation"), rows[0])
    print(f"{'mixer':18s} {'infer img/s':>11s} {'train img/s':>11s} {'vs ' + base['mixer']:>22s} "
          f"{'peak MB (infer, train)':>23s}")
    for r in rows:
        ratio = r["train_images_per_s"] / base["train_images_per_s"]
        print(f"{r['mixer']:18s} {r['inference_images_per_s']:11.1f} {r['train_images_per_s']:11.1f} "
              f"{ratio:21.2f}x {r['inference_peak_mb']!s:>11s} {r['train_peak_mb']!s:>11s}")
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    write_csv(args.csv, COLUMNS, rows)
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
