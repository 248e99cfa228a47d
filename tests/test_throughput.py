"""throughput: the comparison runs every contender and reports consistent rows (no timing asserted)."""

import pytest

from focal_utils import create_model
from focal_utils.throughput import compare_training_throughput, throughput_ratios


def tiny():
    return create_model("focalnet_cifar", depths=(1,), embed_dim=8)


def test_rows_and_ratios():
    contenders = {"book": (tiny, True), "book, keras-io way": (tiny, True),
                  "keras-io as it is": (tiny, True)}
    messages = []
    rows = compare_training_throughput(batch_size=4, steps=2, repeats=2, warmup_steps=1,
                                       contenders=contenders, progress=messages.append)
    assert [row["model"] for row in rows] == list(contenders)
    assert len(messages) == 2 * 3
    for row in rows:
        assert len(row["rates"]) == 2 and row["images_per_s"] > 0
        assert row["params"] == tiny().count_params()
    ratios = throughput_ratios(rows)
    rate = {row["model"]: row["images_per_s"] for row in rows}
    assert ratios["book / keras-io as it is"] == pytest.approx(rate["book"] / rate["keras-io as it is"])


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="repeats"):
        compare_training_throughput(repeats=0)
