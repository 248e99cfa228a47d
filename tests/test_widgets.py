"""widgets: frames registered pixel for pixel, static stacks tied by jslink, live redraws, the mode choice."""

import io
import sys
import types

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from focal_utils import create_model, interpretation
from focal_utils import widgets as fw


@pytest.fixture(scope="module")
def model_and_images():
    model = create_model("focalnet_cifar", depths=(1, 1), embed_dim=16, num_classes=3)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    return model, images


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_render_frame_blends_image_and_map():
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3)).astype("uint8")
    low_res = np.random.default_rng(2).normal(size=(8, 8))
    only_image = fw.render_frame(image, low_res, 0.0, size=128)
    np.testing.assert_array_equal(only_image, np.repeat(np.repeat(image, 4, 0), 4, 1))
    only_map = fw.render_frame(image, low_res, 1.0, size=64).astype(int)
    assert only_map.shape == (64, 64, 3)
    # The map alone is the colormap of the min-max scaled map: jet spans dark blue to dark red.
    assert only_map[..., 2].max() > 100 and only_map[..., 0].max() > 100
    with pytest.raises(ValueError, match="opacity"):
        fw.render_frame(image, low_res, 1.5)


def test_render_frame_puts_a_token_over_its_patch():
    image = np.zeros((32, 32, 3), dtype="uint8")
    low_res = np.zeros((4, 4))
    low_res[1, 2] = 1.0  # image rows 8-15, columns 16-23
    frame = fw.render_frame(image, low_res, 1.0, size=128, cmap="gray").astype(int)[..., 0]
    row, col = np.unravel_index(frame.argmax(), frame.shape)
    assert 32 <= row < 64 and 64 <= col < 96
    np.testing.assert_allclose(np.argwhere(frame == frame.max()).mean(axis=0), [47.5, 79.5], atol=1.0)


def test_constant_map_gives_a_finite_frame_and_png_round_trips():
    image = np.full((32, 32, 3), 0.5, dtype="float32")  # floats in [0, 1]
    frame = fw.render_frame(image, np.ones((4, 4)), 0.5, size=32)
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(decode(fw.encode(frame, "png")), frame)
    assert decode(fw.encode(frame, "jpeg")).shape == frame.shape


def test_static_explorer_structure_and_frames(model_and_images):
    model, images = model_and_images
    explorer = fw.GateExplorer(model, images, labels=[0, 2], class_names=["a", "b", "c"], size=64,
                               mode="static")
    n_blocks, n_maps, n_opacity = 2, 4, len(fw.STATIC_OPACITIES)
    assert explorer.block_keys == ["stage_0/block_0", "stage_1/block_0"]
    assert explorer.panel_names == interpretation.panel_names(model)
    assert len(explorer.links) == 1 + 2 + 2 * n_blocks + 2 * n_blocks * n_maps
    sources = {(link.source[0].description, link.source[1]) for link in explorer.links}
    assert sources == {("image", "value"), ("block", "index"), ("map", "index"), ("opacity", "index")}
    assert all(link.target[1] == "selected_index" for link in explorer.links)
    assert "focal-explorer" in explorer._dom_classes
    # Each leaf holds the frame of its (image, block, map, opacity).
    leaf = explorer.frames[1][1][0][2]
    assert leaf.value == fw.encode(explorer.frame_array(1, 1, 0, fw.STATIC_OPACITIES[2]))
    assert len({f.value for i in explorer.frames for b in i for p in b for f in p}) == 2 * n_blocks * n_maps * n_opacity
    explorer.image_slider.value, explorer.block_select.value = 1, 1
    explorer.map_select.value, explorer.opacity_slider.value = 0, fw.STATIC_OPACITIES[2]
    assert explorer.shown_frame() is leaf


def test_static_caption_says_true_and_predicted_class(model_and_images):
    model, images = model_and_images
    explorer = fw.GateExplorer(model, images, labels=[0, 2], class_names=["a", "b", "c"], size=32)
    logits = np.asarray(model.predict(images, verbose=0))
    predicted = ["a", "b", "c"][int(logits[1].argmax())]
    caption = explorer.caption(1)
    assert "true: <b>c</b>" in caption and f">{predicted}</b>" in caption


def test_live_explorer_redraws_and_matches_static(model_and_images):
    model, images = model_and_images
    live = fw.GateExplorer(model, images, mode="live", size=64)
    static = fw.GateExplorer(model, images, size=64, mode="static")
    before = live.live_image.value
    live.image_slider.value = 1
    assert live.live_image.value != before
    for explorer in (live, static):
        explorer.image_slider.value, explorer.block_select.value, explorer.map_select.value = 1, 0, 2
    live.opacity_slider.value = static.opacity_slider.value
    assert live.shown_frame().value == static.shown_frame().value


def test_live_cache_is_bounded(model_and_images, monkeypatch):
    model, images = model_and_images
    monkeypatch.setattr(fw, "LIVE_CACHE", 1)
    live = fw.GateExplorer(model, images, mode="live", size=32)
    live.image_slider.value = 1
    assert list(live._maps) == [1]


def test_explorer_rejects_bad_inputs(model_and_images):
    model, images = model_and_images
    with pytest.raises(ValueError, match="mode"):
        fw.GateExplorer(model, images, mode="fast")
    with pytest.raises(ValueError, match=r"`images`.*\(N, H, W, C\)"):
        fw.GateExplorer(model, images[0])
    with pytest.raises(ValueError, match=r"`labels`.*2 images but 3 labels"):
        fw.GateExplorer(model, images, labels=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`opacities`.*Received: opacities=\(\)"):
        fw.GateExplorer(model, images, opacities=())
    with pytest.raises(ValueError, match=r"`opacities`.*in \[0, 1\]"):
        fw.GateExplorer(model, images, opacities=(0.5, 1.5))


def test_auto_mode_is_static_with_stack_and_live_without(model_and_images, monkeypatch):
    model, images = model_and_images
    assert hasattr(ipywidgets, "Stack")  # the build environment: ipywidgets 8
    explorer = fw.GateExplorer(model, images, size=32)
    assert explorer.mode == "static" and "Static explorer" in explorer.mode_note.value
    assert explorer.mode_note in explorer.children
    # Colab: its front end renders no Stack, whatever ipywidgets the kernel has.
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert fw.auto_mode() == "live"
    monkeypatch.delitem(sys.modules, "google.colab")
    # ipywidgets 7 (Colab's 7.7.1): no Stack. Auto runs live; static says what to do.
    monkeypatch.delattr(ipywidgets, "Stack")
    assert fw.auto_mode() == "live"
    live = fw.GateExplorer(model, images, size=32)
    assert live.mode == "live" and "Live explorer" in live.mode_note.value
    before = live.live_image.value
    live.block_select.value = 1
    assert live.live_image.value != before
    with pytest.raises(ValueError, match=r"mode='static' needs ipywidgets>=8.*mode='live'"):
        fw.GateExplorer(model, images, mode="static")


def test_live_sliders_draw_on_release(model_and_images):
    model, images = model_and_images
    live = fw.GateExplorer(model, images, mode="live", size=32)
    assert not live.image_slider.continuous_update and not live.opacity_slider.continuous_update
    # Static mode only switches precomputed frames in the browser: it follows the drag.
    static = fw.GateExplorer(model, images, mode="static", size=32)
    assert static.image_slider.continuous_update


@pytest.mark.parametrize("mode", ["static", "live"])
def test_close_releases_every_widget(model_and_images, mode):
    model, images = model_and_images
    registry = fw.widget_registry()
    before = set(registry)
    explorer = fw.GateExplorer(model, images, mode=mode, size=32)
    made = len(set(registry) - before)
    # Static: 2 images x 2 blocks x 4 maps x 3 opacities frames, each an Image with its Layout, and the
    # stacks and links over them.
    assert made > (2 * 2 * 4 * 3 * 2 if mode == "static" else 10)
    explorer.close()
    assert set(registry) == before, f"{len(set(registry) - before)} of {made} widgets left open"
    assert explorer.frames is None and not explorer._maps


def test_progress_bar_stores_its_final_count(monkeypatch):
    """In a notebook, the bar's stored text fallback is updated on close: "3/3", not "0/3"."""
    import IPython.display
    import tqdm.auto
    import tqdm.notebook

    shown = []

    class Handle:
        def update(self, bundle, raw):
            assert raw
            shown.append(("update", bundle["text/plain"]))

    def fake_display(bundle, raw, display_id):
        assert raw and display_id is True
        view = bundle["application/vnd.jupyter.widget-view+json"]
        assert view["model_id"] in fw.widget_registry()
        shown.append(("display", bundle["text/plain"]))
        return Handle()

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # as in a Jupyter kernel
    monkeypatch.setattr(IPython.display, "display", fake_display)
    bar = fw.progress_bar(total=3, desc="benchmark", unit="run")
    for _ in range(3):
        bar.update()
    bar.close()
    assert [kind for kind, _ in shown] == ["display", "update"]
    assert "0/3" in shown[0][1] and "3/3" in shown[1][1]
    # Outside a notebook: tqdm's own bar.
    monkeypatch.undo()
    import tqdm.std

    terminal = fw.progress_bar(total=1, disable=True)
    assert not isinstance(terminal, tqdm.notebook.tqdm) and isinstance(terminal, tqdm.std.tqdm)


def test_blocks_with_fewer_levels_show_the_image_where_a_level_is_missing():
    """Stages with focal levels (2, 3): every block shares one panel layout, the
    global gate and modulator stay the last two panels, and the missing third
    level of a 2-level block shows the image alone."""
    model = create_model("focalnet_cifar", depths=(1, 1), embed_dim=16, num_classes=3,
                         focal_levels=(2, 3))
    images = np.random.default_rng(1).integers(0, 256, (1, 32, 32, 3)).astype("uint8")
    explorer = fw.GateExplorer(model, images, mode="live", size=64)
    assert explorer.panel_names == interpretation.panel_names(model)
    assert explorer.panel_names[-2:] == ["global gate", "modulator norm"]
    blank = explorer.frame_array(0, 0, 2, 0.9)  # stage 0 has no level 3
    np.testing.assert_array_equal(blank, explorer.frame_array(0, 0, 2, 0.0))
    drawn = explorer.frame_array(0, 1, 2, 0.9)  # stage 1 has one
    assert not np.array_equal(drawn, explorer.frame_array(0, 1, 2, 0.0))
    explorer.close()


# -- FrameStepper ---------------------------------------------------------------------------------------
def solid_frames(n, size=8):
    """``n`` PNG frames, frame ``i`` a solid grey of level ``20 * i``: a frame says which it is."""
    return [fw.encode(np.full((size, size, 3), 20 * i, dtype="uint8"), "png") for i in range(n)]


def grey(image_widget):
    return int(decode(image_widget.value)[0, 0, 0])


@pytest.mark.parametrize("mode", ["static", "live"])
def test_stepper_shows_the_frame_the_slider_selects(mode):
    stepper = fw.FrameStepper(solid_frames(4), [f"level {i + 1}" for i in range(4)], description="level",
                              mode=mode, value=1)
    assert stepper.mode == mode and "focal-stepper" in stepper._dom_classes
    assert stepper.slider.description == "level" and stepper.slider.label == "level 2"
    assert grey(stepper.shown_frame()) == 20
    for index in (3, 0, 2):
        stepper.slider.index = index
        assert grey(stepper.shown_frame()) == 20 * index
        assert stepper.shown_frame().value == stepper.frames[index][0]
    if mode == "static":
        stack = stepper.children[1]
        assert isinstance(stack, ipywidgets.Stack) and list(stack.children) == stepper.images
        # The browser follows the link with no kernel: slider index -> stack.selected_index.
        assert stepper.link.source == (stepper.slider, "index")
        assert stepper.link.target == (stack, "selected_index")
        assert stack.selected_index == 1  # the first frame; the link moves it in the browser
    else:
        assert stepper.images is None and stepper.children[1] is stepper.live_image
    assert ("Static slider" if mode == "static" else "Live slider") in stepper.mode_note.value


def test_stepper_static_and_live_show_the_same_pixels():
    figures = []
    for k in (1, 2):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(1.5, 1.5))
        ax.plot([0, 1], [0, k])
        figures.append(fig)
    static = fw.FrameStepper(figures, ["k=1", "k=2"], mode="static")
    assert not plt.get_fignums()  # each figure was saved, then closed: it is not shown twice
    live = fw.FrameStepper([data for data, _ in static.frames], ["k=1", "k=2"], mode="live")
    for index in (0, 1):
        static.slider.index = live.slider.index = index
        assert static.shown_frame().format == live.shown_frame().format == "png"
        assert static.shown_frame().value == live.shown_frame().value
    assert static.nbytes == sum(len(d) for d, _ in static.frames) > 0


def test_stepper_accepts_arrays_and_jpeg():
    frames = [np.full((4, 4, 3), 200, dtype="uint8"), fw.encode(np.zeros((4, 4, 3), "uint8"), "jpeg")]
    live = fw.FrameStepper(frames, mode="live")
    assert [fmt for _, fmt in live.frames] == ["png", "jpeg"] and live.slider.label == "0"
    live.slider.index = 1
    assert live.live_image.format == "jpeg"


def test_stepper_rejects_bad_inputs():
    frames = solid_frames(2)
    with pytest.raises(ValueError, match=r"`frames` must hold at least one picture"):
        fw.FrameStepper([])
    with pytest.raises(ValueError, match=r"`labels`.*2 frames but 3 labels"):
        fw.FrameStepper(frames, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`labels` must not repeat"):
        fw.FrameStepper(frames, ["a", "a"])
    with pytest.raises(ValueError, match=r"`value`.*\[0, 1\].*Received: value=2"):
        fw.FrameStepper(frames, value=2)
    with pytest.raises(ValueError, match=r"`frames`.*not a PNG, JPEG or GIF"):
        fw.FrameStepper([b"hello"])
    with pytest.raises(ValueError, match=r"`frames`.*shape \(4, 4\)"):
        fw.FrameStepper([np.zeros((4, 4))])
    with pytest.raises(ValueError, match="mode"):
        fw.FrameStepper(frames, mode="fast")


def test_stepper_without_stack_runs_live(monkeypatch):
    monkeypatch.delattr(ipywidgets, "Stack")  # ipywidgets 7 (Colab's 7.7.1)
    stepper = fw.FrameStepper(solid_frames(3))
    assert stepper.mode == "live"
    stepper.slider.index = 2
    assert grey(stepper.live_image) == 40
    with pytest.raises(ValueError, match=r"mode='static' needs ipywidgets>=8.*mode='live'"):
        fw.FrameStepper(solid_frames(3), mode="static")


@pytest.mark.parametrize("mode", ["static", "live"])
def test_stepper_close_releases_every_widget(mode):
    registry = fw.widget_registry()
    before = set(registry)
    stepper = fw.FrameStepper(solid_frames(3), mode=mode)
    assert len(set(registry) - before) > 3
    stepper.close()
    assert set(registry) == before


def test_stepper_palette_png_keeps_a_plot_small_and_close():
    import matplotlib.pyplot as plt

    def figure():
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.imshow(np.linspace(0, 1, 256).reshape(16, 16), cmap="inferno")
        ax.plot([0, 15], [0, 15], "c-")
        return fig

    (palette, _), (rgb, _) = fw.frame_bytes(figure()), fw.frame_bytes(figure(), colors=None)
    assert Image.open(io.BytesIO(palette)).mode == "P" and len(palette) < len(rgb)
    # A figure with few colours survives the palette almost exactly.
    assert np.abs(decode(palette).astype(int) - decode(rgb).astype(int)).mean() < 2.0
