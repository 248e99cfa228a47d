"""``focal_utils.comparison``: chapter 9's stored runs and the attention maps it draws."""

import keras
import numpy as np
import pytest

from focal_utils import comparison
from focal_utils.layers.mixers import WindowAttention


def _weights(layer, grid=8, channels=64, seed=0):
    x = keras.random.normal((2, grid, grid, channels), seed=seed)
    _, maps = layer(x, return_maps=True)
    return keras.ops.convert_to_numpy(maps["attention"])


@pytest.mark.parametrize("window,shift", [(None, False), (4, False), (4, True)])
def test_attention_from_puts_a_querys_weights_on_its_window(window, shift):
    layer = WindowAttention(window, head_dim=32, shift=shift)
    weights = _weights(layer)
    row, col = 3, 4
    looked = comparison.attention_from(layer, weights, 8, 8, row, col)
    assert looked.shape == (2, 8, 8)
    np.testing.assert_allclose(looked.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    inside = looked[0] > 0
    if window is None:
        assert inside.all()
    else:
        # 16 tokens; without a shift, the 4x4 block that holds (3, 4); with one, the window of the
        # rolled grid (rows 2-5 and columns 2-5 hold the token at (3, 4) after a roll by 2)
        assert inside.sum() == 16 and inside[row, col]
        rows, cols = np.nonzero(inside)
        expected = (range(2, 6), range(2, 6)) if shift else (range(0, 4), range(4, 8))
        assert set(rows) == set(expected[0]) and set(cols) == set(expected[1])
    # the query's own row of weights, read straight from the layer's output for the unshifted case
    if window is None:
        np.testing.assert_allclose(looked[:, row, col], weights[:, 0, :, row * 8 + col, row * 8 + col]
                                   .mean(axis=1), rtol=1e-5)


@pytest.mark.parametrize("window,shift", [(None, False), (4, True)])
def test_attention_received_averages_to_one_share_per_window(window, shift):
    layer = WindowAttention(window, head_dim=32, shift=shift)
    weights = _weights(layer, seed=1)
    received = comparison.attention_received(layer, weights, 8, 8)
    tokens = 64 if window is None else 16
    assert received.shape == (2, 8, 8)
    np.testing.assert_allclose(received.mean(axis=(1, 2)), 1 / tokens, rtol=1e-5)
    # every token's received weight, summed back over queries, equals the column sums of the weights
    if window is None:
        expected = weights[:, 0].mean(axis=1).mean(axis=1).reshape(2, 8, 8)
        np.testing.assert_allclose(received, expected, rtol=1e-5)


@pytest.mark.parametrize("window,shift", [(None, False), (4, True)])
def test_attention_distance_weighs_each_keys_distance_from_its_query(window, shift):
    layer = WindowAttention(window, head_dim=32, shift=shift)
    weights = _weights(layer, seed=2)
    distance = comparison.attention_distance(layer, weights)
    assert distance.shape == (2, 2)  # images, heads
    side = 8 if window is None else 4
    uniform = comparison.uniform_attention_distance(layer)
    # the mean distance between two of the side x side places, counted by hand
    places = [(r, c) for r in range(side) for c in range(side)]
    assert uniform == pytest.approx(np.mean([np.hypot(a - c, b - d) for a, b in places for c, d in places]))
    np.testing.assert_allclose(comparison.attention_distance(layer, np.full_like(weights, 1 / side**2)),
                               uniform, rtol=1e-5)
    # every query looking only at itself is at distance 0
    tokens = side * side
    np.testing.assert_allclose(comparison.attention_distance(layer, np.broadcast_to(
        np.eye(tokens, dtype="float32"), weights.shape)), 0.0, atol=1e-6)
    if window is None:  # the token at (3, 4) looks at (6, 0): 5 tokens away; other queries look at 0
        one = np.zeros_like(weights)
        one[:, :, :, :, 0] = 1.0
        one[:, :, :, 3 * 8 + 4, :] = 0.0
        one[:, :, :, 3 * 8 + 4, 6 * 8] = 1.0
        expected = (5.0 + sum(np.hypot(r, c) for r in range(8) for c in range(8) if (r, c) != (3, 4))) / 64
        np.testing.assert_allclose(comparison.attention_distance(layer, one), expected, rtol=1e-5)
    assert ((distance > 0) & (distance < side * np.sqrt(2))).all()


def test_idle_seconds_is_epochs_times_steps_of_one_epoch():
    row = {"train_images_per_s": 400.0, "inference_images_per_s": 1000.0}
    np.testing.assert_allclose(comparison.idle_seconds([1, 2, 30], 40000, 5000, row),
                               [105.0, 210.0, 3150.0])


def test_read_table_types_the_numbers_and_rejects_bad_files(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(",".join(comparison.TABLE_COLUMNS) + "\n"
                    "cifar_conv_dwconv,dwconv,1,30,2600000,170000000,0.8123,420.5,3600.0\n")
    (row,) = comparison.read_table(path)
    assert row["seed"] == 1 and row["epochs"] == 30 and row["test_accuracy"] == 0.8123
    assert comparison.run_log_path(row["model"], row["seed"]).name == "cifar_conv_dwconv.seed1_log.csv"
    (tmp_path / "empty.csv").write_text(",".join(comparison.TABLE_COLUMNS) + "\n")
    with pytest.raises(ValueError, match="no rows"):
        comparison.read_table(tmp_path / "empty.csv")
    (tmp_path / "short.csv").write_text("model,mixer\nx,y\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        comparison.read_table(tmp_path / "short.csv")


def test_agreement_compares_a_fresh_slice_with_the_stored_predictions():
    stored = np.array([1, 2, 3, 4, 5, 6], "uint8")
    assert comparison.agreement([1, 2, 3], stored) == 1.0
    assert comparison.agreement([1, 0, 3, 4], stored) == 0.75
    path = comparison.run_predictions_path("cifar_conv_pooling", 0)
    assert path.name == "cifar_conv_pooling.seed0_test_predictions.npy"
    assert path.parent == comparison.MIXER_DIR


def test_paired_outcomes_count_each_kind_of_image():
    labels = np.array([0, 1, 2, 3, 4, 5])
    a = np.array([0, 1, 2, 9, 9, 5])  # right on 0, 1, 2, 5
    b = np.array([0, 9, 2, 3, 9, 9])  # right on 0, 2, 3
    assert comparison.paired_outcomes(a, b, labels) == {"both": 2, "only_a": 2, "only_b": 1, "neither": 1}
    with pytest.raises(ValueError, match="6 and 5 images"):
        comparison.paired_outcomes(a, b[:5], labels)


def test_mcnemar_p_is_one_for_a_tie_and_small_for_a_lopsided_split():
    assert comparison.mcnemar_p(0, 0) == 1.0
    assert comparison.mcnemar_p(40, 40) == 1.0
    assert comparison.mcnemar_p(41, 40) == 1.0  # the continuity correction absorbs one image
    # 300 against 200 of 500 discordant images: z = 99 / sqrt(500) = 4.43
    assert comparison.mcnemar_p(300, 200) == pytest.approx(9.6e-6, rel=0.05)
    assert comparison.mcnemar_p(200, 300) == comparison.mcnemar_p(300, 200)
    assert 0.04 < comparison.mcnemar_p(60, 40) < 0.07  # z = 19 / 10 = 1.9: p = 0.057
