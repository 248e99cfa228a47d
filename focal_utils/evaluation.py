"""Evaluating a classifier: confusion matrix, per-class accuracy, worst mistakes, curves."""

import matplotlib.pyplot as plt
import numpy as np


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
