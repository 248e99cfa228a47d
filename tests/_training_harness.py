"""A tiny training run and a fault injector, for the training fault tests.

Importable by the tests, and a script for the child processes that get
SIGKILLed::

    python tests/_training_harness.py WORKDIR [KILL_AT MODE]

The injector counts the write steps of ``focal_utils.checkpoints`` (each
file's flush to disk, each rename, each deletion) and of Keras' savers, and
at step ``KILL_AT`` kills the run: ``"partial"`` truncates the file being
written to half its size first (a kill in the middle of a write),
``"before"`` and ``"after"`` kill just before or after the step.
"""

import contextlib
import dataclasses
import os
import signal
import sys

import numpy as np

EPOCHS = 3
MODES = ("partial", "before", "after")


class Killed(BaseException):
    """Raised in place of a SIGKILL: nothing catches it and nothing is cleaned."""


def tiny_training(training, registry):
    """Make ``training.train`` build a tiny FocalNet and run it eagerly (no
    tracing, so a run starts in a second); returns an undo function."""
    build, compile_ = training.build_model, training.compile_for_training

    def build_model(recipe):
        return registry.create_model(recipe.model_name, embed_dim=8, depths=(1,),
                                     drop_path_rate=recipe.drop_path_rate)

    def compile_for_training(model, recipe, steps):
        compile_(model, recipe, steps)
        model.run_eagerly = True
        return model

    training.build_model = build_model
    training.compile_for_training = compile_for_training

    def undo():
        training.build_model, training.compile_for_training = build, compile_
    return undo


def splits(n_train=48, n_val=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_train + n_val, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n_train + n_val)
    return {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:])}


def recipe(training, **changes):
    settings = dict(epochs=EPOCHS, batch_size=16, warmup_epochs=0.5)
    return dataclasses.replace(training.FULL, **{**settings, **changes})


class FaultInjector:
    """Counts write steps; at step ``kill_at`` applies ``mode`` and kills."""

    def __init__(self, kill_at=None, mode="after", hard=False):
        self.kill_at, self.mode, self.hard = kill_at, mode, hard
        self.steps = 0
        self.killed_at = None  # (step kind, file name)

    def _kill(self, kind, path):
        self.killed_at = (kind, os.path.basename(str(path)))
        if self.hard:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        raise Killed(f"killed at write step {self.steps}: {kind} {path}")

    def _step(self, kind, path, call, truncates):
        self.steps += 1
        if self.steps != self.kill_at:
            return call()
        if self.mode == "before":
            self._kill(kind, path)
        partial = self.mode == "partial" and truncates
        result = None if partial and kind == "fsync" else call()
        if partial and os.path.isfile(path):
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
        self._kill(kind, path)
        return result

    @contextlib.contextmanager
    def installed(self):
        import keras

        from focal_utils import checkpoints

        originals = dict(fsync=checkpoints._fsync, rename=checkpoints._rename,
                         remove=checkpoints._remove,
                         save=keras.Model.save, save_weights=keras.Model.save_weights)

        def fsync(path):
            if not os.path.isfile(path):  # a folder's fsync is not a write
                return originals["fsync"](path)
            return self._step("fsync", path, lambda: originals["fsync"](path), True)

        def rename(src, dst):
            return self._step("rename", dst, lambda: originals["rename"](src, dst), False)

        def remove(path):
            return self._step("remove", path, lambda: originals["remove"](path), False)

        def saver(name):
            def save(model, filepath, *args, **kwargs):
                return self._step(name, filepath, lambda: originals[name](
                    model, filepath, *args, **kwargs), True)
            return save

        checkpoints._fsync, checkpoints._rename, checkpoints._remove = fsync, rename, remove
        keras.Model.save, keras.Model.save_weights = saver("save"), saver("save_weights")
        try:
            yield self
        finally:
            checkpoints._fsync = originals["fsync"]
            checkpoints._rename = originals["rename"]
            checkpoints._remove = originals["remove"]
            keras.Model.save = originals["save"]
            keras.Model.save_weights = originals["save_weights"]


def main(workdir, kill_at=None, mode="after"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from focal_utils import registry, training

    tiny_training(training, registry)
    injector = FaultInjector(int(kill_at) if kill_at else None, mode, hard=True)
    with injector.installed():
        training.train(recipe(training), splits(), workdir, verbose=0, seed=0)
    print(f"DONE after {injector.steps} write steps", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
