#!/usr/bin/env python
"""Training-step throughput: the book's FocalNet vs the keras-io construction.

    python scripts/benchmark_training.py [--batch-size 128] [--steps 20] [--repeats 3]

Runs ``focal_utils.throughput.compare_training_throughput`` (see its module
docstring for the three models) and prints images/s per model (median over
repeats, models taking turns) and the ratios. The figures depend on the
machine and its load: run it on an idle machine.
"""
import argparse
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from focal_utils.throughput import compare_training_throughput, throughput_ratios  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; batch {args.batch_size}, {args.steps} steps x {args.repeats} repeats")
    rows = compare_training_throughput(args.batch_size, args.steps, args.repeats,
                                       progress=lambda message: print("  " + message, flush=True))
    for row in rows:
        print(f"{row['model']:22s} {row['params']:>10,d} params  {row['images_per_s']:7.1f} images/s")
    for name, value in throughput_ratios(rows).items():
        print(f"ratio {name}: {value:.2f}x")


if __name__ == "__main__":
    main()
