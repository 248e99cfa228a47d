"""Atomic, resumable training state: a kill or a full disk never loses work.

``focal_utils.training.train`` keeps everything a run needs in one work
folder::

    workdir/
        log.csv                        one row per saved epoch
        best.keras                     the model of the best validation epoch
        backup/
            training_metadata.json     the state: epochs done, weights file,
                                       best epoch, recipe and data fingerprint
            training_metadata.json.bkp the previous state
            epoch-NNNN.weights.h5      weights + optimiser of those two states
            best-epoch-NNNN.keras      the best model of each of those states

Every file is written under a temporary name, flushed to disk and renamed
into place (``os.replace`` is atomic), so a reader never sees half a file.
An epoch counts as saved only when ``training_metadata.json`` names it: the
weights, the pending ``best.keras`` and the log row are written first, the
state last (the commit), and ``best.keras`` is then made from the pending
best model (a hard link where the file system has them, else a copy). A run
killed anywhere in between resumes from the last committed state: files of
an uncommitted epoch are deleted and ``best.keras`` is made again from the
state's best model. If a state file or its weights cannot be read, resume
falls back to the previous state, and to its best model: the lost epoch may
have written ``best.keras``, and training that is not bit-for-bit
deterministic (threads on a busy CPU) need not score the redone epoch alike,
so that file would not be the log's best. If neither state can be read,
resume stops with an error that names the folder and what to delete.

The best score is restored from ``log.csv``, so a resumed run replaces
``best.keras`` only with a better model. A resume with another recipe or
other data is refused.
"""

import contextlib
import csv
import dataclasses
import errno
import glob
import hashlib
import io
import json
import math
import os
import shutil

import keras

FORMAT = 2
BACKUP = "backup"
STATE = "training_metadata.json"
PREVIOUS = STATE + ".bkp"
LOG = "log.csv"
BEST = "best.keras"
TMP_PREFIX = "tmp."
MONITOR = "val_accuracy"
# Keras' BackupAndRestore layout (focal_utils before format 2): still resumable.
LEGACY_WEIGHTS = "latest.weights.h5"


class ResumeError(RuntimeError):
    """The work folder holds a training state that cannot be resumed."""


class DiskFullError(OSError):
    """A checkpoint could not be written; the last saved epoch is intact."""


# -- atomic files ------------------------------------------------------------
def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder):
    try:
        _fsync(folder)
    except OSError:  # some file systems cannot sync a directory
        pass


def _rename(src, dst):
    """Atomically move ``src`` over ``dst`` and make the rename durable."""
    os.replace(src, dst)
    _fsync_dir(os.path.dirname(dst) or ".")


def _remove(path):
    os.remove(path)


def tmp_path(path):
    """Where ``path`` is written before the rename (same folder and suffix)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, TMP_PREFIX + name)


def atomic_write(path, write):
    """``write(tmp)``, flush it to disk, then rename it to ``path``.

    A kill leaves either the old ``path`` or the new one, never a mix; a
    failed write (e.g. ``ENOSPC``) removes the temporary file and re-raises.
    """
    tmp = tmp_path(path)
    try:
        write(tmp)
        _fsync(tmp)
    except Exception:  # not on a kill: the next restore removes the file
        if os.path.exists(tmp):
            _remove(tmp)
        raise
    _rename(tmp, path)
    return path


def write_text(path, text):
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            f.write(text)
    return atomic_write(path, write)


def write_json(path, obj):
    return write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def write_csv(path, columns, rows):
    """Write ``rows`` (dicts keyed by ``columns``) as CSV with a header, atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, text.getvalue())


def copy_file(source, path):
    """Copy ``source`` to ``path`` atomically (a kill never leaves half a file at ``path``)."""
    return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))


def share_file(source, path):
    """``path`` becomes ``source``'s content, atomically.

    A hard link costs no disk and no flush (the content is already on disk);
    file systems without links (some network and cloud-drive mounts) get a copy.
    """
    tmp = tmp_path(path)
    if os.path.lexists(tmp):
        _remove(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        return copy_file(source, path)
    _rename(tmp, path)
    return path


# -- fingerprints ------------------------------------------------------------
def data_fingerprint(*splits):
    """A short hash of the arrays of ``(x, y)`` splits (values, shapes, dtypes)."""
    digest = hashlib.sha1()
    for x, y in splits:
        for array in (x, y):
            array = keras.ops.convert_to_numpy(array)
            digest.update(f"{array.shape}{array.dtype}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()[:16]


# Recipe fields added after runs were saved: left out of the recipe's dict while
# they are None (their default), so that older work folders (their hashed names
# and saved states) still match the recipes that made them.
OPTIONAL_RECIPE_FIELDS = ("ema_momentum",)


def recipe_dict(recipe):
    return {k: v for k, v in dataclasses.asdict(recipe).items()
            if not (k in OPTIONAL_RECIPE_FIELDS and v is None)}


@contextlib.contextmanager
def ema_weights(model):
    """Inside the block, ``model`` holds the optimizer's moving average of its weights.

    A no-op unless the optimizer keeps one (``Recipe.ema_momentum``). The
    training weights are copied aside and put back on exit, so the optimizer's
    state is untouched: ``Checkpointer`` saves ``best.keras`` with the average
    while the backup keeps the raw weights and the average, as training needs them.
    """
    optimizer = model.optimizer
    if optimizer is None or not getattr(optimizer, "use_ema", False) or not optimizer.built:
        yield model
        return
    variables = optimizer._trainable_variables  # paired with the averages, as Keras pairs them
    raw = [keras.ops.convert_to_numpy(v) for v in variables]
    for variable, average in zip(variables, optimizer._model_variables_moving_average):
        variable.assign(average)
    try:
        yield model
    finally:
        for variable, value in zip(variables, raw):
            variable.assign(value)


# -- the log -----------------------------------------------------------------
def read_rows(workdir):
    """``(header, rows)`` of ``log.csv`` (empty if there is none)."""
    path = os.path.join(workdir, LOG)
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], []
    header, body = rows[0], []
    for row in rows[1:]:
        if len(row) != len(header):  # a torn last line of an old-format log
            break
        body.append(row)
    return header, body


def write_rows(workdir, header, rows):
    lines = [",".join(header)] + [",".join(row) for row in rows]
    write_text(os.path.join(workdir, LOG), "\n".join(lines) + "\n")


# -- the state ---------------------------------------------------------------
@dataclasses.dataclass
class State:
    """A committed training state, as written in ``training_metadata.json``."""

    epoch: int  # epochs done
    weights: str  # file name in backup/
    best_epoch: int = None
    best: float = None
    recipe: dict = None
    data: str = None
    source: str = STATE

    def to_json(self):
        return dict(format=FORMAT, epoch=self.epoch, weights=self.weights,
                    best_epoch=self.best_epoch, best=self.best,
                    recipe=self.recipe, data=self.data)


def _read_state(path):
    """The state at ``path``, or the reason it cannot be read."""
    try:
        with open(path) as f:
            raw = json.load(f)
        epoch = int(raw["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{os.path.basename(path)}: {type(err).__name__}: {err}"
    legacy = LEGACY_WEIGHTS + (".bkp" if path.endswith(".bkp") else "")
    return State(epoch=epoch, weights=raw.get("weights", legacy),
                 best_epoch=raw.get("best_epoch"), best=raw.get("best"),
                 recipe=raw.get("recipe"), data=raw.get("data"),
                 source=os.path.basename(path))


def epoch_weights_name(epoch):
    return f"epoch-{epoch:04d}.weights.h5"


def pending_best_name(epoch):
    """``best.keras`` of epoch ``epoch`` (0-based) before it is moved in place."""
    return f"best-epoch-{epoch:04d}.keras"


def _is_disk_full(err):
    """ENOSPC and friends, also when h5py only says so in its message."""
    codes = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return err.errno in codes or any(
        os.strerror(code) in str(err) or f"errno = {code}" in str(err) for code in codes)


class Checkpointer(keras.callbacks.Callback):
    """Saves and restores a run in ``workdir`` (see the module docstring).

    Call ``restore(model, recipe, data)`` before ``fit`` (it returns the
    epochs already done, for ``initial_epoch``); as a callback it commits
    every epoch. Put it after the callbacks that add to the epoch logs.
    """

    def __init__(self, workdir, monitor=MONITOR):
        super().__init__()
        self.workdir = workdir
        self.backup = os.path.join(workdir, BACKUP)
        self.monitor = monitor
        self.state = None
        self.best = None
        self.header = None
        self.recipe = None
        self.data = None

    # -- paths ---------------------------------------------------------------
    def _in_backup(self, name):
        return os.path.join(self.backup, name)

    def _delete_folder_hint(self):
        return (f"Delete the folder {self.workdir!r} to start this run over (or "
                f"only its '{BACKUP}' folder, log.csv and best.keras), or pass "
                "another work folder.")

    # -- restore -------------------------------------------------------------
    def restore(self, model, recipe, data):
        """Clean up an interrupted write, load the last good state into the
        (compiled) ``model`` and return the number of epochs done."""
        os.makedirs(self.backup, exist_ok=True)
        self.recipe, self.data = recipe_dict(recipe), data
        for folder in (self.workdir, self.backup):
            for leftover in glob.glob(os.path.join(folder, TMP_PREFIX + "*")):
                _remove(leftover)
        candidates = [self._in_backup(n) for n in (STATE, PREVIOUS)]
        states = [_read_state(p) for p in candidates if os.path.exists(p)]
        if not states:
            self._start_fresh()
            return 0
        problems = []
        for state in states:
            if isinstance(state, str):
                problems.append(state)
                continue
            self._check_same_run(state)
            try:
                self._load_weights(model, state)
            except Exception as err:  # h5py raises OSError, ValueError, KeyError...
                problems.append(f"{state.weights}: {type(err).__name__}: {err}")
                continue
            self._adopt(state, fell_back=bool(problems))
            return state.epoch
        raise ResumeError(
            f"Cannot resume the training run in {self.workdir!r}: no saved state "
            f"in {self.backup!r} can be read ({'; '.join(problems)}). "
            + self._delete_folder_hint())

    def _start_fresh(self):
        _, rows = read_rows(self.workdir)
        best = os.path.join(self.workdir, BEST)
        # A first epoch killed before its commit leaves its log row (written
        # first) but never best.keras (moved in after the commit).
        rows = [r for r in rows if r[0] != "0"]
        if rows or os.path.exists(best):
            raise ResumeError(
                f"The work folder {self.workdir!r} holds "
                f"{'log.csv rows' if rows else 'best.keras'} but no training state "
                f"in '{BACKUP}/', so they cannot belong to a resumable run. "
                + self._delete_folder_hint())
        if os.path.exists(os.path.join(self.workdir, LOG)):  # a header only
            _remove(os.path.join(self.workdir, LOG))
        for name in os.listdir(self.backup):  # weights of an uncommitted epoch
            _remove(self._in_backup(name))
        self.state, self.best, self.header = None, None, None

    def _check_same_run(self, state):
        if state.recipe is not None:
            changed = {k: (state.recipe.get(k), v) for k, v in self.recipe.items()
                       if state.recipe.get(k) != v}
            if changed:
                diff = ", ".join(f"{k}={old!r} there, {new!r} now"
                                 for k, (old, new) in sorted(changed.items()))
                raise ValueError(
                    f"The work folder {self.workdir!r} holds a run of another "
                    f"recipe ({diff}); resuming would mix the two. Pass the same "
                    "recipe to resume, or another work folder to start a new run.")
        if state.data is not None and state.data != self.data:
            raise ValueError(
                f"The work folder {self.workdir!r} holds a run trained on other "
                f"data (fingerprint {state.data} there, {self.data} now: another "
                "split, subset or dataset). Pass the same `splits` to resume, or "
                "another work folder to start a new run.")

    def _load_weights(self, model, state):
        path = self._in_backup(state.weights)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(path)

    def _adopt(self, state, fell_back):
        """Make ``state`` the current one: log, best model and files agree."""
        header, rows = read_rows(self.workdir)
        rows = [r for r in rows if int(r[0]) < state.epoch]
        if header:
            write_rows(self.workdir, header, rows)
        self.header = header or None
        if fell_back:
            state.source = STATE
            write_json(self._in_backup(STATE), state.to_json())
        self.state = state
        # The best score: from the log (it survives resumes), else the state.
        scores = [float(dict(zip(header, r))[self.monitor]) for r in rows
                  if self.monitor in header]
        self.best = max(scores) if scores else state.best
        self._install_best(state)
        self._prune()

    def _install_best(self, state):
        """Make ``best.keras`` the best model of ``state`` (a no-op if it is already).

        Folders saved before the backup kept its best models (and a state with
        no validation score) have no such file: ``best.keras`` stays as it is.
        """
        if state.best_epoch is None:
            return
        source = self._in_backup(pending_best_name(state.best_epoch))
        best = os.path.join(self.workdir, BEST)
        if not os.path.exists(source):
            return
        if os.path.exists(best) and os.path.samefile(source, best):
            return
        share_file(source, best)

    def _prune(self):
        """Delete the files no state refers to (uncommitted or superseded)."""
        keep = set()
        for name in (STATE, PREVIOUS):
            state = _read_state(self._in_backup(name))
            if isinstance(state, State):
                keep.add(state.weights)
                if state.best_epoch is not None:
                    keep.add(pending_best_name(state.best_epoch))
        for name in os.listdir(self.backup):
            if name in (STATE, PREVIOUS) or name in keep:
                continue
            _remove(self._in_backup(name))

    # -- save ----------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        try:
            self._commit(epoch, logs)
        except OSError as err:
            self._discard_uncommitted()
            if not _is_disk_full(err):
                raise
            done = self.state.epoch if self.state else 0
            raise DiskFullError(
                err.errno,
                f"No space left to save epoch {epoch + 1} in {self.workdir!r} "
                f"({err}). The run is saved up to epoch {done}: free some disk "
                "space (or pass a work folder on another disk, after copying "
                "this one there) and call train() again to resume.") from err

    def _discard_uncommitted(self):
        for folder in (self.workdir, self.backup):
            for leftover in glob.glob(os.path.join(folder, TMP_PREFIX + "*")):
                _remove(leftover)
        self._prune()

    def _needed_bytes(self):
        """A generous estimate of one epoch's writes (checked before writing)."""
        sizes = [os.path.getsize(self._in_backup(self.state.weights))] \
            if self.state else []
        best = os.path.join(self.workdir, BEST)
        if os.path.exists(best):
            sizes.append(os.path.getsize(best))
        if not sizes:  # weights + 2 optimiser moments, float32
            sizes = [3 * 4 * sum(math.prod(v.shape) for v in self.model.weights)] * 2
        return 2 * sum(sizes) + (1 << 20)

    def _commit(self, epoch, logs):
        free = shutil.disk_usage(self.backup).free
        needed = self._needed_bytes()
        if free < needed:
            raise OSError(errno.ENOSPC, f"{free} bytes free, about {needed} needed")
        done = epoch + 1
        weights = epoch_weights_name(done)
        atomic_write(self._in_backup(weights),
                     lambda tmp: self.model.save_weights(tmp, overwrite=True))
        score = logs.get(self.monitor)
        improved = score is not None and (self.best is None or score > self.best)
        if improved:
            with ema_weights(self.model):  # the average, if training keeps one
                atomic_write(self._in_backup(pending_best_name(epoch)),
                             lambda tmp: self.model.save(tmp, overwrite=True))
        self._append_log(epoch, logs)
        previous = self.state
        state = State(
            epoch=done, weights=weights,
            best_epoch=epoch if improved else (previous and previous.best_epoch),
            best=float(score) if improved else self.best,
            recipe=self.recipe, data=self.data)
        if previous is not None:
            write_json(self._in_backup(PREVIOUS), previous.to_json())
        write_json(self._in_backup(STATE), state.to_json())  # the commit
        self.state = state
        if improved:
            self.best = float(score)
            self._install_best(state)
        self._prune()

    def _append_log(self, epoch, logs):
        header, rows = read_rows(self.workdir)
        if not header:
            header = ["epoch"] + sorted(logs)
        row = {"epoch": epoch, **logs}
        missing = [k for k in header if k not in row]
        if missing:
            raise ValueError(
                f"The epoch logs lack the columns {missing} of "
                f"{os.path.join(self.workdir, LOG)}; pass the same callbacks and "
                "metrics as the run that wrote it.")
        rows = [r for r in rows if int(r[0]) < epoch]
        rows.append([str(epoch)] + [repr(float(row[k])) for k in header[1:]])
        write_rows(self.workdir, header, rows)


def completed_epochs(workdir):
    """Epochs saved in ``workdir`` (0 if none), falling back to the previous
    state if the last one cannot be read."""
    backup = os.path.join(workdir, BACKUP)
    for name in (STATE, PREVIOUS):
        path = os.path.join(backup, name)
        if os.path.exists(path):
            state = _read_state(path)
            if isinstance(state, State):
                return state.epoch
    return 0
