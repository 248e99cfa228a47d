"""widgets: frames registered pixel for pixel, static stacks tied by jslink, live redraws."""

import io

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
    explorer = fw.GateExplorer(model, images, labels=[0, 2], class_names=["a", "b", "c"], size=64)
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
    static = fw.GateExplorer(model, images, size=64)
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
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        fw.GateExplorer(model, images[0])
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        fw.GateExplorer(model, images, labels=[0, 1, 2])
