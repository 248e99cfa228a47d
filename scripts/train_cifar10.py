#!/usr/bin/env python
"""Train the book's CIFAR-10 model with the full recipe (or resume it).

    python scripts/train_cifar10.py [--workdir DIR] [--quick]

The work folder (default ~/.cache/focal-book/runs/<model name>) holds the
BackupAndRestore state, log.csv and best.keras; run the same command again
after an interruption and it resumes at the last finished epoch. At the end
it evaluates on the test set and exports an uncompiled model.keras there.
The training chapter (book/chapters/07_training) calls the same
``focal_utils.training.train``.
"""
import argparse
import json
import os
import time

from focal_utils import data, training

DEFAULT_WORKDIR = os.path.expanduser(f"~/.cache/focal-book/runs/{training.FULL.model_name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR)
    parser.add_argument("--quick", action="store_true", help="the CI recipe")
    args = parser.parse_args()
    recipe = training.QUICK if args.quick else training.FULL
    splits = data.train_val_test_split(data.load_cifar10())
    print(f"recipe: {recipe}", flush=True)
    model = training.train(recipe, splits, args.workdir, verbose=2)
    start = time.perf_counter()
    test_loss, test_acc = model.evaluate(
        data.make_dataset(splits["test"], 500), verbose=0)
    result = dict(test_accuracy=test_acc, test_loss=test_loss,
                  eval_s=round(time.perf_counter() - start, 1),
                  epochs=training.completed_epochs(args.workdir))
    print(json.dumps(result), flush=True)
    with open(os.path.join(args.workdir, "test.json"), "w") as f:
        json.dump(result, f)
    training.export_model(model, recipe, os.path.join(args.workdir, "model.keras"))


if __name__ == "__main__":
    main()
