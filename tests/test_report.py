"""Tests of focal_utils.report: model descriptions, breakdowns and tables."""

import keras
import pytest

from focal_utils import PAPER_METRICS, count_flops, create_model
from focal_utils.report import (
    compare_with_paper,
    describe_model,
    parameter_breakdown,
    stage_grids,
)
from focal_utils.tables import Table, format_table


@pytest.fixture(scope="module")
def cifar_model():
    return create_model("focalnet_cifar")


def test_stage_grids_and_describe(cifar_model):
    assert stage_grids(cifar_model) == [(16, 16), (8, 8), (4, 4)]
    assert stage_grids(cifar_model, image_size=64) == [(32, 32), (16, 16), (8, 8)]
    row = describe_model(cifar_model)
    assert row["name"] == "focalnet_cifar"
    assert row["tokens"] == [256, 64, 16]
    assert row["stage_dims"] == (64, 128, 256)
    assert row["params"] == 2_481_247
    assert row["flops"] == count_flops(cifar_model)


def test_parameter_breakdown_adds_up(cifar_model):
    parts = parameter_breakdown(cifar_model)
    assert list(parts) == ["stem", "stage_0", "stage_1", "stage_2", "norm + head"]
    assert "downsample" not in parts["stage_2"]
    assert parts["norm + head"] == {"final norm": 512, "head": 2_570}
    assert parts["stem"]["patch embedding"] == 2 * 2 * 3 * 64 + 64 + 2 * 64
    total = sum(sum(counts.values()) for counts in parts.values())
    assert total == cifar_model.count_params()


def test_parameter_breakdown_layerscale_and_headless():
    model = create_model("focalnet_cifar", num_classes=0, depths=(1, 1),
                         embed_dim=16, use_layerscale=True)
    parts = parameter_breakdown(model)
    assert parts["stage_0"]["layerscale"] == 2 * 16
    assert "head" not in parts["norm + head"]
    assert sum(sum(c.values()) for c in parts.values()) == model.count_params()


def test_compare_with_paper_tiny():
    before = keras.layers.Dense(1)
    (row,) = compare_with_paper(["focalnet_tiny_srf"])
    # No hidden keras.backend.clear_session(): Keras' name counters go on, so
    # the caller's next layer does not get a name that is already taken.
    assert keras.layers.Dense(1).name != before.name
    assert row["params"] == row["paper_params"] == 28_427_116
    assert row["params_diff"] == 0
    assert abs(row["gflops_rel_diff"]) < 0.02
    assert row["tokens"] == [56 * 56, 28 * 28, 14 * 14, 7 * 7]


def test_compare_with_paper_rejects_unknown():
    with pytest.raises(ValueError, match="No paper metrics"):
        compare_with_paper(["focalnet_cifar"])
    assert "focalnet_cifar" not in PAPER_METRICS


def test_format_table_markdown_and_html():
    rows = [dict(name="a", n=1234, f=0.5, d=(2, 2)), dict(name="bb", n=5, f=-0.25, d=(6,))]
    columns = [("model", "name", ""), ("params", "n", ",d"), ("diff", "f", "+.1%"),
               ("depths", "d", "d")]
    text = format_table(rows, columns)
    lines = text.splitlines()
    assert lines[0] == "| model | params |   diff | depths |"
    assert lines[1] == "|-------|-------:|-------:|-------:|"
    assert lines[2] == "| a     |  1,234 | +50.0% |    2/2 |"
    assert lines[3] == "| bb    |      5 | -25.0% |      6 |"
    assert len({len(line) for line in lines}) == 1
    html = format_table(rows, columns, style="html")
    assert html.startswith("<table>")
    assert '<td style="text-align: left; padding: 0.2em 0.6em">a</td>' in html
    assert '<td style="text-align: right; padding: 0.2em 0.6em">1,234</td>' in html
    assert format_table(rows, [("n", "n", lambda v: f"<{v}>")], style="html").count("&lt;") == 2
    with pytest.raises(ValueError, match="style"):
        format_table(rows, columns, style="latex")


def test_report_functions_reject_non_focalnet():
    other = keras.layers.Dense(2)
    for function in (describe_model, parameter_breakdown, stage_grids):
        with pytest.raises(ValueError, match="expects a FocalNet. Received: Dense"):
            function(other)


def test_table_shows_html_and_text():
    rows = [dict(name="a", n=1234)]
    columns = [("model", "name", ""), ("params", "n", ",d")]
    table = Table(rows, columns)
    assert repr(table) == str(table) == format_table(rows, columns)
    assert table._repr_html_() == format_table(rows, columns, style="html")
