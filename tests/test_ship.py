"""Shipping a finished run: the exported file is scored again before it is copied into the package.

``scripts/train_cifar10.py --ship NAME`` is how a run becomes a pretrained model; a tiny run (see
``_training_harness``) goes through it here, once, on TensorFlow like the other training tests.
"""

import csv
import filecmp
import importlib.util
import json
import os

import numpy as np
import pytest

import _training_harness as harness
from focal_utils import pretrained, registry, snapshots, training

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "train_cifar10.py")
spec = importlib.util.spec_from_file_location("train_cifar10", SCRIPT)
train_cifar10 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_cifar10)


@pytest.fixture
def finished_run(tmp_path):
    """A tiny run of 3 epochs, finished (test.json, model.keras) with snapshots of every epoch."""
    undo = harness.tiny_training(training, registry)
    recipe = harness.recipe(training, epochs=3)
    splits = harness.splits()
    rng = np.random.default_rng(1)
    splits["test"] = (rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
                      np.repeat(np.arange(10), 4))
    workdir = str(tmp_path / "run")
    callback = train_cifar10.map_snapshots(splits, workdir)
    result = training.train_and_test(recipe, splits, workdir, verbose=0, seed=0,
                                     extra_callbacks=[callback])
    yield recipe, splits, workdir, result
    undo()


def test_ship_copies_the_checked_model_the_log_and_a_spread_of_snapshots(finished_run, tmp_path,
                                                                          monkeypatch):
    recipe, splits, workdir, result = finished_run
    monkeypatch.setattr(snapshots, "spread_epochs", lambda epochs: [0, 2])  # first and last
    folder = tmp_path / "weights"
    accuracy = train_cifar10.ship(recipe, workdir, "tiny.test_e3", splits, folder=str(folder))
    assert accuracy == pytest.approx(result["test_accuracy"], abs=1e-6)
    paths = pretrained.shipped_files("tiny.test_e3", folder)
    assert filecmp.cmp(paths["model"], os.path.join(workdir, "model.keras"), shallow=False)
    assert filecmp.cmp(paths["log"], os.path.join(workdir, "log.csv"), shallow=False)
    shipped = snapshots.load_snapshots(paths["snapshots"])
    assert shipped["epochs"].tolist() == [0, 2]
    runs = folder / "runs.csv"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [os.path.basename(p) for p in paths.values()] + [runs.name])
    with open(runs, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [dict(run="1", model=recipe.model_name, log="tiny.test_e3_log.csv", ema="", epochs="3",
                         drop_path=str(recipe.drop_path_rate), augmentation="crop + flip + random erasing",
                         test_accuracy=str(round(accuracy, 4)))]


def test_ship_log_copies_only_the_log_of_a_finished_run(finished_run, tmp_path):
    recipe, _, workdir, _ = finished_run
    folder = tmp_path / "weights"
    path = train_cifar10.ship_log(recipe, workdir, "tiny.sprint", folder=str(folder))
    assert path == pretrained.shipped_files("tiny.sprint", folder)["log"]
    assert os.listdir(folder) == ["tiny.sprint_log.csv"]
    assert filecmp.cmp(path, os.path.join(workdir, "log.csv"), shallow=False)
    with pytest.raises(SystemExit, match="3 of the recipe's 5 epochs"):
        train_cifar10.ship_log(harness.recipe(training, epochs=5), workdir, "tiny.e5", folder=str(folder))


def test_runs_csv_keeps_earlier_runs_and_replaces_a_reshipped_one(tmp_path):
    path = str(tmp_path / "runs.csv")
    with open(path, "w") as f:
        f.write("run,model,log,ema,epochs,drop_path,augmentation,test_accuracy\n"
                "1,m,old_log.csv,,30,0.1,crop + flip,0.8\n")
    recipe = training.LONG
    train_cifar10.record_run(recipe, "m.long", 0.85123, path)
    rows = train_cifar10.record_run(recipe, "m.long", 0.85, path)  # shipped again: replaced
    assert [(r["run"], r["log"], r["ema"], r["epochs"], r["test_accuracy"]) for r in rows] == [
        ("1", "old_log.csv", "", "30", "0.8"), ("2", "m.long_log.csv", "0.995", str(recipe.epochs), "0.85")]
    with open(path, newline="") as f:
        assert list(csv.DictReader(f)) == rows


def test_an_export_that_does_not_give_the_stored_accuracy_is_refused(finished_run, tmp_path):
    recipe, splits, workdir, result = finished_run
    predicted, accuracy = training.exported_test_predictions(workdir, splits["test"])
    assert predicted.dtype == np.uint8 and predicted.shape == (40,)
    assert accuracy == pytest.approx(result["test_accuracy"], abs=1e-6)
    with open(os.path.join(workdir, "test.json"), "w") as f:
        json.dump(dict(result, test_accuracy=result["test_accuracy"] + 0.05), f)
    with pytest.raises(ValueError, match="model.keras scores .* but .*test.json says"):
        train_cifar10.ship(recipe, workdir, "tiny.test_e3", splits, folder=str(tmp_path / "weights"))
    assert not (tmp_path / "weights").exists()  # nothing shipped


def test_an_unfinished_run_or_a_bad_name_is_refused(finished_run, tmp_path):
    recipe, splits, workdir, _ = finished_run
    with pytest.raises(SystemExit, match="architecture.tag name"):
        train_cifar10.ship(recipe, workdir, "tiny", splits, folder=str(tmp_path / "w"))
    longer = harness.recipe(training, epochs=5)
    with pytest.raises(SystemExit, match="3 of the recipe's 5 epochs"):
        train_cifar10.ship(longer, workdir, "tiny.e5", splits, folder=str(tmp_path / "w"))
    os.remove(os.path.join(workdir, "test.json"))
    with pytest.raises(FileNotFoundError, match="test.json is missing"):
        training.exported_test_predictions(workdir, splits["test"])


def test_the_shipped_sprint_log_is_the_whole_sprint_with_its_clock():
    log = training.read_log(pretrained.SPRINT_RUN_LOG)
    assert log["epoch"] == list(range(training.SPRINT.epochs))
    assert all(later > earlier > 0 for earlier, later in zip(log["elapsed_s"], log["elapsed_s"][1:]))
