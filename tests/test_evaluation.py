import numpy as np

from focal_utils import evaluation


def test_confusion_matrix_and_per_class_accuracy():
    matrix = evaluation.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_allclose(evaluation.per_class_accuracy(matrix), [0.5, 1.0, 2 / 3])


def test_worst_mistakes_are_confident_and_wrong():
    logits = np.array([[5.0, 0.0], [0.0, 1.0], [0.0, 9.0], [3.0, 0.0]])
    y = np.array([1, 1, 0, 0])
    # wrong: 0 (p=0.993 for class 0) and 2 (p=0.9999 for class 1)
    assert evaluation.worst_mistakes(logits, y).tolist() == [2, 0]
    np.testing.assert_allclose(evaluation.softmax(logits).sum(-1), 1.0)


def test_first_epoch_reaching():
    log = {"epoch": [0, 1, 2], "val_accuracy": [0.4, 0.6, 0.7], "elapsed_s": [10, 20, 30]}
    assert evaluation.first_epoch_reaching(log, 0.5775) == (1, 20)
    assert evaluation.first_epoch_reaching(log, 0.9) is None


class MirrorSensitive:
    """A stand-in model whose logits read the left and right halves of the image."""

    def predict(self, images, batch_size=None, verbose=0):
        images = np.asarray(images, dtype="float64")
        left = images[:, :, : images.shape[2] // 2].mean(axis=(1, 2, 3))
        right = images[:, :, images.shape[2] // 2:].mean(axis=(1, 2, 3))
        return np.stack([left, right], axis=-1)


def test_flip_tta_averages_the_image_and_its_mirror():
    images = np.zeros((2, 4, 4, 1))
    images[0, :, :2] = 2.0  # bright left half: class 0 in one view, class 1 mirrored
    images[1, :, 2:] = 1.0
    model = MirrorSensitive()
    single = evaluation.predict_probabilities(model, images)
    np.testing.assert_allclose(single, evaluation.softmax(model.predict(images)))
    tta = evaluation.predict_probabilities(model, images, tta="flip")
    mirrored = evaluation.softmax(model.predict(images[:, :, ::-1]))
    np.testing.assert_allclose(tta, (single + mirrored) / 2)
    np.testing.assert_allclose(tta, 0.5)  # symmetric halves: the two views cancel
    assert evaluation.accuracy(model, images, [0, 1]) == 1.0
    with np.testing.assert_raises(ValueError):
        evaluation.predict_probabilities(model, images, tta="crop")
    with np.testing.assert_raises(ValueError):
        evaluation.predict_probabilities(model, images[:0])
