"""An exponential moving average of the weights (``Recipe.ema_momentum``) in a resumable run."""

import dataclasses
import os

import keras
import numpy as np
import pytest

import _training_harness as harness
from focal_utils import checkpoints, registry, training
from focal_utils.data import make_dataset


def test_recipes_without_an_average_keep_their_work_folders():
    """Adding the field must not move the folders of runs begun before it (they would restart)."""
    mixer_run = dataclasses.replace(training.FULL, epochs=30)  # scripts/train_mixers.py's focal run
    assert training.default_workdir(mixer_run).endswith("focalnet_cifar_conv-9f1e1127")
    assert "ema_momentum" not in checkpoints.recipe_dict(mixer_run)
    with_ema = dataclasses.replace(mixer_run, ema_momentum=0.999)
    assert checkpoints.recipe_dict(with_ema)["ema_momentum"] == 0.999
    assert training.default_workdir(with_ema) != training.default_workdir(mixer_run)


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.5, 1.5])
def test_make_optimizer_rejects_a_momentum_outside_0_1(momentum):
    recipe = dataclasses.replace(training.FULL, ema_momentum=momentum)
    model = training.build_model(training.QUICK)
    with pytest.raises(ValueError, match="`ema_momentum` must be between 0 and 1"):
        training.make_optimizer(recipe, model, 10)


class _Record(keras.callbacks.Callback):
    """After the checkpointer: the raw weights and the average at each epoch's end."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after, self.states = stop_after, []

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        self.states.append((
            [keras.ops.convert_to_numpy(v) for v in optimizer._trainable_variables],
            [keras.ops.convert_to_numpy(v) for v in optimizer._model_variables_moving_average]))
        if epoch == self.stop_after:
            raise harness.Killed()  # a kill right after the epoch was saved


@pytest.fixture
def tiny():
    undo = harness.tiny_training(training, registry)
    yield harness.recipe(training, epochs=2, ema_momentum=0.9)
    undo()


def test_validation_and_best_keras_use_the_average_and_fit_ends_with_it(tiny, tmp_path):
    splits = harness.splits()
    record = _Record()
    model = training.train(tiny, splits, str(tmp_path), verbose=0, seed=0, extra_callbacks=[record])
    raw, average = record.states[-1]
    assert max(np.abs(r - a).max() for r, a in zip(raw, average)) > 1e-6  # they differ
    for variable, value in zip(model.optimizer._trainable_variables, average):  # fit finalised it
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), value, rtol=0, atol=0)
    log = training.read_log(os.path.join(tmp_path, "log.csv"))
    best_epoch = int(np.argmax(log["val_accuracy"]))
    best = keras.models.load_model(os.path.join(tmp_path, "best.keras"))
    val_loss, _ = best.evaluate(make_dataset(splits["val"], 500), verbose=0)
    # the logged validation loss of the best epoch is best.keras's own: both are the average's
    assert val_loss == pytest.approx(log["val_loss"][best_epoch], rel=1e-4)


def test_the_backup_keeps_raw_weights_and_average_apart(tiny, tmp_path):
    splits = harness.splits()
    record = _Record(stop_after=0)
    with pytest.raises(harness.Killed):
        training.train(tiny, splits, str(tmp_path), verbose=0, seed=0, extra_callbacks=[record])
    raw, average = record.states[0]
    model = training.compile_for_training(training.build_model(tiny), tiny, 3)
    done = checkpoints.Checkpointer(str(tmp_path)).restore(
        model, tiny, checkpoints.data_fingerprint(splits["train"], splits["val"]))
    assert done == 1
    restored_average = model.optimizer._model_variables_moving_average
    for variable, value in zip(model.optimizer._trainable_variables, raw):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    for variable, value in zip(restored_average, average):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    # and the run resumes to the end, finalising the average
    resumed = training.train(tiny, splits, str(tmp_path), verbose=0)
    assert training.completed_epochs(str(tmp_path)) == 2
    # a finished run called again returns the average too, as fit would have
    again = training.train(tiny, splits, str(tmp_path), verbose=0)
    for model in (resumed, again):
        for variable, value in zip(model.optimizer._trainable_variables,
                                   model.optimizer._model_variables_moving_average):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable),
                                          keras.ops.convert_to_numpy(value))


def test_ema_weights_is_a_no_op_without_an_average():
    model = training.compile_for_training(training.build_model(training.QUICK), training.QUICK, 3)
    with checkpoints.ema_weights(model) as inside:
        assert inside is model
