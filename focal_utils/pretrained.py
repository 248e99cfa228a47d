"""The book's trained weights, shipped inside the package.

``focal_utils/weights/`` holds what Chapter 7's full run produced: the
trained CIFAR-10 model as a ``.keras`` file (uncompiled; takes 32x32x3 images
in 0-255 and returns logits) and the run's per-epoch log as CSV, plus the log
of the book's two earlier full runs, which Chapter 7 compares with the final
one. They are
package data, so ``pip install`` (from a clone or from GitHub, as in Colab)
carries them and no download is needed.
"""

from pathlib import Path

import keras

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PRETRAINED = {
    "focalnet_cifar10": "focalnet_cifar10.keras",
}
# The first full run: focalnet_cifar (patch 2, 16x16 tokens), 30 epochs, 81.3%
# test accuracy. Its weights were replaced by the final run's; its log stays.
PATCH2_RUN_LOG = WEIGHTS_DIR / "focalnet_cifar_patch2_log.csv"
# The second: focalnet_cifar_conv (overlapping stem) with crop and flip only,
# drop path 0.1, 50 epochs, 82.7% test accuracy. Its weights were replaced too.
CROPFLIP_RUN_LOG = WEIGHTS_DIR / "focalnet_cifar_conv_cropflip_log.csv"


def pretrained_path(name="focalnet_cifar10"):
    """Path of the ``.keras`` file of a shipped model.

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: when the file is missing from this installation.
    """
    if name not in PRETRAINED:
        raise ValueError(f"Unknown pretrained model {name!r}. Available: {sorted(PRETRAINED)}")
    path = WEIGHTS_DIR / PRETRAINED[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this installation of focal_utils has no trained weights. "
            "Reinstall the package from the book's repository (the weights are package data), "
            "or train them with Chapter 7 (book/chapters/07_training.ipynb)."
        )
    return path


def load_pretrained(name="focalnet_cifar10"):
    """The shipped trained model, uncompiled (``keras.saving.load_model``)."""
    # Importing the package registers its layers for deserialisation.
    import focal_utils  # noqa: F401

    return keras.saving.load_model(pretrained_path(name), compile=False)


def training_log_path(name="focalnet_cifar10"):
    """Path of the per-epoch CSV log of the run that trained ``name``."""
    path = pretrained_path(name)
    return path.with_name(path.stem + "_log.csv")
