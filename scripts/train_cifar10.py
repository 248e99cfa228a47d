#!/usr/bin/env python
"""Train the book's CIFAR-10 model (or resume it).

    python scripts/train_cifar10.py [--recipe full|long|sprint|quick] [--workdir DIR] [--no-snapshots]
    python scripts/train_cifar10.py --recipe long --ship focalnet_cifar_conv.cifar10_e120_ema
    python scripts/train_cifar10.py --recipe sprint --ship-log focalnet_cifar_conv.cifar10_sprint

``full`` is ``training.FULL`` (60 epochs), ``long`` is ``training.LONG`` (120
epochs with a moving average of the weights), ``sprint`` is ``training.SPRINT``
(three epochs, the race to the keras-io example's 57.75%), ``quick`` the CI recipe
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

``--ship NAME`` copies a finished run into the package as ``NAME``
(``architecture.tag``, see ``focal_utils.pretrained``): the exported model,
after predicting the test set again and checking its accuracy against
``test.json``; the whole per-epoch log; and the snapshots of the epochs
``snapshots.spread_epochs`` picks (the first ten, every tenth, the last),
about a megabyte; and it adds the run to ``weights/runs.csv``, the list of the
book's full runs, as the last (shipped) one. ``--ship-log NAME`` copies only
the log, for the sprint, whose figure is the time it took.
"""
import argparse
import csv
import json
import os

from focal_utils import checkpoints, data, pretrained, snapshots, training
from focal_utils.snapshots import MapSnapshots, fixed_indices

RECIPES = {"full": training.FULL, "long": training.LONG, "quick": training.QUICK, "sprint": training.SPRINT}
SNAPSHOT_FILE = "snapshots.npz"
RUNS_COLUMNS = ("run", "model", "log", "ema", "epochs", "drop_path", "augmentation", "test_accuracy")


def map_snapshots(splits, workdir):
    """The callback that keeps the maps of the first two test images of each class, every epoch."""
    x_test, y_test = splits["test"]
    picked = fixed_indices(y_test, per_class=2)
    return MapSnapshots(x_test[picked], os.path.join(workdir, SNAPSHOT_FILE), labels=y_test[picked])


def augmentation_label(recipe):
    """How ``runs.csv`` names a recipe's augmentation."""
    return "crop + flip" + (" + random erasing" if recipe.erase_prob else "")


def record_run(recipe, name, accuracy, path):
    """Add (or replace) the row of the shipped run ``name`` in ``runs.csv``; returns the rows.

    ``runs.csv`` lists the book's full runs in order, the shipped one last
    (chapters 7 and 8 read it): run number, model, log file, weight average,
    epochs, drop path, augmentation and test accuracy.
    """
    columns, rows = RUNS_COLUMNS, []
    if os.path.exists(path):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames, list(reader)
    log = pretrained.shipped_files(name)["log"].name
    rows = [row for row in rows if row["log"] != log]
    row = dict(run=max((int(row["run"]) for row in rows), default=0) + 1,
               model=recipe.model_name, log=log, ema=recipe.ema_momentum or "",
               epochs=recipe.epochs, drop_path=recipe.drop_path_rate,
               augmentation=augmentation_label(recipe), test_accuracy=round(accuracy, 4))
    rows.append({key: str(value) for key, value in row.items()})  # as csv reads it back
    checkpoints.write_csv(path, columns, rows)
    return rows


def check_finished(recipe, workdir, name):
    """Refuse a name that is not ``architecture.tag`` or a run that has not finished; returns its epochs."""
    if "." not in name:
        raise SystemExit(f"Shipping needs an architecture.tag name (e.g. {recipe.model_name}.cifar10_e"
                         f"{recipe.epochs}), got {name!r}")
    done = training.completed_epochs(workdir)
    if done < recipe.epochs:
        raise SystemExit(f"{workdir} holds {done} of the recipe's {recipe.epochs} epochs: train first")
    return done


def ship_log(recipe, workdir, name, folder=pretrained.WEIGHTS_DIR):
    """Copy only the per-epoch log of the finished run in ``workdir`` into ``folder`` as ``name``.

    For a run whose result is its clock, not its model (``--recipe sprint``): the shipped log's
    ``elapsed_s`` says when validation accuracy passed a mark, and chapter 7 reads it from there.
    """
    check_finished(recipe, workdir, name)
    path = pretrained.shipped_files(name, folder)["log"]
    os.makedirs(folder, exist_ok=True)
    checkpoints.copy_file(os.path.join(workdir, "log.csv"), path)
    print(f"wrote {path}", flush=True)
    return path


def ship(recipe, workdir, name, splits, folder=pretrained.WEIGHTS_DIR):
    """Copy the finished run in ``workdir`` into ``folder`` as ``name``; returns the fresh test accuracy."""
    done = check_finished(recipe, workdir, name)
    _, accuracy = training.exported_test_predictions(workdir, splits["test"])
    paths = pretrained.shipped_files(name, folder)
    os.makedirs(folder, exist_ok=True)
    checkpoints.copy_file(os.path.join(workdir, "model.keras"), paths["model"])
    checkpoints.copy_file(os.path.join(workdir, "log.csv"), paths["log"])
    source = os.path.join(workdir, SNAPSHOT_FILE)
    if os.path.exists(source):
        kept = snapshots.load_snapshots(source)
        snapshots.save_snapshots(paths["snapshots"], snapshots.select_epochs(
            kept, snapshots.spread_epochs(kept["epochs"])))
    for path in paths.values():
        if os.path.exists(path):
            print(f"wrote {path} ({os.path.getsize(path) / 2**20:.2f} MB)")
    runs = record_run(recipe, name, accuracy, os.path.join(folder, "runs.csv"))
    print(f"{name}: test accuracy {accuracy:.4f} (the exported file, predicted again), {done} epochs; "
          f"run {runs[-1]['run']} of runs.csv", flush=True)
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="full")
    parser.add_argument("--quick", action="store_true", help="the same as --recipe quick")
    parser.add_argument("--workdir", default=None,
                        help="default: training.default_workdir(recipe)")
    parser.add_argument("--no-snapshots", action="store_true",
                        help=f"do not keep {SNAPSHOT_FILE} (the maps of fixed test images per epoch)")
    parser.add_argument("--ship", metavar="NAME", default=None,
                        help="copy the finished run into focal_utils/weights as NAME (architecture.tag)")
    parser.add_argument("--ship-log", metavar="NAME", default=None,
                        help="copy only the finished run's log into focal_utils/weights as NAME_log.csv")
    args = parser.parse_args()
    recipe = RECIPES["quick" if args.quick else args.recipe]
    args.workdir = args.workdir or training.default_workdir(recipe)
    splits = data.train_val_test_split(data.load_cifar10())
    if args.ship:
        ship(recipe, args.workdir, args.ship, splits)
        return
    if args.ship_log:
        ship_log(recipe, args.workdir, args.ship_log)
        return
    print(f"recipe: {recipe}\nwork folder: {args.workdir}", flush=True)
    callbacks = [] if args.no_snapshots else [map_snapshots(splits, args.workdir)]
    result = training.train_and_test(recipe, splits, args.workdir, verbose=2, seed=recipe.seed,
                                     extra_callbacks=callbacks)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
