"""Fault injection for training: kills at random write steps, damaged state
files, a full disk. After every fault the run resumes, and the finished run
must equal an uninterrupted one (log rows, epochs) with ``best.keras``
holding its best epoch.

Kills are injected at the write steps of ``focal_utils.checkpoints`` and of
Keras' savers (see ``_training_harness``): in process, as an exception that
nothing catches (fast: many kills), and in child processes as a real
SIGKILL. The number of faults survived is printed at the end of the session
(``pytest -s``) and written to ``$FOCAL_FAULTS_REPORT`` if set.
"""

import errno
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import _training_harness as harness
from focal_utils import checkpoints, data, registry, training

# The checkpoint logic is backend-independent (Keras saves and loads the
# files); one backend keeps CI within its time budget.
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="training faults run on TensorFlow only (CI time)")

SURVIVED = {}  # fault kind -> count, reported at the end


def _count(kind, n=1):
    SURVIVED[kind] = SURVIVED.get(kind, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    total = sum(SURVIVED.values())
    lines = [f"  {kind}: {n}" for kind, n in sorted(SURVIVED.items())]
    print(f"\nfault injection: {total} injected faults survived, nothing lost\n"
          + "\n".join(lines))
    if os.environ.get("FOCAL_FAULTS_REPORT"):
        with open(os.environ["FOCAL_FAULTS_REPORT"], "w") as f:
            json.dump(dict(total=total, **SURVIVED), f)


@pytest.fixture
def tiny():
    undo = harness.tiny_training(training, registry)
    yield
    undo()


def _train(workdir, **kwargs):
    return training.train(harness.recipe(training), harness.splits(), str(workdir),
                          verbose=0, seed=0, **kwargs)


def _log(workdir):
    return training.read_log(os.path.join(workdir, "log.csv"))


def _assert_best_is_the_best_epoch(workdir):
    """best.keras scores exactly what the log says of the first best epoch."""
    log = _log(workdir)
    best = int(np.argmax(log["val_accuracy"]))
    model = keras.models.load_model(os.path.join(workdir, "best.keras"))
    model.run_eagerly = True  # as in training: no tracing
    loss, accuracy = model.evaluate(data.make_dataset(harness.splits()["val"], 500),
                                    verbose=0)
    assert accuracy == pytest.approx(log["val_accuracy"][best], abs=1e-6)
    assert loss == pytest.approx(log["val_loss"][best], rel=1e-5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run."""
    undo = harness.tiny_training(training, registry)
    workdir = str(tmp_path_factory.mktemp("reference"))
    try:
        _train(workdir)
    finally:
        undo()
    return _log(workdir)


def _assert_equals_reference(workdir, reference):
    log = _log(workdir)
    assert log["epoch"] == reference["epoch"] == list(range(harness.EPOCHS))
    assert set(log) == set(reference)
    assert training.completed_epochs(workdir) == harness.EPOCHS
    assert np.all(np.diff(log["elapsed_s"]) >= 0)
    _assert_best_is_the_best_epoch(workdir)


def test_random_kills_at_write_steps_lose_nothing(tmp_path, tiny, reference):
    rng = np.random.default_rng(18)
    kills, runs = [], 0

    def covered():
        """Every kind of write step killed at least once, a JSON file's among them."""
        return ({"fsync", "rename", "save_weights"} <= {kind for _, kind, _ in kills}
                and any("json" in name for *_, name in kills))

    # At least 20 kills, and on until every kind was hit. Which write a random step number lands on
    # depends on how many files each epoch writes (best.keras only when validation improves, and the
    # tiny model's validation on random labels can flip between runs): CI once saw 20 kills miss
    # save_weights with nothing lost.
    while len(kills) < 20 or not covered():
        assert len(kills) < 100, f"100 random kills never hit every kind of write step: {kills}"
        workdir = str(tmp_path / f"run{runs}")
        runs += 1
        saved = 0
        while True:
            injector = harness.FaultInjector(kill_at=int(rng.integers(1, 25)),
                                             mode=str(rng.choice(harness.MODES)))
            try:
                with injector.installed():
                    _train(workdir)
                break  # finished
            except harness.Killed:
                kills.append((injector.mode, *injector.killed_at))
                now = training.completed_epochs(workdir)
                assert now >= saved, f"a kill at {injector.killed_at} lost saved epochs"
                saved = now
        _assert_equals_reference(workdir, reference)
    for mode, kind, name in kills:
        _count(f"kill ({mode} {kind})")


def test_sigkilled_processes_resume(tmp_path, reference):
    """Real SIGKILLs, mid-write included, in child processes."""
    workdir = str(tmp_path / "run")
    script = os.path.join(os.path.dirname(__file__), "_training_harness.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")]))
    kills = 0
    for kill_at, mode in [(1, "partial"), (9, "partial"), (13, "before")]:
        out = subprocess.run([sys.executable, script, workdir, str(kill_at), mode],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == -9, out.stderr[-2000:]
        kills += 1
    out = subprocess.run([sys.executable, script, workdir], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "DONE" in out.stdout, out.stderr[-2000:]
    _assert_equals_reference(workdir, reference)
    _count("SIGKILLs of child processes", kills)


# -- damaged or missing state files ------------------------------------------------
class _StopAfter(keras.callbacks.Callback):
    """Kills the run after epoch ``epoch`` is saved (callbacks after the saver)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise harness.Killed(f"after epoch {epoch}")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run killed after all but its last epoch (trained once, copied per test)."""
    undo = harness.tiny_training(training, registry)
    workdir = str(tmp_path_factory.mktemp("stopped") / "run")
    try:
        with pytest.raises(harness.Killed):
            _train(workdir, extra_callbacks=[_StopAfter(harness.EPOCHS - 2)])
    finally:
        undo()
    assert training.completed_epochs(workdir) == harness.EPOCHS - 1
    return workdir


def _copy(stopped_run, tmp_path):
    copy = str(tmp_path / "run")
    shutil.copytree(stopped_run, copy)
    return copy


def _damage(path, how):
    if how == "missing":
        os.remove(path)
    elif how == "empty":
        open(path, "w").close()
    elif how == "half":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif how == "garbage":
        with open(path, "wb") as f:
            f.write(b"<html>503</html>")


@pytest.mark.parametrize("how", ["missing", "empty", "half", "garbage"])
@pytest.mark.parametrize("target", ["weights", "state"])
def test_a_damaged_last_state_falls_back_to_the_previous_one(
        tmp_path, tiny, stopped_run, reference, target, how):
    workdir = _copy(stopped_run, tmp_path)
    done = harness.EPOCHS - 1
    if target == "weights":
        path = os.path.join(workdir, "backup", checkpoints.epoch_weights_name(done))
    else:
        path = os.path.join(workdir, "backup", checkpoints.STATE)
    _damage(path, how)
    if target == "state":  # the previous state: one epoch less
        assert training.completed_epochs(workdir) == done - 1
    _train(workdir)  # redoes the lost epoch, then the last one
    _assert_equals_reference(workdir, reference)
    _count(f"damaged last {target} file ({how})")


@pytest.mark.parametrize("how", ["empty", "half", "garbage"])
def test_unreadable_state_names_the_folder_and_what_to_delete(tmp_path, tiny, stopped_run, how):
    workdir = _copy(stopped_run, tmp_path)
    for name in (checkpoints.STATE, checkpoints.PREVIOUS):
        _damage(os.path.join(workdir, "backup", name), how)
    with pytest.raises(checkpoints.ResumeError) as err:
        _train(workdir)
    message = str(err.value)
    assert repr(workdir) in message and "Delete the folder" in message
    assert checkpoints.STATE in message  # what could not be read
    _count(f"both states damaged, clear error ({how})")


def test_both_weights_files_damaged_is_a_clear_error(tmp_path, tiny, stopped_run):
    workdir = _copy(stopped_run, tmp_path)
    for epoch in (harness.EPOCHS - 2, harness.EPOCHS - 1):
        _damage(os.path.join(workdir, "backup", checkpoints.epoch_weights_name(epoch)), "half")
    with pytest.raises(checkpoints.ResumeError, match="Delete the folder") as err:
        _train(workdir)
    assert checkpoints.epoch_weights_name(harness.EPOCHS - 1) in str(err.value)
    _count("both weights files damaged, clear error")


def test_a_torn_log_row_is_dropped_and_the_run_resumes(tmp_path, tiny, stopped_run):
    workdir = _copy(stopped_run, tmp_path)
    path = os.path.join(workdir, "log.csv")
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text[: len(text) - 20])  # a torn last line (an old, non-atomic log)
    _train(workdir)
    # That epoch is saved in the state, so only its row is gone.
    assert _log(workdir)["epoch"] == [*range(harness.EPOCHS - 2), harness.EPOCHS - 1]
    _count("torn log row")


# -- a full disk ----------------------------------------------------------------------
@pytest.mark.parametrize("where", ["save_weights", "save", "log", "preflight"])
def test_a_full_disk_is_a_clear_error_and_the_run_resumes(tmp_path, tiny, reference,
                                                          monkeypatch, where):
    workdir = str(tmp_path / "run")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    calls = {"n": 0}

    def failing(original, fail_on):
        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == fail_on:
                raise full
            return original(*args, **kwargs)
        return call

    with monkeypatch.context() as m:
        if where == "save_weights":  # epoch 2's weights (h5py reports ENOSPC)
            m.setattr(keras.Model, "save_weights", failing(keras.Model.save_weights, 2))
        elif where == "save":  # the first best.keras
            m.setattr(keras.Model, "save", failing(keras.Model.save, 1))
        elif where == "log":  # the third text file: epoch 1's log row
            m.setattr(checkpoints, "write_text", failing(checkpoints.write_text, 3))
        else:  # fewer free bytes than a checkpoint needs, before epoch 1
            usage = shutil.disk_usage(str(tmp_path))
            m.setattr(checkpoints.shutil, "disk_usage", lambda p: usage._replace(free=1000))
        with pytest.raises(checkpoints.DiskFullError) as err:
            _train(workdir)
    message = str(err.value)
    assert repr(workdir) in message and "free some disk space" in message
    assert err.value.errno == errno.ENOSPC
    saved = training.completed_epochs(workdir)
    assert f"saved up to epoch {saved}" in message
    leftovers = [n for d in (workdir, os.path.join(workdir, "backup"))
                 for n in os.listdir(d) if n.startswith(checkpoints.TMP_PREFIX)]
    assert not leftovers
    _train(workdir)  # space is free again
    _assert_equals_reference(workdir, reference)
    _count(f"disk full ({where})")


# -- resumes that must be refused -------------------------------------------------------
def test_best_keras_survives_a_resume(tmp_path, tiny, monkeypatch):
    """A resumed run replaces best.keras only with a better model."""
    workdir = str(tmp_path / "run")
    with pytest.raises(harness.Killed):
        _train(workdir, extra_callbacks=[_StopAfter(0)])
    best = os.path.join(workdir, "best.keras")
    before = open(best, "rb").read()
    # Every resumed epoch scores worse than epoch 0; the old ModelCheckpoint
    # forgot the best score on resume and saved the first of them anyway.
    on_epoch_end = training.EpochClock.on_epoch_end

    def worse(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        logs["val_accuracy"] = -1.0
    monkeypatch.setattr(training.EpochClock, "on_epoch_end", worse)
    _train(workdir)
    assert open(best, "rb").read() == before
    assert _log(workdir)["val_accuracy"][1:] == [-1.0] * (harness.EPOCHS - 1)


_ON_EPOCH_END = training.EpochClock.on_epoch_end


def _scores(monkeypatch, scores):
    """Validation scores by epoch, in place of the tiny model's (which can flip between runs)."""
    def scored(self, epoch, logs=None):
        _ON_EPOCH_END(self, epoch, logs)
        logs["val_accuracy"] = scores[epoch]
    monkeypatch.setattr(training.EpochClock, "on_epoch_end", scored)


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "copies"])
def test_a_fall_back_restores_the_best_model_of_the_state_it_falls_back_to(
        tmp_path, tiny, monkeypatch, links):
    """The lost epoch wrote best.keras; its redo scores worse (training on a busy
    CPU is not bit-for-bit deterministic: CI once saw it), so best.keras must
    go back to the previous state's best, the best the log now shows. File
    systems without hard links (some cloud-drive mounts) get copies."""
    if not links:
        def no_links(source, target):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(checkpoints.os, "link", no_links)
    workdir = str(tmp_path / "run")
    best = os.path.join(workdir, "best.keras")
    _scores(monkeypatch, {0: 0.5, 1: 0.9})
    with pytest.raises(harness.Killed):
        _train(workdir, extra_callbacks=[_StopAfter(0)])
    epoch0 = open(best, "rb").read()
    with pytest.raises(harness.Killed):
        _train(workdir, extra_callbacks=[_StopAfter(1)])
    assert open(best, "rb").read() != epoch0  # epoch 1 improved
    _damage(os.path.join(workdir, "backup", checkpoints.STATE), "garbage")
    _scores(monkeypatch, {1: 0.1, 2: 0.2})  # the redo of epoch 1 scores worse
    _train(workdir)
    assert _log(workdir)["val_accuracy"] == [0.5, 0.1, 0.2]
    assert open(best, "rb").read() == epoch0
    leftovers = sorted(os.listdir(os.path.join(workdir, "backup")))
    assert leftovers == sorted([checkpoints.STATE, checkpoints.PREVIOUS,
                                checkpoints.epoch_weights_name(2), checkpoints.epoch_weights_name(3),
                                checkpoints.pending_best_name(0)])
    _count("fall back past a best model")


def test_resume_with_another_recipe_or_data_is_refused(tmp_path, tiny):
    workdir = str(tmp_path / "run")
    short = harness.recipe(training, epochs=1)
    training.train(short, harness.splits(), workdir, verbose=0, seed=0)
    with pytest.raises(ValueError, match=r"peak_lr=0.002 there, 5.0 now"):
        training.train(harness.recipe(training, epochs=1, peak_lr=5.0),
                       harness.splits(), workdir, verbose=0)
    with pytest.raises(ValueError, match="other data"):
        training.train(short, harness.splits(seed=1), workdir, verbose=0)
    assert _log(workdir)["epoch"] == [0]  # nothing was touched
    _count("refused resumes (recipe, data)", 2)


def test_a_training_split_smaller_than_a_batch_writes_nothing(tmp_path, tiny):
    workdir = tmp_path / "run"
    splits = harness.splits(n_train=8)
    with pytest.raises(ValueError, match="fewer than one batch"):
        training.train(harness.recipe(training), splits, str(workdir), verbose=0)
    assert not workdir.exists() or not any(workdir.rglob("*.*"))
    with pytest.raises(ValueError, match="size >= 10"):
        training.train(harness.recipe(training, train_size=5), harness.splits(),
                       str(workdir), verbose=0)


def test_leftovers_without_a_state_are_not_adopted(tmp_path, tiny):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "log.csv").write_text("epoch,val_accuracy\n0,0.9\n1,0.8\n")
    with pytest.raises(checkpoints.ResumeError, match="no training state"):
        _train(str(workdir))
    (workdir / "log.csv").unlink()
    (workdir / "best.keras").write_bytes(b"PK")
    with pytest.raises(checkpoints.ResumeError, match="best.keras but no training state"):
        _train(str(workdir))
