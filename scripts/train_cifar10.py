#!/usr/bin/env python
"""Train the book's CIFAR-10 model (or resume it).

    python scripts/train_cifar10.py [--recipe full|long|quick] [--workdir DIR] [--no-snapshots]

``full`` is ``training.FULL`` (60 epochs), ``long`` is ``training.LONG`` (160
epochs with a moving average of the weights), ``quick`` the CI recipe
(``--quick`` is kept as its old spelling). The work folder (default
``training.default_workdir``: ~/.cache/focal-book/runs/<model name>, with a
suffix for any recipe but the full one, so that runs never mix) holds the
training state, log.csv and best.keras, all written atomically; run the same
command again after an interruption and it resumes at the last finished
epoch. It also keeps ``snapshots.npz`` there: the gate and modulator maps of
20 fixed test images (the first two of each class) at the end of every epoch
(``focal_utils.snapshots.MapSnapshots``), for chapter 8's slider over epochs.
At the end it evaluates on the test set and exports an uncompiled model.keras
there. The training chapter (book/chapters/07_training) calls the same
``focal_utils.training.train``.
"""
import argparse
import json
import os

from focal_utils import data, training
from focal_utils.snapshots import MapSnapshots, fixed_indices

RECIPES = {"full": training.FULL, "long": training.LONG, "quick": training.QUICK}
SNAPSHOT_FILE = "snapshots.npz"


def map_snapshots(splits, workdir):
    """The callback that keeps the maps of the first two test images of each class, every epoch."""
    x_test, y_test = splits["test"]
    picked = fixed_indices(y_test, per_class=2)
    return MapSnapshots(x_test[picked], os.path.join(workdir, SNAPSHOT_FILE), labels=y_test[picked])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="full")
    parser.add_argument("--quick", action="store_true", help="the same as --recipe quick")
    parser.add_argument("--workdir", default=None,
                        help="default: training.default_workdir(recipe)")
    parser.add_argument("--no-snapshots", action="store_true",
                        help=f"do not keep {SNAPSHOT_FILE} (the maps of fixed test images per epoch)")
    args = parser.parse_args()
    recipe = RECIPES["quick" if args.quick else args.recipe]
    args.workdir = args.workdir or training.default_workdir(recipe)
    splits = data.train_val_test_split(data.load_cifar10())
    print(f"recipe: {recipe}\nwork folder: {args.workdir}", flush=True)
    callbacks = [] if args.no_snapshots else [map_snapshots(splits, args.workdir)]
    result = training.train_and_test(recipe, splits, args.workdir, verbose=2, seed=recipe.seed,
                                     extra_callbacks=callbacks)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
