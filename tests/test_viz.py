"""Tests of focal_utils.viz: figures with the expected axes and extents."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from focal_utils import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", sorted(viz.SAMPLE_IMAGES))
def test_load_sample_image(name):
    image = viz.load_sample_image(name, size=32)
    assert image.shape == (32, 32, 3)
    assert image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert image.std() > 0.05  # a real picture, not a flat field


def test_load_sample_image_rejects_unknown_names():
    with pytest.raises(ValueError, match="grace_hopper"):
        viz.load_sample_image("cifar10")


def test_resize_image_keeps_a_constant_image():
    image = np.full((64, 48, 3), 0.25, dtype="float32")
    out = viz.resize_image(image, (16, 12))
    assert out.shape == (16, 12, 3)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


def test_image_grid_layout():
    images = [np.zeros((8, 8, 3))] * 5 + [np.ones((8, 8))]
    fig = viz.image_grid(images, titles=list("abcdef"), ncols=4)
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes[:6]] == list("abcdef")
    assert not fig.axes[7].axison


def test_show_patches_draws_one_line_per_boundary():
    fig = viz.show_patches(np.zeros((32, 32, 3)), 4)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * (32 // 4 + 1)
    assert ax.get_xlim() == (-0.5, 31.5)
    assert ax.get_ylim() == (31.5, -0.5)
    assert "8x8 tokens" in ax.get_title()
    # a vertical line on the boundary between pixel columns 3 and 4
    xs = sorted({line.get_xdata()[0] for line in ax.lines})
    assert 3.5 in xs and -0.5 in xs and 31.5 in xs


def test_exploded_patches_canvas_size():
    fig = viz.exploded_patches(np.random.rand(8, 8, 3), 4, gap=2)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (4 + 2 + 4, 10, 3)


def test_panel_grid_hides_the_unused_cells():
    fig, axes = viz.panel_grid(5, 3, 1.0)
    assert len(axes) == 6
    assert [ax.axison for ax in axes] == [True] * 5 + [False]


def test_upsample_map_is_half_pixel_aligned():
    low = np.array([[0.0, 1.0], [2.0, 3.0]], dtype="float32")
    up = viz.upsample_map(low, 4)
    assert up.shape == (4, 4)
    # each pixel block of 2x2 has its token's value at its centre: corners
    # are clamped to the nearest token, the mean is preserved
    assert up[0, 0] == pytest.approx(0.0)
    assert up[3, 3] == pytest.approx(3.0)
    assert up.mean() == pytest.approx(low.mean())


def test_overlay_matches_the_image_extent():
    image = np.random.rand(32, 32, 3)
    low = np.random.rand(16, 16)
    fig = viz.overlay(image, low, alpha=0.4)
    ax = fig.axes[0]
    assert len(ax.images) == 2
    base, top = ax.images
    assert base.get_extent() == top.get_extent() == [-0.5, 31.5, 31.5, -0.5]
    assert top.get_array().shape == (32, 32)
    assert top.get_alpha() == 0.4
    assert ax.get_xlim() == (-0.5, 31.5)


def test_overlay_of_a_24x24_map_on_a_32x32_image_covers_it_all():
    # the keras-io example's case: here the map is stretched over the image
    fig = viz.overlay(np.zeros((32, 32)), np.ones((24, 24)))
    top = fig.axes[0].images[1]
    assert top.get_extent() == [-0.5, 31.5, 31.5, -0.5]
    assert top.get_array().shape == (32, 32)


def test_receptive_field_plot_squares():
    maps = [np.zeros((15, 15)) for _ in range(2)]
    maps[0][6:9, 6:9] = 1.0
    maps[1][4:11, 4:11] = 1.0
    fig = viz.receptive_field_plot(maps, titles=["a", "b"], sizes=[3, None])
    assert len(fig.axes) == 2
    square = fig.axes[0].patches[0]
    assert square.get_xy() == (7 - 1.5, 7 - 1.5)
    assert square.get_width() == 3
    assert fig.axes[1].patches == [] or len(fig.axes[1].patches) == 0
    assert fig.axes[0].images[0].get_extent() == [-0.5, 14.5, 14.5, -0.5]


def test_receptive_field_plot_draws_into_given_axes():
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    grad = np.zeros((9, 9))
    grad[3:6, 3:6] = 1.0
    assert viz.receptive_field_plot([grad], sizes=[3], axes=[right]) is fig
    assert len(right.images) == 1 and len(right.patches) == 1 and not left.images
    with pytest.raises(ValueError, match=r"`axes`.*1 maps but 2 axes"):
        viz.receptive_field_plot([grad], axes=[left, right])
    plt.close(fig)
