"""scripts/train_mixers.py: one recipe per variant (only the mixer differs) and the table it keeps."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from focal_utils import flops, speed, training
from focal_utils.layers.mixers import MIXERS
from focal_utils.registry import create_model

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("train_mixers", ROOT / "scripts" / "train_mixers.py")
train_mixers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_mixers)


def test_variants_share_the_recipe_but_the_model_and_get_their_own_folders():
    recipes = {m: train_mixers.recipe_for(m, epochs=30, seed=0) for m in MIXERS}
    assert recipes["focal_modulation"].model_name == training.FULL.model_name
    assert recipes["attention"].model_name == "cifar_conv_attention"
    for recipe in recipes.values():
        assert dataclasses.replace(recipe, model_name=training.FULL.model_name) == \
            dataclasses.replace(training.FULL, epochs=30)
    folders = {training.default_workdir(r) for r in recipes.values()}
    folders.add(training.default_workdir(train_mixers.recipe_for("attention", epochs=30, seed=1)))
    assert len(folders) == len(MIXERS) + 1
    assert training.default_workdir(training.FULL) not in folders  # never resumes the shipped run


def _fake_run(workdir, elapsed, accuracy):
    workdir.mkdir(parents=True)
    lines = ["epoch,val_accuracy,elapsed_s"] + [f"{i},0.5,{t}" for i, t in enumerate(elapsed)]
    (workdir / "log.csv").write_text("\n".join(lines) + "\n")
    (workdir / "test.json").write_text(json.dumps({"test_accuracy": accuracy}))


def test_rows_come_from_the_log_the_test_score_and_the_speed_benchmark(tmp_path):
    recipe = train_mixers.recipe_for("pooling", epochs=3, seed=0)
    _fake_run(tmp_path / "run", elapsed=[100.0, 150.0, 200.0], accuracy=0.71234)
    row = train_mixers.summary_row("pooling", recipe, str(tmp_path / "run"))
    model = create_model("cifar_conv_pooling")
    assert row == dict(model="cifar_conv_pooling", mixer="pooling", seed=0, epochs=3,
                       params=model.count_params(), flops=flops.count_flops(model), test_accuracy=0.7123,
                       # the idle machine's rate, not the log's (a shared machine's)
                       train_images_per_s=speed.read_mixer_speed()["pooling"]["train_images_per_s"],
                       wall_s=200.0)
    fake = {"pooling": {"train_images_per_s": 123.4}}
    assert train_mixers.summary_row("pooling", recipe, str(tmp_path / "run"), fake)["train_images_per_s"] == 123.4


def test_table_is_rewritten_sorted_and_read_back(tmp_path):
    path = str(tmp_path / "table.csv")
    rows = [dict(model=f"m{i}", mixer=m, seed=s, epochs=30, params=1, flops=2, test_accuracy=0.5,
                 train_images_per_s=3.0, wall_s=4.0)
            for i, (m, s) in enumerate([("pooling", 0), ("attention", 1), ("attention", 0)])]
    train_mixers.write_table(rows, path)
    back = train_mixers.read_table(path)
    assert [(r["mixer"], r["seed"]) for r in back] == [("attention", "0"), ("attention", "1"),
                                                      ("pooling", "0")]
    assert list(back[0]) == list(train_mixers.COLUMNS)
    assert train_mixers.read_table(str(tmp_path / "missing.csv")) == []


def test_epochs_must_be_positive(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["train_mixers.py", "--epochs", "0"])
    with pytest.raises(SystemExit):
        train_mixers.main()
    assert "--epochs must be at least 1, got 0" in capsys.readouterr().err
