"""interpretation: labels, panels, gate statistics and the centre share, on maps with known values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from focal_utils import create_model, interpretation, modulation_maps  # noqa: E402

KEYS = ["stage_0/block_0", "stage_0/block_1", "stage_1/block_0"]


def synthetic_maps(n=4, levels=2, rng=None):
    """Maps shaped like modulation_maps' output: two stage-1 blocks (8x8), one stage-2 block (4x4)."""
    rng = rng or np.random.default_rng(0)
    sizes = {"stage_0": (8, 6), "stage_1": (4, 12)}
    maps = {}
    for key in KEYS:
        side, channels = sizes[key.split("/")[0]]
        maps[key] = {"gates": rng.normal(size=(n, side, side, levels + 1)).astype("float32"),
                     "modulator": rng.normal(size=(n, side, side, channels)).astype("float32")}
    return maps


def test_block_label_counts_from_zero_like_the_keys_and_rejects_other_keys():
    assert interpretation.block_label("stage_1/block_0") == "stage 1 · block 0"
    with pytest.raises(ValueError, match="stage_0/block_1"):
        interpretation.block_label("blocks.3")


def test_last_block_keys_picks_the_last_of_each_stage():
    assert interpretation.last_block_keys(synthetic_maps()) == ["stage_0/block_1", "stage_1/block_0"]


def test_panel_names_follow_the_kernel_sizes():
    model = create_model("focalnet_cifar", focal_levels=3)
    assert interpretation.panel_names(model) == [
        "level 1 gate (3×3)", "level 2 gate (5×5)", "level 3 gate (7×7)",
        "global gate", "modulator norm"]


def test_panels_follow_each_blocks_own_gate_count():
    """Stages with different focal levels: each block is read from its own
    gate count, and the shared layout keeps the global gate and the
    modulator in the last two columns of every block."""
    model = create_model("focalnet_cifar", focal_levels=(2, 3, 2), depths=(1, 1, 1))
    assert interpretation.panel_names(model, "stage_0/block_0") == [
        "level 1 gate (3×3)", "level 2 gate (5×5)", "global gate", "modulator norm"]
    assert interpretation.panel_names(model, "stage_1/block_0")[2] == "level 3 gate (7×7)"
    assert len(interpretation.panel_names(model)) == 5
    with pytest.raises(ValueError, match="No block 'stage_9/block_0'"):
        interpretation.panel_names(model, "stage_9/block_0")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    maps = modulation_maps(model, images)
    panels = interpretation.all_panels(maps)
    for key, block in maps.items():
        assert panels[key].shape[1] == 5
        np.testing.assert_allclose(panels[key][:, -2], block["gates"][..., -1], rtol=1e-6)
        np.testing.assert_allclose(panels[key][:, -1],
                                   interpretation.modulator_norm(block["modulator"]), rtol=1e-6)
    assert np.isnan(panels["stage_0/block_0"][:, 2]).all()
    assert not np.isnan(panels["stage_1/block_0"]).any()
    by_block = interpretation.gate_means_by_block(maps)
    assert by_block.shape == (3, 4)
    np.testing.assert_allclose(by_block[0, [0, 1, 3]],
                               maps["stage_0/block_0"]["gates"].mean(axis=(0, 1, 2)), rtol=1e-5)
    assert np.isnan(by_block[0, 2]) and np.isnan(by_block[2, 2])
    by_class = interpretation.gate_means_by_class(maps, [0, 1], num_classes=2)
    assert by_class.shape == (3, 2, 4)


def test_block_panels_stack_gates_then_modulator_norm():
    maps = synthetic_maps()
    block = maps["stage_0/block_0"]
    panels = interpretation.block_panels(block)
    assert panels.shape == (4, 4, 8, 8)
    np.testing.assert_array_equal(panels[:, 1], block["gates"][..., 1])
    np.testing.assert_allclose(panels[:, 3], np.sqrt((block["modulator"] ** 2).sum(-1)), rtol=1e-6)


def test_gate_means_by_block():
    maps = synthetic_maps()
    by_block = interpretation.gate_means_by_block(maps)
    assert by_block.shape == (3, 3)
    np.testing.assert_allclose(by_block[2], maps[KEYS[2]]["gates"].mean(axis=(0, 1, 2)), rtol=1e-5)
    absolute = interpretation.gate_means_by_block(maps, absolute=True)
    np.testing.assert_allclose(absolute[0], np.abs(maps[KEYS[0]]["gates"]).mean(axis=(0, 1, 2)), rtol=1e-5)


def test_gate_means_by_class_averages_each_class():
    maps = synthetic_maps(n=4)
    labels = np.array([0, 1, 1, 0])
    means = interpretation.gate_means_by_class(maps, labels, num_classes=2)
    assert means.shape == (2, 2, 3)
    gates = maps[KEYS[2]]["gates"].mean(axis=(1, 2))
    np.testing.assert_allclose(means[1, 1], gates[[1, 2]].mean(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="one label per image"):
        interpretation.gate_means_by_class(maps, labels[:3], num_classes=2)
    with pytest.raises(ValueError, match=r"Classes \[2\] have no image"):
        interpretation.gate_means_by_class(maps, labels, num_classes=3)


@pytest.mark.parametrize("side", [2, 4, 7, 8, 16])
def test_centre_share_of_a_uniform_map_is_a_quarter(side):
    maps = {"stage_0/block_0": {"gates": np.zeros((1, side, side, 3)),
                                "modulator": np.ones((1, side, side, 5))}}
    share = interpretation.modulator_centre_mass(maps)["stage_0/block_0"]
    np.testing.assert_allclose(share, [0.25], rtol=1e-6)


def test_centre_share_of_centred_and_corner_maps():
    modulator = np.zeros((2, 8, 8, 3))
    modulator[0, 3:5, 3:5] = 1.0  # inside the central 4x4
    modulator[1, 0, 0] = 1.0  # a corner
    maps = {"stage_0/block_0": {"gates": np.zeros((2, 8, 8, 3)), "modulator": modulator}}
    np.testing.assert_allclose(interpretation.modulator_centre_mass(maps)["stage_0/block_0"], [1.0, 0.0])
    with pytest.raises(ValueError, match="border"):
        interpretation.modulator_centre_mass(maps, border=0.5)


def test_centre_share_weighs_tokens_by_their_area_inside():
    # 2x2 map: each token's cell is a quarter inside the central window.
    modulator = np.zeros((1, 2, 2, 1))
    modulator[0, 0, 0] = 1.0
    maps = {"stage_2/block_0": {"gates": np.zeros((1, 2, 2, 3)), "modulator": modulator}}
    np.testing.assert_allclose(interpretation.modulator_centre_mass(maps)["stage_2/block_0"], [0.25])
    # 7x7 map: the window [1/4, 3/4] holds the centre cell [3/7, 4/7] whole,
    # none of row 0, and (2/7 - 1/4) * 7 = 1/4 of row cell [1/7, 2/7].
    modulator = np.zeros((3, 7, 7, 1))
    modulator[0, 3, 3] = 1.0
    modulator[1, 0, 3] = 1.0
    modulator[2, 1, 3] = 1.0
    maps = {"stage_0/block_0": {"gates": np.zeros((3, 7, 7, 3)), "modulator": modulator}}
    np.testing.assert_allclose(interpretation.modulator_centre_mass(maps)["stage_0/block_0"],
                               [1.0, 0.0, 0.25], atol=1e-12)


def test_plots_draw_one_panel_per_map():
    maps = synthetic_maps(n=2)
    names = ["level 1 gate (3×3)", "level 2 gate (5×5)", "global gate", "modulator norm"]
    image = np.zeros((16, 16, 3), dtype="uint8")
    fig = interpretation.plot_block_maps(image, maps, 1, names)
    assert len(fig.axes) == 3 * 4
    assert [ax.get_ylabel() for ax in fig.axes[::4]] == ["stage 0 · block 0", "stage 0 · block 1",
                                                          "stage 1 · block 0"]
    fig2 = interpretation.plot_modulator_norms(np.zeros((2, 16, 16, 3), "uint8"), maps,
                                               interpretation.last_block_keys(maps), ["a", "b"])
    assert len(fig2.axes) == 2 * 3
    fig3 = interpretation.plot_gate_means(interpretation.gate_means_by_block(maps), names, ["1", "2", "3"])
    assert len(fig3.axes[0].lines) == 3 + 1  # one per level, plus the zero line
    means = interpretation.gate_means_by_class(maps, [0, 1], num_classes=2)
    fig4 = interpretation.plot_gate_means_by_class(means, names, ["a", "b"])
    shown = fig4.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown).mean(axis=0), 0.0, atol=1e-6)  # stage mean removed
    plt.close("all")


def test_centre_share_takes_any_stack_of_maps():
    """The same measure on (epochs, images, h, w) stacks, as chapter 8 reads them from snapshots."""
    maps = np.zeros((3, 2, 8, 8), "float32")
    maps[..., 2:6, 2:6] = 1.0  # all inside the central half
    maps[1, 1] = 1.0  # uniform: a quarter
    shares = interpretation.centre_share(maps)
    assert shares.shape == (3, 2)
    np.testing.assert_allclose(shares[1, 1], 0.25, rtol=1e-6)
    np.testing.assert_allclose(shares[0], 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="border must be in"):
        interpretation.centre_share(maps, border=0.5)


def test_maps_over_epochs_share_one_colour_scale_per_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    values = rng.random((3, 2, 8, 8)).astype("float32")
    values[:, 1] *= 10  # the second image's maps are ten times larger
    low, high = interpretation.epoch_limits(values)
    np.testing.assert_allclose(high, values.max(axis=(0, 2, 3)))
    fig = interpretation.plot_maps_over_epochs(images, values, ["epoch 1", "epoch 5", "epoch 9"],
                                               titles=["a", "b"])
    axes = np.array(fig.axes).reshape(2, 4)
    for row in range(2):  # every epoch of a row on that row's scale, the second row's ten times wider
        for c in range(1, 4):
            assert axes[row, c].images[-1].get_clim() == pytest.approx((low[row], high[row]))
    assert high[1] > 5 * high[0]
    assert [axes[0, c].get_title() for c in range(1, 4)] == ["epoch 1", "epoch 5", "epoch 9"]
    plt.close(fig)
    with pytest.raises(ValueError, match="must be \\(epochs, images, h, w\\)"):
        interpretation.plot_maps_over_epochs(images, values[:, :1], ["a", "b", "c"])
