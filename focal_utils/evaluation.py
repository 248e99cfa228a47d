"""Evaluating a classifier: predictions (single view or with flip TTA), confusion matrix,
per-class accuracy, worst mistakes, curves.

The book reports one number as *the* test accuracy: a single view of each
test image (``predict_probabilities(..., tta=False)``). Horizontal-flip
test-time augmentation (TTA) averages the softmax over each image and its
mirror image; it costs a second forward pass and is reported next to the
single-view number, never in its place.
"""

import matplotlib.pyplot as plt
import numpy as np

TTA_MODES = (False, "flip")


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts ``[true, predicted]``: rows are the true classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def per_class_accuracy(matrix):
    """Recall of each class: the diagonal over the row sums."""
    return np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)


def softmax(logits):
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def predict_probabilities(model, images, tta=False, batch_size=256):
    """Class probabilities of ``images`` (``(N, H, W, C)``, as the model takes them).

    Args:
        model: a Keras model that returns logits.
        images: numpy array of images, channels last.
        tta: ``False`` (one view: the book's reported number) or ``"flip"``
            (mean of the softmax of each image and of its horizontal mirror).
        batch_size: images per forward pass.

    Returns:
        ``(N, num_classes)`` float64 probabilities.

    Raises:
        ValueError: for an unknown ``tta`` or an input that is not a
            non-empty batch of images.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"`tta` must be one of {TTA_MODES}. Received: tta={tta!r}")
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(
            "predict_probabilities expects a non-empty batch (N, height, width, "
            f"channels). Received: shape {images.shape}"
        )
    probs = softmax(model.predict(images, batch_size=batch_size, verbose=0))
    if tta == "flip":
        mirrored = images[:, :, ::-1]
        probs = (probs + softmax(model.predict(mirrored, batch_size=batch_size, verbose=0))) / 2
    return probs


def accuracy(model, images, labels, tta=False, batch_size=256):
    """Top-1 accuracy of ``model`` on ``images`` (see ``predict_probabilities``)."""
    labels = np.asarray(labels).reshape(-1)
    probs = predict_probabilities(model, images, tta=tta, batch_size=batch_size)
    if len(labels) != len(probs):
        raise ValueError(f"{len(probs)} images but {len(labels)} labels.")
    return float((probs.argmax(axis=-1) == labels).mean())


def worst_mistakes(logits, y_true, count=16):
    """Indices of the wrong predictions made with the highest confidence."""
    probs = softmax(logits)
    pred = probs.argmax(axis=-1)
    wrong = np.flatnonzero(pred != np.asarray(y_true))
    return wrong[np.argsort(-probs[wrong, pred[wrong]])][:count]


def first_epoch_reaching(log, target, column="val_accuracy"):
    """``(epoch, elapsed_s)`` of the first epoch whose ``column`` >= target, else None."""
    for epoch, value, seconds in zip(log["epoch"], log[column], log["elapsed_s"]):
        if value >= target:
            return epoch, seconds
    return None


def plot_learning_curves(log, reference=None):
    """Loss and accuracy per epoch, training and validation, from an epoch log.

    ``reference``: optional ``(label, accuracy)`` drawn as a horizontal line.
    """
    epochs = np.asarray(log["epoch"]) + 1
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(epochs, log["loss"], label="training")
    ax_loss.plot(epochs, log["val_loss"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss (label-smoothed)", title="Loss")
    ax_acc.plot(epochs, np.asarray(log["accuracy"]) * 100, label="training")
    ax_acc.plot(epochs, np.asarray(log["val_accuracy"]) * 100, label="validation")
    if reference is not None:
        ax_acc.axhline(reference[1] * 100, color="gray", ls="--", lw=1, label=reference[0])
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix, class_names):
    """The confusion matrix as row-normalised percentages, counts annotated."""
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) * 100
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true")
    for i in ticks:
        for j in ticks:
            if matrix[i, j]:
                ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 50 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    fig.tight_layout()
    return fig
