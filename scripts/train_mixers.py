#!/usr/bin/env python
"""Train the token-mixer variants of the book's CIFAR-10 model head to head (or resume them).

    python scripts/train_mixers.py [--epochs 30] [--mixers focal_modulation attention ...] [--seed 0]
    python scripts/train_mixers.py --ship     # copy finished runs into focal_utils/weights/mixers/

Each variant is ``focalnet_cifar_conv`` with its token mixer swapped (``focal_utils.layers.mixers``;
registry names ``cifar_conv_<mixer>``) and the book's full recipe, except the number of epochs, which is
the same for every variant. Every run has its own work folder (``training.default_workdir``, named after a
hash of its recipe), so running the command again after an interruption resumes each run at its last
finished epoch, and finished runs are skipped. The variants run one after another, in the order given.

After each run it writes, atomically, ``~/.cache/focal-book/runs/mixer_comparison.csv``: one row per
finished run (model, mixer, seed, epochs, params, flops, test_accuracy, train_images_per_s, wall_s).
``--ship`` copies that table into ``focal_utils/weights/mixer_comparison.csv``, and each run's
per-epoch log (epoch, val_accuracy, elapsed_s), its test predictions and each exported model under
15 MB into ``focal_utils/weights/mixers/``, where chapter 9 reads them.
"""
import argparse
import csv
import dataclasses
import json
import os
import pathlib

import numpy as np

from focal_utils import checkpoints, comparison, data, flops, speed, training
from focal_utils.layers.mixers import MIXERS
from focal_utils.registry import create_model, mixer_variant

RUNS = os.path.expanduser("~/.cache/focal-book/runs")
TABLE = os.path.join(RUNS, "mixer_comparison.csv")
SHIP = str(comparison.MIXER_DIR)
COLUMNS = comparison.TABLE_COLUMNS
LOG_COLUMNS = ("epoch", "val_accuracy", "elapsed_s")  # of each shipped run's log
MAX_SHIPPED_BYTES = 15 * 2**20


def recipe_for(mixer, epochs, seed):
    return dataclasses.replace(training.FULL, model_name=mixer_variant(mixer), epochs=epochs, seed=seed)


def summary_row(mixer, recipe, workdir, speeds=None):
    """One row of the table, from the run's log and test.json, and the stored speed benchmark.

    ``train_images_per_s`` is the training step's rate from ``scripts/benchmark_mixers.py``'s stored
    run (``speed.read_mixer_speed``: every variant on one idle machine, in one process), not the log's:
    ``elapsed_s`` also counts whatever else the machine did during hours of training. ``wall_s`` is
    the log's, as it happened.
    """
    log = training.read_log(os.path.join(workdir, "log.csv"))
    with open(os.path.join(workdir, "test.json")) as f:
        test = json.load(f)
    speeds = speed.read_mixer_speed() if speeds is None else speeds
    model = create_model(recipe.model_name)
    return dict(model=recipe.model_name, mixer=mixer, seed=recipe.seed, epochs=len(log["epoch"]),
                params=model.count_params(), flops=flops.count_flops(model),
                test_accuracy=round(test["test_accuracy"], 4),
                train_images_per_s=speeds[mixer]["train_images_per_s"], wall_s=round(log["elapsed_s"][-1], 1))


def write_table(rows, path):
    """Atomically write ``rows`` (dicts with COLUMNS) as CSV, sorted by mixer then seed."""
    checkpoints.write_csv(path, COLUMNS,
                          sorted(rows, key=lambda r: (MIXERS.index(r["mixer"]), int(r["seed"]))))


def read_table(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def train_all(mixers, epochs, seed):
    splits = data.train_val_test_split(data.load_cifar10())
    for mixer in mixers:
        recipe = recipe_for(mixer, epochs, seed)
        workdir = training.default_workdir(recipe)
        print(f"== {mixer}: {recipe.model_name}, {epochs} epochs, seed {seed}; work folder {workdir}",
              flush=True)
        result = training.train_and_test(recipe, splits, workdir, verbose=2, seed=seed)
        print(json.dumps(result), flush=True)
        row = summary_row(mixer, recipe, workdir)
        rows = [r for r in read_table(TABLE)
                if (r["mixer"], int(r["seed"])) != (mixer, seed)] + [row]
        write_table(rows, TABLE)
        print(f"   {row}", flush=True)


def ship_predictions(workdir, row, x_test, y_test):
    """Store the exported model's test predictions, checked against the run's stored test accuracy."""
    predicted, _ = training.exported_test_predictions(workdir, (x_test, y_test))
    path = comparison.run_predictions_path(row["model"], row["seed"], folder=pathlib.Path(SHIP))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, predicted)

    checkpoints.atomic_write(str(path), write)


def ship():
    """Copy the table, the logs and the small models into the package."""
    rows = read_table(TABLE)
    if not rows:
        raise SystemExit(f"no finished run in {TABLE}: run the training first")
    os.makedirs(SHIP, exist_ok=True)
    x_test, y_test = data.train_val_test_split(data.load_cifar10())["test"]
    shipped = []
    for row in rows:
        recipe = recipe_for(row["mixer"], int(row["epochs"]), int(row["seed"]))
        workdir = training.default_workdir(recipe)
        row = summary_row(row["mixer"], recipe, workdir)  # again: the benchmark may be newer than the run
        shipped.append(row)
        stem = comparison.run_stem(row["model"], row["seed"])
        log = training.read_log(os.path.join(workdir, "log.csv"))
        checkpoints.write_csv(os.path.join(SHIP, f"{stem}_log.csv"), LOG_COLUMNS,
                              [dict(zip(LOG_COLUMNS, values))
                               for values in zip(*(log[column] for column in LOG_COLUMNS))])
        exported = os.path.join(workdir, "model.keras")
        ship_predictions(workdir, row, x_test, y_test)
        if os.path.getsize(exported) < MAX_SHIPPED_BYTES:
            checkpoints.copy_file(exported, os.path.join(SHIP, f"{stem}.keras"))
        else:
            print(f"not shipping {exported}: {os.path.getsize(exported) / 2**20:.1f} MB")
    write_table(shipped, str(comparison.TABLE_FILE))
    print(f"shipped {len(rows)} runs into {SHIP}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixers", nargs="+", default=list(MIXERS), choices=MIXERS)
    parser.add_argument("--epochs", type=int, default=30, help="the same for every variant (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ship", action="store_true", help="copy finished runs into the package")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.ship:
        ship()
    else:
        train_all(args.mixers, args.epochs, args.seed)


if __name__ == "__main__":
    main()
