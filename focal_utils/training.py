"""The book's CIFAR-10 training recipe, resumable after a crash or disconnect.

``train`` builds the model, the optimiser and the callbacks from a
``Recipe`` and calls ``fit``. Everything it writes lives in one work folder,
written atomically at the end of every epoch (``focal_utils.checkpoints``),
so a killed run loses at most the epoch in progress and calling ``train``
again resumes:

- ``backup/``: the training state (weights, optimiser, epochs done, best
  epoch, the recipe and a fingerprint of the data);
- ``log.csv``: one row per epoch (metrics, validation metrics,
  ``learning_rate`` and a cumulative ``elapsed_s`` that survives resumes);
- ``best.keras``: the model with the best validation accuracy so far.
"""

import csv
import dataclasses
import hashlib
import json
import os
import time

import keras

from focal_utils import checkpoints
from focal_utils.data import CIFAR10_MEAN, make_dataset, subset
from focal_utils.pretrained import TRAINED_CIFAR_MODEL
from focal_utils.registry import create_model

QUICK_ENV_VAR = "FOCAL_QUICK"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a training run (defaults: the book's full run)."""

    model_name: str = TRAINED_CIFAR_MODEL
    epochs: int = 60
    batch_size: int = 128
    peak_lr: float = 2e-3
    min_lr: float = 1e-5
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    drop_path_rate: float = 0.2
    erase_prob: float = 0.25  # random erasing (Cutout with the dataset mean)
    train_size: int = None  # class-balanced subset of the training split
    val_size: int = None
    seed: int = 0
    ema_momentum: float = None  # an average of the weights (Keras' use_ema); None: none


FULL = Recipe()
QUICK = Recipe(epochs=3, train_size=8000, val_size=2000, warmup_epochs=0.3)
# The full recipe run twice as long, with a moving average of the weights (its momentum of 0.995
# averages about the last 200 steps: long enough to smooth the noise of a high learning rate, short
# enough not to drag early epochs back towards the random initialisation). The shipped run took 2.1
# hours on 2 CPU cores (its log's elapsed_s); on a slower processor, or beside other work, plan for up to
# twice that, resuming from the backup if the session ends.
LONG = dataclasses.replace(FULL, epochs=120, ema_momentum=0.995)
# A race to the keras-io example's final 57.75% validation accuracy, not to the best model: the whole
# cosine schedule fits in three epochs, so the weights have settled at a low learning rate when the race
# ends; without stochastic depth or random erasing every step fits the data (their gain needs length).
# (A four-epoch schedule, probed at low priority, had 58.1% after its third epoch, still at 19% of the
# peak rate.)
SPRINT = dataclasses.replace(FULL, epochs=3, warmup_epochs=0.5, drop_path_rate=0.0, erase_prob=0.0)


def recipe_from_env():
    """``QUICK`` when ``$FOCAL_QUICK`` is "1" (CI), else ``FULL``."""
    return QUICK if os.environ.get(QUICK_ENV_VAR) == "1" else FULL


def learning_rate_schedule(recipe, steps_per_epoch):
    """Linear warmup to ``peak_lr``, then cosine decay to ``min_lr``."""
    warmup = int(recipe.warmup_epochs * steps_per_epoch)
    total = recipe.epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.peak_lr / 100,
        decay_steps=max(total - warmup, 1),
        alpha=recipe.min_lr / recipe.peak_lr,
        warmup_target=recipe.peak_lr,
        warmup_steps=warmup,
    )


def make_optimizer(recipe, model, steps_per_epoch):
    """AdamW with no weight decay on 1-D variables (norms, biases, LayerScale).

    With ``recipe.ema_momentum`` it also keeps an exponential moving average
    of the weights, updated every step (Keras' ``use_ema``).
    """
    ema = {}
    if recipe.ema_momentum is not None:
        if not 0.0 < recipe.ema_momentum < 1.0:
            raise ValueError("`ema_momentum` must be between 0 and 1 (e.g. 0.999), or None for "
                             f"no average. Received: ema_momentum={recipe.ema_momentum!r}")
        ema = dict(use_ema=True, ema_momentum=recipe.ema_momentum)
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate_schedule(recipe, steps_per_epoch),
        weight_decay=recipe.weight_decay,
        **ema,
    )
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) <= 1]
    )
    return optimizer


class EpochClock(keras.callbacks.Callback):
    """Adds clocks and the learning rate to each epoch's logs.

    ``elapsed_s``: wall-clock seconds since the run began, cumulative over
    resumes. ``cpu_s``: CPU seconds this process spent (all threads), also
    cumulative: on a shared machine it shows the compute the run really used.
    """

    def __init__(self, offset_s=0.0, cpu_offset_s=0.0):
        super().__init__()
        self.offset_s = offset_s
        self.cpu_offset_s = cpu_offset_s

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["elapsed_s"] = round(self.offset_s + time.perf_counter() - self.start, 1)
        logs["cpu_s"] = round(
            self.cpu_offset_s + time.process_time() - self.cpu_start, 1)
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))


def read_log(path):
    """The epoch log as a dict of column -> list of floats (``epoch`` as int)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
    if "epoch" in columns:
        columns["epoch"] = [int(e) for e in columns["epoch"]]
    return columns


def completed_epochs(workdir):
    """Epochs saved in ``workdir`` (0 if none)."""
    return checkpoints.completed_epochs(workdir)


def default_workdir(recipe):
    """``~/.cache/focal-book/runs/<name>``: the full run, the quick run and any
    other recipe each get their own folder, so that one never resumes another."""
    name = recipe.model_name
    if recipe == QUICK:
        name += "-quick"
    elif recipe != FULL:
        digest = hashlib.sha1(repr(checkpoints.recipe_dict(recipe)).encode())
        name += "-" + digest.hexdigest()[:8]
    return os.path.join(os.path.expanduser("~/.cache/focal-book/runs"), name)


def _clock_offsets(workdir):
    """The last saved epoch's ``elapsed_s`` and ``cpu_s`` (0 for a new run)."""
    header, rows = checkpoints.read_rows(workdir)
    if not rows or "elapsed_s" not in header:
        return 0.0, 0.0
    last = dict(zip(header, rows[-1]))
    return float(last["elapsed_s"]), float(last.get("cpu_s", 0.0))


def build_model(recipe):
    """The recipe's model, built and not compiled (see ``compile_for_training``)."""
    return create_model(recipe.model_name, drop_path_rate=recipe.drop_path_rate)


def compile_for_training(model, recipe, steps_per_epoch):
    """Compile ``model`` with the recipe's loss, optimiser schedule and metric."""
    model.compile(
        optimizer=make_optimizer(recipe, model, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def _training_splits(recipe, splits):
    """The recipe's (subsets of the) train and validation splits, checked."""
    train_split, val_split = splits["train"], splits["val"]
    if recipe.train_size:
        train_split = subset(train_split, recipe.train_size, recipe.seed)
    if recipe.val_size:
        val_split = subset(val_split, recipe.val_size, recipe.seed)
    if len(train_split[0]) < recipe.batch_size:
        raise ValueError(
            f"The training split has {len(train_split[0])} images, fewer than one "
            f"batch (batch_size={recipe.batch_size}): no step could be trained. "
            "Use a larger `train_size` or a smaller `batch_size`.")
    if len(val_split[0]) == 0:
        raise ValueError("The validation split is empty; `train` needs it to "
                         "choose best.keras. Pass a non-empty splits['val'].")
    return train_split, val_split


def train(recipe, splits, workdir, verbose=1, extra_callbacks=(), seed=None):
    """Train (or resume training) ``recipe`` on ``splits`` in ``workdir``.

    Args:
        recipe: a ``Recipe``.
        splits: ``{"train": (x, y), "val": (x, y), ...}`` from
            ``focal_utils.data.train_val_test_split``.
        workdir: folder for the backup, the log and the best model; keep it
            outside the repository (``default_workdir(recipe)``). Calling
            ``train`` again with the same folder resumes after the last saved
            epoch; another recipe or other data there is an error.
        verbose: passed to ``fit`` (1: progress bar).
        extra_callbacks: more callbacks, run after each epoch is saved.
        seed: if given, ``keras.utils.set_random_seed(seed)`` first (Python,
            NumPy and backend RNGs), for a reproducible initialisation. The
            data order and subsets follow ``recipe.seed`` either way.

    Returns:
        The trained model, compiled for training (the state of the last
        saved epoch). ``best.keras`` holds the best validation epoch.

    Raises:
        ValueError: the splits give no full training batch, or ``workdir``
            holds a run of another recipe or other data.
        focal_utils.checkpoints.ResumeError: ``workdir``'s state cannot be read (the
            message says what to delete).
        focal_utils.checkpoints.DiskFullError: a save ran out of space; the run is
            saved up to the epoch before and resumes once space is freed.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    train_split, val_split = _training_splits(recipe, splits)
    steps = len(train_split[0]) // recipe.batch_size
    model = compile_for_training(build_model(recipe), recipe, steps)
    # Restores the last saved epoch (weights, optimiser, log, best score).
    saver = checkpoints.Checkpointer(workdir)
    done = saver.restore(model, recipe,
                         checkpoints.data_fingerprint(train_split, val_split))
    if done >= recipe.epochs:
        if model.optimizer.use_ema:  # what fit does at its end
            model.optimizer.finalize_variable_values(model.trainable_variables)
        return model
    # With an average of the weights, validation scores the average (so best.keras is
    # chosen and saved by it) and fit ends with the average in the model.
    swap = [keras.callbacks.SwapEMAWeights()] if model.optimizer.use_ema else []
    callbacks = [EpochClock(*_clock_offsets(workdir)), *swap, saver, *extra_callbacks]
    model.fit(
        make_dataset(train_split, recipe.batch_size, training=True, seed=recipe.seed,
                     erase_prob=recipe.erase_prob, erase_fill=CIFAR10_MEAN),
        validation_data=make_dataset(val_split, 500),
        epochs=recipe.epochs, initial_epoch=done, callbacks=callbacks,
        verbose=verbose, shuffle=False,  # the dataset shuffles itself
    )
    return model


def train_and_test(recipe, splits, workdir, verbose=2, seed=None, extra_callbacks=()):
    """``train`` to the end (or resume), then score the test split once and export.

    Writes ``test.json`` (test accuracy and loss of the last epoch's weights,
    the epochs done) and ``model.keras`` (``export_model``) into ``workdir``,
    both atomically, and returns that dict. The scripts that make the shipped
    runs (``scripts/train_cifar10.py``, ``scripts/train_mixers.py``) share it,
    so every shipped accuracy is measured the same way. ``extra_callbacks``
    go to ``train`` (e.g. ``focal_utils.snapshots.MapSnapshots``).
    """
    model = train(recipe, splits, workdir, verbose=verbose, seed=seed,
                  extra_callbacks=extra_callbacks)
    start = time.perf_counter()
    test_loss, test_acc = model.evaluate(make_dataset(splits["test"], 500), verbose=0)
    result = dict(test_accuracy=test_acc, test_loss=test_loss,
                  eval_s=round(time.perf_counter() - start, 1),
                  epochs=completed_epochs(workdir))
    checkpoints.write_json(os.path.join(workdir, "test.json"), result)
    export_model(model, recipe, os.path.join(workdir, "model.keras"))
    return result


def exported_test_predictions(workdir, test_split, tolerance=1e-4):
    """Predict ``test_split`` again with ``workdir``'s exported ``model.keras``, checked against ``test.json``.

    Why: what ships is the exported file, not the model ``train_and_test``
    scored, so a shipped accuracy is only true if the file gives it again.

    Returns:
        The predicted classes, ``(N,)`` uint8, and their accuracy.

    Raises:
        FileNotFoundError: the run has not finished (no ``test.json`` or ``model.keras``).
        ValueError: the file's accuracy differs from ``test.json``'s by more than ``tolerance``.
    """
    exported, result = os.path.join(workdir, "model.keras"), os.path.join(workdir, "test.json")
    for path in (exported, result):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: the run in {workdir} has not finished. Run its "
                                    "training command again; it resumes and ends by writing it.")
    with open(result) as f:
        stored = json.load(f)["test_accuracy"]
    x_test, y_test = test_split
    model = keras.saving.load_model(exported, compile=False)
    predicted = model.predict(x_test, batch_size=500, verbose=0).argmax(axis=-1).astype("uint8")
    accuracy = float((predicted == keras.ops.convert_to_numpy(y_test).reshape(-1)).mean())
    if abs(accuracy - stored) > tolerance:
        raise ValueError(f"{exported} scores {accuracy:.4f} on the test images, but {result} says "
                         f"{stored:.4f}. Delete both and run the training command again to re-export.")
    return predicted, accuracy


def export_model(model, recipe, path):
    """Save an uncompiled copy of ``model`` (no optimiser state): small, for readers."""
    clean = build_model(recipe)
    clean.set_weights(model.get_weights())
    return checkpoints.atomic_write(path, lambda tmp: clean.save(tmp))
