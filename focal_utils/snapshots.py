"""Maps over training: the gates and modulators of fixed images, kept at chosen epochs.

The keras-io example says its gate pictures "get better as training goes on"
but shows one epoch. ``MapSnapshots`` is a callback that, at the end of the
chosen epochs, reads the maps of a fixed set of images
(:func:`focal_utils.modulation_maps`) and keeps their panels
(:func:`focal_utils.interpretation.all_panels`: each focal level's gate, the
global gate and the modulator norm) in one small ``.npz`` beside the run's
log, so no checkpoint per epoch is needed. :func:`load_snapshots` reads it
back for a slider over epochs. When training keeps a moving average of the
weights (``Recipe.ema_momentum``), the maps are the average's: the weights
that are validated and saved as ``best.keras``.

The file is rewritten whole at each kept epoch, through a temporary file and a
rename (``focal_utils.checkpoints.atomic_write``), so a run killed mid-write leaves the previous complete file;
a resumed run keeps what was stored and overwrites an epoch it trains again.
"""

import os

import keras
import numpy as np

from focal_utils.checkpoints import atomic_write, ema_weights
from focal_utils.interpretation import all_panels, panel_names
from focal_utils.maps import modulation_maps

_SEP = "__"


def _encode(key):
    return "panels" + _SEP + key.replace("/", _SEP)


def _decode(name):
    return name[len("panels" + _SEP):].replace(_SEP, "/")


def fixed_indices(labels, per_class=2, num_classes=10):
    """Indices of the first ``per_class`` images of each class in ``labels``, class by class.

    Why: the images a run keeps maps of are chosen before training, so they
    cannot depend on what the model gets right; taking the first of each class
    makes the choice reproducible from the labels alone and balanced.

    Raises:
        ValueError: some class has fewer than ``per_class`` images.
    """
    labels = np.asarray(labels).reshape(-1)
    picked = []
    for c in range(num_classes):
        found = np.flatnonzero(labels == c)[:per_class]
        if len(found) < per_class:
            raise ValueError(f"`labels` has {len(found)} images of class {c}; `per_class` asks for "
                             f"{per_class}. Pass a smaller `per_class` or more labels.")
        picked.extend(int(i) for i in found)
    return picked


def load_snapshots(path):
    """Read a snapshot file.

    Returns:
        dict with ``"epochs"`` (``(E,)``, 0-based as in the log), ``"images"``
        ``(N, H, W, C)``, ``"labels"`` ``(N,)`` (-1 where unknown), ``"names"``
        (the panel names) and ``"panels"``: ``{key: (E, N, P, h, w)}`` float16,
        keys in network order.

    Raises:
        ValueError: naming the file if it is not a snapshot file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable snapshot file ({error}).") from None
    missing = {"epochs", "images", "labels", "names", "order"} - set(arrays)
    if missing:
        raise ValueError(f"{path} is not a snapshot file: it lacks {sorted(missing)}.")
    order = [str(key) for key in arrays["order"]]
    return {"epochs": arrays["epochs"], "images": arrays["images"],
            "labels": arrays["labels"], "names": [str(n) for n in arrays["names"]],
            "panels": {key: arrays[_encode(key)] for key in order}}


def save_snapshots(path, snapshot):
    """Write ``snapshot`` (a dict as ``load_snapshots`` returns it) to ``path``, atomically.

    Raises:
        ValueError: the panels do not have one entry per epoch and per image.
    """
    epochs, images = np.asarray(snapshot["epochs"]), np.asarray(snapshot["images"])
    for key, panels in snapshot["panels"].items():
        if panels.shape[:2] != (len(epochs), len(images)):
            raise ValueError(f"Panels {key!r} have shape {panels.shape}; expected "
                             f"({len(epochs)} epochs, {len(images)} images, ...).")
    arrays = {_encode(key): panels for key, panels in snapshot["panels"].items()}

    def write(tmp):
        with open(tmp, "wb") as out:
            np.savez(out, epochs=epochs, images=images, labels=np.asarray(snapshot["labels"]),
                     names=np.asarray(snapshot["names"]), order=np.asarray(list(snapshot["panels"])),
                     **arrays)

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return atomic_write(os.fspath(path), write)


def select_epochs(snapshot, epochs):
    """``snapshot`` with only the given 0-based ``epochs``, in their stored order.

    Why: a run keeps every epoch (about 40 KB each for the book's model); the
    package ships a subset (``spread_epochs``).

    Raises:
        ValueError: an asked epoch is not stored.
    """
    stored = [int(e) for e in snapshot["epochs"]]
    wanted = {int(e) for e in epochs}
    missing = sorted(wanted - set(stored))
    if missing:
        raise ValueError(f"Epochs {missing} are not in the snapshot (it holds {stored[0]}-{stored[-1]}"
                         f" with {len(stored)} epochs). Pick from `snapshot['epochs']`.")
    rows = [i for i, e in enumerate(stored) if e in wanted]
    return dict(snapshot, epochs=snapshot["epochs"][rows],
                panels={key: panels[rows] for key, panels in snapshot["panels"].items()})


def spread_epochs(stored, first=10, every=10):
    """Which of the ``stored`` 0-based epochs to ship: the first ``first`` one by one (where the
    maps change fastest), then every ``every``-th epoch (counted from 1), and always the last."""
    stored = sorted(int(e) for e in stored)
    if not stored:
        return []
    kept = {e for e in stored if e < first or (e + 1) % every == 0}
    kept.add(stored[-1])
    return sorted(kept)


def agreement_with_last(snapshot, panel=-1):
    """How far each kept epoch's maps already look like the last epoch's: ``{key: (E,)}``.

    For every block, the Pearson correlation between an image's map (``panel``:
    by default the last, the modulator norm) at each epoch and the same image's
    map at the last kept epoch, averaged over the images. 1 means the map has
    its final layout; it says nothing of its scale, which
    :func:`panel_magnitudes` gives. Why correlation: the keras-io example's
    claim that the maps "get better as training goes on" becomes a number, how
    soon each block's maps settle.

    A map that is constant over an image (a 1x1 map, or a dead panel) has no
    layout; its correlation is NaN.
    """
    agreement = {}
    for key, panels in snapshot["panels"].items():
        maps = np.asarray(panels[:, :, panel], dtype="float64")  # (E, N, h, w)
        flat = maps.reshape(maps.shape[0], maps.shape[1], -1)
        centred = flat - flat.mean(axis=-1, keepdims=True)
        last = centred[-1]
        norms = np.linalg.norm(centred, axis=-1) * np.linalg.norm(last, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (centred * last).sum(axis=-1) / norms
        r[norms == 0] = np.nan
        agreement[key] = r.mean(axis=1)
    return agreement


def panel_magnitudes(snapshot):
    """Mean absolute value of every panel per kept epoch: ``{key: (E, P)}``.

    For the gates, how strongly each focal level is mixed in (the sign of a
    gate can be absorbed by the projection that follows, so the magnitude is
    what tells "used" from "ignored"); for the modulator norm, how much
    context the block injects. NaN for the levels a block lacks.
    """
    return {key: np.abs(np.asarray(panels, dtype="float64")).mean(axis=(1, 3, 4))
            for key, panels in snapshot["panels"].items()}


class MapSnapshots(keras.callbacks.Callback):
    """Keep the maps of fixed images at chosen epochs, in one ``.npz``.

    Args:
        images: ``(N, H, W, C)`` images as the model takes them (16 test
            images make a file of well under a megabyte for the book's model).
        path: the ``.npz`` to write (e.g. beside ``log.csv``).
        epochs: 0-based epochs to keep, or None for every epoch.
        labels: optional true classes of ``images``, stored with them.
    """

    def __init__(self, images, path, epochs=None, labels=None):
        super().__init__()
        self.images = np.asarray(images)
        if self.images.ndim != 4 or len(self.images) == 0:
            raise ValueError(
                "MapSnapshots needs a non-empty batch of images (N, H, W, C). "
                f"Received: shape {self.images.shape}"
            )
        self.path = os.fspath(path)
        self.epochs = None if epochs is None else {int(e) for e in epochs}
        self.labels = (np.full(len(self.images), -1) if labels is None
                       else np.asarray(labels).reshape(-1).astype("int64"))
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels.")
        self.kept = {}  # epoch -> {key: (N, P, h, w)}

    def on_train_begin(self, logs=None):
        # A resumed run keeps the epochs stored before the interruption.
        if os.path.exists(self.path):
            stored = load_snapshots(self.path)
            self.kept = {int(epoch): {key: panels[i] for key, panels in stored["panels"].items()}
                         for i, epoch in enumerate(stored["epochs"])}

    def on_epoch_end(self, epoch, logs=None):
        if self.epochs is not None and epoch not in self.epochs:
            return
        with ema_weights(self.model):  # the maps of the weights that are validated and saved
            maps = modulation_maps(self.model, self.images)
        self.kept[int(epoch)] = {key: panels.astype("float16")
                                 for key, panels in all_panels(maps).items()}
        self.write()

    def write(self):
        """Write every kept epoch to ``path`` atomically."""
        epochs = sorted(self.kept)
        keys = list(self.kept[epochs[0]])
        save_snapshots(self.path, {
            "epochs": np.asarray(epochs), "images": self.images, "labels": self.labels,
            "names": panel_names(self.model),
            "panels": {key: np.stack([self.kept[e][key] for e in epochs]) for key in keys}})
