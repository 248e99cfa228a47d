"""focal_utils.diagrams: the pictures of the network, the block and the modulation layer follow the code."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import focal_utils as fu  # noqa: E402
from focal_utils import diagrams  # noqa: E402


@pytest.fixture(scope="module")
def conv_model():
    return fu.create_model("focalnet_cifar_conv")


def test_network_follows_the_model(conv_model):
    fig, boxes = diagrams.draw_network(conv_model)
    plt.close(fig)
    assert boxes[0] == "image 32x32x3"
    assert boxes[2].startswith("stem: 7x7 conv, stride 4 (overlapping)")
    stages = [b for b in boxes if b.startswith("stage ")]
    assert stages == [f"stage {i}: {d} x FocalNet block" for i, d in enumerate(conv_model.depths)]
    assert sum(b.startswith("downsample: 3x3 conv, stride 2") for b in boxes) == len(conv_model.depths) - 1
    assert boxes[-1] == "Dense 10"


def test_network_notes_carry_grids_and_widths():
    model = fu.create_model("focalnet_cifar", patch_size=4, num_classes=7)
    steps = diagrams.network_steps(model)
    notes = [note for text, _, note in steps if text.startswith("stage ")]
    assert [n.split(";")[0] for n in notes] == ["8x8 x 64", "4x4 x 128", "2x2 x 256"]
    assert "stem: 4x4 patches (stride 4)" in steps[2][0]
    assert steps[-1][0] == "Dense 7"


def test_more_focal_levels_change_the_pictures():
    model = fu.create_model("focalnet_cifar", focal_levels=3)
    layer = model.stages[0].blocks[0].modulation
    fig, boxes = diagrams.draw_modulation(layer)
    plt.close(fig)
    assert [b for b in boxes if b.startswith("level ")] == [
        "level 1: 3x3 depthwise conv + GELU", "level 2: 5x5 depthwise conv + GELU",
        "level 3: 7x7 depthwise conv + GELU", "level 4 (global): mean over h x w + GELU"]
    assert "gates (4)" in boxes[1]
    assert "(kernels 3, 5, 7)" in diagrams.network_steps(model)[3][2]


def test_block_options_appear(conv_model):
    fig, boxes = diagrams.draw_block(conv_model.stages[1].blocks[0])
    plt.close(fig)
    assert boxes == ["tokens h x w x C", "LayerNorm", "FocalModulation: 2 levels (kernels 3, 5) + global", "+",
                     "LayerNorm", "MLP: Dense 512, GELU, Dense", "+"]
    post = fu.create_model("focalnet_cifar", use_postln=True, use_layerscale=True)
    steps = diagrams.block_steps(post.stages[0].blocks[0])
    assert [text for text, _, _ in steps][1:3] == [
        "FocalModulation: 2 levels (kernels 3, 5) + global", "LayerNorm x LayerScale"]


def test_modulation_options_appear():
    model = fu.create_model("focalnet_cifar", normalize_modulator=True, use_postln_in_modulation=True)
    parts = diagrams.modulation_parts(model.stages[0].blocks[0].modulation)
    assert parts["aggregate"][0].endswith("/ (L + 1)")
    assert parts["aggregate"][1].endswith("+ LayerNorm")


def test_each_mixer_variant_draws_its_own_mixer():
    """Chapter 9's variants: the block and network pictures name the mixer each block really holds."""
    from focal_utils.registry import mixer_variant

    expected = {
        "attention": ("global self-attention: 2 heads of 32, position bias", "global attention"),
        "window_attention": ("window attention: 4x4 windows, 2 heads of 32", "window attention"),
        "dwconv": ("depthwise levels (kernels 3, 5) + global; no gates, no query",
                   "depthwise mixer"),
        "pooling": ("pooling: avgpool 3x3 - x (no weights)", "pooling mixer"),
    }
    for mixer, (label, stage_name) in expected.items():
        model = fu.create_model(mixer_variant(mixer))
        first, second = model.stages[0].blocks[:2]
        assert diagrams.block_steps(first)[2][0] == label
        fig, boxes = diagrams.draw_block(second, title=mixer)
        plt.close(fig)
        if mixer == "window_attention":  # the odd blocks shift their windows by half a window
            assert boxes[2] == "window attention: 4x4 windows, shifted by 2, 2 heads of 32"
            assert "shifted in odd blocks" in diagrams.network_steps(model)[3][2]
        assert diagrams.network_steps(model)[3][0] == f"stage 0: 2 x block, {stage_name}"


def test_draw_mixers_lists_each_blocks_mixer_in_order():
    from focal_utils.registry import mixer_variant

    blocks = {m: fu.create_model(mixer_variant(m)).stages[0].blocks[1] for m in ("focal_modulation", "pooling")}
    fig, boxes = diagrams.draw_mixers(blocks)
    plt.close(fig)
    assert boxes == ["FocalModulation: 2 levels (kernels 3, 5) + global",
                     "pooling: avgpool 3x3 - x (no weights)"]
