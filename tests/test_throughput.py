"""throughput: the comparison runs every contender and reports consistent rows (no timing asserted)."""

import pytest

from focal_utils import create_model
from focal_utils.throughput import compare_training_throughput, throughput_ratios


def tiny(embed_dim=8):
    return create_model("focalnet_cifar", depths=(1,), embed_dim=embed_dim)


class StepClock:
    """A fake clock: each timed fit of contender ``k`` (taking turns) lasts ``seconds[k]``."""

    def __init__(self, seconds):
        self.seconds, self.now, self.calls = list(seconds), 0.0, 0

    def __call__(self):
        # calls come in (start, end) pairs, contenders in turn
        if self.calls % 2:
            self.now += self.seconds[(self.calls // 2) % len(self.seconds)]
        self.calls += 1
        return self.now


def test_rows_and_ratios_follow_the_measured_times():
    contenders = {"book": (tiny, True), "book, keras-io way": (lambda: tiny(16), True),
                  "keras-io as it is": (lambda: tiny(4), False)}
    messages = []
    batch_size, steps, repeats = 4, 2, 3
    rows = compare_training_throughput(batch_size=batch_size, steps=steps, repeats=repeats,
                                       warmup_steps=1, contenders=contenders,
                                       progress=messages.append, clock=StepClock([1.0, 4.0, 2.0]))
    assert [row["model"] for row in rows] == list(contenders)
    assert len(messages) == repeats * 3
    images = batch_size * steps
    assert [row["images_per_s"] for row in rows] == [images / 1.0, images / 4.0, images / 2.0]
    assert [row["params"] for row in rows] == [tiny().count_params(), tiny(16).count_params(),
                                              tiny(4).count_params()]
    assert all(len(row["rates"]) == repeats for row in rows)
    ratios = throughput_ratios(rows)
    assert ratios == {"book / keras-io way (same architecture)": 4.0,
                      "book / keras-io as it is": 2.0}


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="repeats"):
        compare_training_throughput(repeats=0)
