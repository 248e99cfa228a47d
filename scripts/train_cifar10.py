#!/usr/bin/env python
"""Train the book's CIFAR-10 model with the full recipe (or resume it).

    python scripts/train_cifar10.py [--workdir DIR] [--quick]

The work folder (default ``training.default_workdir``: ~/.cache/focal-book/
runs/<model name>, with a "-quick" suffix for --quick, so the two never mix)
holds the training state, log.csv and best.keras, all written atomically;
run the same command again after an interruption and it resumes at the last
finished epoch. At the end it evaluates on the test set and exports an
uncompiled model.keras there.
The training chapter (book/chapters/07_training) calls the same
``focal_utils.training.train``.
"""
import argparse
import json

from focal_utils import data, training


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None,
                        help="default: training.default_workdir(recipe)")
    parser.add_argument("--quick", action="store_true", help="the CI recipe")
    args = parser.parse_args()
    recipe = training.QUICK if args.quick else training.FULL
    args.workdir = args.workdir or training.default_workdir(recipe)
    splits = data.train_val_test_split(data.load_cifar10())
    print(f"recipe: {recipe}\nwork folder: {args.workdir}", flush=True)
    result = training.train_and_test(recipe, splits, args.workdir, verbose=2, seed=recipe.seed)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
