"""The training recipe: schedule, weight decay, logs, and a killed run resuming."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import _training_harness as harness
from focal_utils import registry, training

TINY = training.Recipe(epochs=3, batch_size=32, peak_lr=1e-3, warmup_epochs=1.0,
                       train_size=None, val_size=None)


def test_schedule_warms_up_then_decays_to_min_lr():
    schedule = training.learning_rate_schedule(TINY, steps_per_epoch=10)
    lr = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 5, 10, 20, 30)]
    assert lr[0] == pytest.approx(TINY.peak_lr / 100)
    assert lr[0] < lr[1] < lr[2]
    assert lr[2] == pytest.approx(TINY.peak_lr)
    assert lr[2] > lr[3] > lr[4]
    assert lr[4] == pytest.approx(TINY.min_lr, rel=1e-3)


def test_no_weight_decay_on_norms_biases_and_layerscale():
    model = training.build_model(training.FULL)
    optimizer = training.make_optimizer(training.FULL, model, steps_per_epoch=10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed  # kernels decay
    for v in model.trainable_variables:
        assert (v.path in decayed) == (len(v.shape) > 1), v.path
    assert any("norm" in v.path for v in model.trainable_variables if v.path not in decayed)


def test_quick_recipe_is_selected_by_env(monkeypatch):
    monkeypatch.setenv(training.QUICK_ENV_VAR, "1")
    assert training.recipe_from_env() is training.QUICK
    monkeypatch.delenv(training.QUICK_ENV_VAR)
    assert training.recipe_from_env() is training.FULL


def test_quick_and_full_runs_use_different_default_folders():
    full, quick = training.default_workdir(training.FULL), training.default_workdir(training.QUICK)
    other = training.default_workdir(training.Recipe(epochs=5))
    assert len({full, quick, other}) == 3
    assert full.endswith(training.FULL.model_name) and quick.endswith("-quick")


def test_train_leaves_the_global_rngs_alone_unless_asked(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(keras.utils, "set_random_seed", calls.append)
    tiny = training.Recipe(epochs=1, batch_size=64)
    splits = {"train": (np.zeros((8, 32, 32, 3), np.uint8), np.arange(8) % 10),
              "val": (np.zeros((8, 32, 32, 3), np.uint8), np.arange(8) % 10)}
    with pytest.raises(ValueError, match="fewer than one batch"):  # stops before fit
        training.train(tiny, splits, str(tmp_path), verbose=0)
    assert calls == []
    with pytest.raises(ValueError, match="fewer than one batch"):
        training.train(tiny, splits, str(tmp_path), verbose=0, seed=3)
    assert calls == [3]


def test_build_model_is_not_compiled_and_compile_for_training_compiles():
    model = training.build_model(training.FULL)
    assert not model.compiled
    assert training.compile_for_training(model, training.FULL, 10) is model and model.compiled


_CHILD = textwrap.dedent("""
    import os, sys, time, dataclasses
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np
    from focal_utils import training

    class Stall(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"SAVED {epoch}", flush=True)
            if os.environ.get("STALL_AFTER") == str(epoch):
                time.sleep(600)  # the parent kills us here

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 128)
    recipe = dataclasses.replace(training.FULL, epochs=3, batch_size=32)
    splits = {"train": (x, y), "val": (x[:32], y[:32])}
    training.train(recipe, splits, sys.argv[1], verbose=0, extra_callbacks=[Stall()])
    print("DONE", flush=True)
""")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="one backend is enough for the process-level kill test")
def test_killed_run_resumes_losing_at_most_one_epoch(tmp_path):
    workdir = str(tmp_path / "run")
    env = dict(os.environ, STALL_AFTER="0")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, workdir], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.startswith("SAVED 0"):
                break
        child.send_signal(signal.SIGKILL)  # a disconnect: no clean-up runs
    finally:
        child.wait(timeout=60)
    assert training.completed_epochs(workdir) == 1

    env.pop("STALL_AFTER")
    out = subprocess.run([sys.executable, "-c", _CHILD, workdir], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SAVED 0" not in out.stdout and "SAVED 1" in out.stdout  # resumed
    log = training.read_log(os.path.join(workdir, "log.csv"))
    assert log["epoch"] == [0, 1, 2]
    assert np.all(np.diff(log["elapsed_s"]) > 0) and np.all(np.diff(log["cpu_s"]) > 0)
    assert {"val_accuracy", "val_loss", "accuracy", "loss", "learning_rate"} <= set(log)
    assert os.path.exists(os.path.join(workdir, "best.keras"))


def test_train_and_test_scores_the_test_split_and_exports(tmp_path):
    """What the shipping scripts call: test.json holds the exported model's own test score."""
    undo = harness.tiny_training(training, registry)
    try:
        recipe = harness.recipe(training, epochs=2)
        splits = dict(harness.splits(), test=harness.splits(n_train=40, n_val=0, seed=1)["train"])
        result = training.train_and_test(recipe, splits, str(tmp_path), verbose=0, seed=0)
    finally:
        undo()
    assert result["epochs"] == 2 == training.completed_epochs(str(tmp_path))
    with open(tmp_path / "test.json") as f:
        assert json.load(f) == pytest.approx(result)
    exported = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert getattr(exported, "optimizer", None) is None  # no optimiser state: small, for readers
    logits = exported.predict(splits["test"][0], verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == splits["test"][1]))
    assert accuracy == pytest.approx(result["test_accuracy"], abs=1e-6)
