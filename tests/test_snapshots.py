"""Maps over training: the callback keeps the chosen epochs, atomically, and survives a resume."""

import keras
import numpy as np
import pytest

from focal_utils import create_model, interpretation, modulation_maps
from focal_utils.snapshots import (MapSnapshots, agreement_with_last, fixed_indices,
                                  load_snapshots, panel_magnitudes, save_snapshots, select_epochs,
                                  spread_epochs)


def small_model():
    model = create_model("focalnet_cifar", depths=(1, 1, 1), embed_dim=8)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 32, 32, 3)).astype("float32"),
            rng.integers(0, 10, n))


def test_keeps_the_chosen_epochs_with_the_maps_of_that_epoch(tmp_path):
    model = small_model()
    x, y = data()
    probe = x[:3]
    path = tmp_path / "maps.npz"
    snapshots = MapSnapshots(probe, path, epochs=[0, 2], labels=y[:3])
    finals = {}  # the maps right after each epoch, for comparison

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            finals[epoch] = interpretation.all_panels(modulation_maps(self.model, probe))

    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[snapshots, Record()])
    stored = load_snapshots(path)
    assert stored["epochs"].tolist() == [0, 2]
    assert stored["labels"].tolist() == y[:3].tolist()
    np.testing.assert_array_equal(stored["images"], probe)
    assert stored["names"] == interpretation.panel_names(model)
    assert list(stored["panels"]) == list(finals[0])
    for key, panels in stored["panels"].items():
        assert panels.dtype == np.float16 and panels.shape[:3] == (2, 3, 4)
        np.testing.assert_allclose(panels[1], finals[2][key], rtol=2e-3, atol=2e-3)
        assert not np.allclose(panels[0], panels[1])  # the maps changed with training
    assert [p.name for p in tmp_path.iterdir()] == ["maps.npz"]  # no temporary left


def test_a_resumed_run_keeps_the_stored_epochs(tmp_path):
    model = small_model()
    x, y = data()
    path = tmp_path / "maps.npz"
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[MapSnapshots(x[:2], path)])
    model.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, verbose=0,
              callbacks=[MapSnapshots(x[:2], path)])
    assert load_snapshots(path)["epochs"].tolist() == [0, 1, 2, 3]


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    model = small_model()
    x, y = data()
    path = tmp_path / "maps.npz"
    callback = MapSnapshots(x[:2], path)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        model.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, verbose=0, callbacks=[callback])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["maps.npz"]


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(ValueError, match="non-empty batch"):
        MapSnapshots(np.zeros((0, 32, 32, 3)), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        MapSnapshots(np.zeros((2, 32, 32, 3)), tmp_path / "m.npz", labels=[1, 2, 3])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_snapshots(bad)


def test_with_a_moving_average_the_maps_are_the_averages(tmp_path):
    """best.keras and validation use the average (Recipe.ema_momentum), so the stored maps must too."""
    model = create_model("focalnet_cifar", depths=(1, 1, 1), embed_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.5),
                  loss="sparse_categorical_crossentropy")
    x, y = data()
    probe = x[:2]
    seen = {}

    class Record(keras.callbacks.Callback):  # runs after the snapshot, with the raw weights back
        def on_epoch_end(self, epoch, logs=None):
            optimizer = self.model.optimizer
            raw = interpretation.all_panels(modulation_maps(self.model, probe))
            for variable, average in zip(optimizer._trainable_variables,
                                         optimizer._model_variables_moving_average):
                variable.assign(average)
            seen["raw"], seen["average"] = raw, interpretation.all_panels(modulation_maps(self.model, probe))

    path = tmp_path / "maps.npz"
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[MapSnapshots(probe, path), Record()])
    stored = load_snapshots(path)["panels"]
    for key, panels in stored.items():
        np.testing.assert_allclose(panels[0], seen["average"][key], rtol=2e-3, atol=2e-3)
    assert any(not np.allclose(stored[k][0], seen["raw"][k], rtol=2e-3, atol=2e-3) for k in stored)


def test_fixed_indices_are_the_first_of_each_class():
    labels = np.array([3, 0, 3, 1, 0, 2, 1, 2, 0])
    assert fixed_indices(labels, per_class=2, num_classes=4) == [1, 4, 3, 6, 5, 7, 0, 2]
    with pytest.raises(ValueError, match="1 images of class 2; `per_class` asks for 2"):
        fixed_indices(labels[:-2], per_class=2, num_classes=4)


def test_the_training_script_keeps_two_images_of_each_class(tmp_path):
    """scripts/train_cifar10.py's snapshots: the first two test images of every class, beside the log."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "scripts", "train_cifar10.py")
    spec = importlib.util.spec_from_file_location("train_cifar10", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    x, _ = data(40, seed=3)
    y = np.repeat(np.arange(10), 4)[::-1].copy()  # classes 9, 9, 9, 9, 8, ...
    callback = script.map_snapshots({"test": (x, y)}, str(tmp_path))
    assert callback.labels.tolist() == [c for c in range(10) for _ in range(2)]
    np.testing.assert_array_equal(callback.images[:2], x[[36, 37]])  # the first two of class 0
    assert callback.path == os.path.join(str(tmp_path), script.SNAPSHOT_FILE)
    assert callback.epochs is None  # every epoch


def test_a_subset_of_epochs_is_saved_and_read_back(tmp_path):
    """What the package ships: some of a run's epochs (spread_epochs), the rest of the file unchanged."""
    model = small_model()
    x, y = data()
    path = tmp_path / "maps.npz"
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[MapSnapshots(x[:2], path, labels=y[:2])])
    stored = load_snapshots(path)
    assert spread_epochs(stored["epochs"], first=1, every=2) == [0, 1, 3]
    subset = select_epochs(stored, [3, 0])
    save_snapshots(tmp_path / "shipped.npz", subset)
    back = load_snapshots(tmp_path / "shipped.npz")
    assert back["epochs"].tolist() == [0, 3]
    assert back["names"] == stored["names"] and back["labels"].tolist() == y[:2].tolist()
    for key, panels in back["panels"].items():
        np.testing.assert_array_equal(panels, stored["panels"][key][[0, 3]])
    with pytest.raises(ValueError, match=r"Epochs \[7\] are not in the snapshot"):
        select_epochs(stored, [0, 7])
    broken = dict(subset, panels={k: v[:1] for k, v in subset["panels"].items()})
    with pytest.raises(ValueError, match="expected \\(2 epochs, 2 images"):
        save_snapshots(tmp_path / "broken.npz", broken)


def test_spread_epochs_keeps_the_first_then_every_tenth_and_the_last():
    assert spread_epochs(range(160)) == list(range(10)) + list(range(19, 160, 10))
    assert spread_epochs(range(25)) == list(range(10)) + [19, 24]
    assert spread_epochs([]) == []


def synthetic_snapshot():
    """Three epochs, two images, one block: panel 0 fades from noise into its final layout (2x
    its scale by the end), panel 1 is constant over each image."""
    rng = np.random.default_rng(0)
    final = rng.normal(size=(2, 4, 4))
    noise = rng.normal(size=(2, 4, 4))
    fading = np.stack([noise, (noise + final) / 2, 2 * final])
    constant = np.ones_like(fading) * np.array([1.0, -3.0])[None, :, None, None]
    panels = np.stack([fading, constant], axis=2)  # (E, N, P, h, w)
    return {"epochs": np.array([0, 4, 9]), "panels": {"stage_0/block_0": panels}}, final, noise


def test_agreement_with_the_last_epoch_is_the_mean_correlation_of_each_image():
    snapshot, final, noise = synthetic_snapshot()
    r = agreement_with_last(snapshot, panel=0)["stage_0/block_0"]
    expected = [np.mean([np.corrcoef(m[i].ravel(), final[i].ravel())[0, 1] for i in range(2)])
                for m in (noise, (noise + final) / 2)]
    np.testing.assert_allclose(r, [*expected, 1.0], atol=1e-12)  # scale does not count
    assert r[0] < r[1] < r[2]
    # A map constant over its image has no layout to agree on.
    assert np.isnan(agreement_with_last(snapshot, panel=1)["stage_0/block_0"]).all()


def test_panel_magnitudes_average_over_images_and_positions():
    snapshot, final, noise = synthetic_snapshot()
    magnitudes = panel_magnitudes(snapshot)["stage_0/block_0"]
    assert magnitudes.shape == (3, 2)
    np.testing.assert_allclose(magnitudes[:, 1], 2.0)  # |1| and |-3|
    np.testing.assert_allclose(magnitudes[2, 0], np.abs(2 * final).mean())


def test_frames_over_epochs_share_one_colour_scale_per_block_and_image():
    import matplotlib.pyplot as plt

    snapshot, final, noise = synthetic_snapshot()
    snapshot = dict(snapshot, images=np.zeros((2, 32, 32, 3), "uint8"))
    figures = interpretation.plot_snapshot_epochs(snapshot, ["stage_0/block_0"], panel=0,
                                                  titles=["a", "b"])
    assert len(figures) == 3
    for c in range(2):  # the map's layer of each panel: one scale over the epochs, their range
        scales = [fig.axes[c].get_images()[-1].get_clim() for fig in figures]
        maps = np.asarray(snapshot["panels"]["stage_0/block_0"][:, c, 0], "float32")
        assert scales == [(maps.min(), maps.max())] * 3
    assert [fig._suptitle.get_text() for fig in figures] == ["epoch 1", "epoch 5", "epoch 10"]
    assert not set(map(id, figures)) & {id(plt.figure(n)) for n in plt.get_fignums()}  # not held by pyplot
    plt.close("all")
