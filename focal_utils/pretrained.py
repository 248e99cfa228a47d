"""The book's trained weights, shipped inside the package, keyed the way timm keys them.

``focal_utils/weights/`` holds what Chapter 7's full run produced: the
trained CIFAR-10 model as a ``.keras`` file (uncompiled; takes 32x32x3 images
in 0-255 and returns logits) and the run's per-epoch log as CSV, plus the
logs of the book's earlier full runs, which Chapter 7 compares with the
final one. They are package data, so ``pip install`` (from a clone or from
GitHub, as in Colab) carries them and no download is needed.

Each shipped model is named ``architecture.tag``, as timm names its
pretrained weights (``focalnet_tiny_srf.ms_in1k``): the architecture is a
name of the registry (``focal_utils.list_models()``), the tag says what it
was trained on and how (``cifar10_e120_ema``: CIFAR-10, 120 epochs, a moving average of the
weights). The file of
``NAME`` is ``weights/NAME.keras``, its log ``weights/NAME_log.csv`` and, for
a run that kept them, the maps of 20 fixed test images at chosen epochs
``weights/NAME_snapshots.npz`` (``focal_utils.snapshots``; chapter 8).
"""

import zipfile
from pathlib import Path

import keras

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# architecture.tag -> what the weights are (one line, for list_pretrained).
PRETRAINED = {
    "focalnet_cifar_conv.cifar10_e120_ema": (
        "CIFAR-10, 120 epochs of training.LONG (weight EMA) on 2 CPU cores (chapter 7)"),
}
# Names that older versions of the book used.
ALIASES = {"focalnet_cifar10": "focalnet_cifar_conv.cifar10_e120_ema"}
# The model Chapter 7 trains and ships, and chapter 8 reads.
DEFAULT = "focalnet_cifar_conv.cifar10_e120_ema"
# Its registry architecture: what training.LONG builds and the benchmarks time.
TRAINED_CIFAR_MODEL = DEFAULT.split(".")[0]

# The first full run: focalnet_cifar (patch 2, 16x16 tokens), 30 epochs. Its
# weights were replaced by the final run's; its log stays.
PATCH2_RUN_LOG = WEIGHTS_DIR / "focalnet_cifar_patch2_log.csv"
# The second: focalnet_cifar_conv (overlapping stem) with crop and flip only,
# drop path 0.1, 50 epochs. Its weights were replaced too.
CROPFLIP_RUN_LOG = WEIGHTS_DIR / "focalnet_cifar_conv_cropflip_log.csv"
# The third: training.FULL, 60 epochs (83.25%), shipped until the long run replaced its weights.
E60_RUN_LOG = WEIGHTS_DIR / "focalnet_cifar_conv.cifar10_e60_log.csv"
# The sprint: training.SPRINT, three epochs, a race to the keras-io example's 57.75% (chapter 7). Only
# its log ships (scripts/train_cifar10.py --recipe sprint --ship-log SPRINT_RUN): its result is its clock.
SPRINT_RUN = "focalnet_cifar_conv.cifar10_sprint"


def list_pretrained():
    """``{name: description}`` of the shipped models (aliases left out)."""
    return dict(PRETRAINED)


def resolve_name(name=DEFAULT):
    """The ``architecture.tag`` name of ``name`` (which may be an alias).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    name = ALIASES.get(name, name)
    if name not in PRETRAINED:
        known = sorted(PRETRAINED) + [f"{alias} (alias of {target})"
                                      for alias, target in sorted(ALIASES.items())]
        raise ValueError(f"Unknown pretrained model {name!r}. Available: {', '.join(known)}")
    return name


def shipped_files(name, folder=None):
    """The files of the shipped model ``name`` (``architecture.tag``), in ``folder``
    (default ``WEIGHTS_DIR``): ``{"model", "log", "snapshots"}`` -> path. The
    one place that names them; ``scripts/train_cifar10.py --ship`` writes them."""
    folder = Path(WEIGHTS_DIR if folder is None else folder)
    return {"model": folder / f"{name}.keras", "log": folder / f"{name}_log.csv",
            "snapshots": folder / f"{name}_snapshots.npz"}


SPRINT_RUN_LOG = shipped_files(SPRINT_RUN)["log"]


def pretrained_path(name=DEFAULT):
    """Path of the ``.keras`` file of a shipped model.

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: when the file is missing from this installation.
    """
    path = shipped_files(resolve_name(name))["model"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this installation of focal_utils has no trained weights. "
            "Reinstall the package from the book's repository (the weights are package data), "
            "or train them with Chapter 7 (book/chapters/07_training.ipynb)."
        )
    return path


def training_log_path(name=DEFAULT):
    """Path of the per-epoch CSV log of the run that trained ``name``."""
    pretrained_path(name)  # the model is there
    return shipped_files(resolve_name(name))["log"]


def snapshots_path(name=DEFAULT):
    """Path of the map snapshots (``focal_utils.snapshots.load_snapshots``) kept by the run of ``name``.

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: when that run shipped no snapshots.
    """
    pretrained_path(name)
    path = shipped_files(resolve_name(name))["snapshots"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the run of {resolve_name(name)} kept no map snapshots. Runs of "
            "scripts/train_cifar10.py keep them; `--ship NAME` copies them into the package.")
    return path


def check_keras_file(path):
    """Raise a ValueError naming ``path`` unless it is a readable ``.keras`` archive.

    Keras reports a truncated download or a saved HTML error page as "File
    not found"; this says what is wrong with the file instead.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No .keras file at {path}.")
    problem = None
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            head = handle.read(256).lstrip().lower()
        problem = ("an HTML page, not a model (a failed download?)"
                   if head.startswith((b"<!doctype html", b"<html")) else
                   "not a zip archive: truncated or corrupted (download it again)")
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as error:
            names, bad, problem = set(), None, f"an unreadable zip archive ({error})"
        if problem is None and not {"config.json", "model.weights.h5"} <= names:
            problem = "a zip archive without a Keras model's config.json and model.weights.h5"
        elif problem is None and bad is not None:
            problem = f"a damaged archive: {bad} fails its checksum (download it again)"
    if problem:
        raise ValueError(f"{path} is {problem}. Expected a model saved with `model.save(...keras)`.")
    return path


def load_pretrained(name=DEFAULT):
    """A shipped model, uncompiled: takes 32x32x3 images in 0-255, returns logits.

    Args:
        name: a shipped name (``list_pretrained()``; an alias works too), or
            the path of a ``.keras`` file (checked before Keras reads it).
    """
    # Importing the package registers its layers for deserialisation.
    import focal_utils  # noqa: F401

    if isinstance(name, Path) or str(name).endswith(".keras"):
        path = check_keras_file(name)
    else:
        path = check_keras_file(pretrained_path(name))
    return keras.saving.load_model(path, compile=False)
