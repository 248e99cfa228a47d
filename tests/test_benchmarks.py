"""Tests for focal_utils.timing, .memory, .flops formulas and .benchmarks: behaviour and
numbers, never timings."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from focal_utils import benchmarks, flops, memory  # noqa: E402
from focal_utils import timing as timing_module  # noqa: E402
from focal_utils.layers import FocalModulation  # noqa: E402


class FakeClock:
    """A clock that only moves when the timed function says so."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self):
        return self.now

    def work(self):
        self.now += self.durations[min(self.calls, len(self.durations) - 1)]
        self.calls += 1
        return self.calls


# ------------------------------------------------------------- time_forward

def test_time_forward_excludes_warmup_and_takes_the_median():
    # warm-up 50 s (excluded), calibration 1 s, then five repeats.
    clock = FakeClock([50.0, 1.0, 3.0, 2.0, 100.0, 4.0, 1.0])
    timing = timing_module.time_forward(clock.work, repeats=5, warmup=1,
                                     min_repeat_seconds=0.0, clock=clock)
    assert clock.calls == 1 + 1 + 5
    assert timing.number == 1
    assert timing.times == (3.0, 2.0, 100.0, 4.0, 1.0)
    assert timing.median == 3.0  # the 100 s outlier does not move it
    assert timing.best == 1.0


def test_time_forward_groups_fast_calls():
    clock = FakeClock([2.0 ** -10])  # powers of two: exact sums
    timing = timing_module.time_forward(clock.work, repeats=3, warmup=2,
                                     min_repeat_seconds=2.0 ** -7, clock=clock)
    assert timing.number == 8
    assert clock.calls == 2 + 1 + 3 * 8
    assert timing.times == (2.0 ** -10,) * 3
    assert timing.median == 2.0 ** -10


def test_time_forward_passes_arguments_and_uses_the_real_clock():
    seen = []
    timing = timing_module.time_forward(lambda a, b: seen.append((a, b)), 1, 2,
                                     repeats=2, warmup=0, min_repeat_seconds=0.0)
    assert seen == [(1, 2)] * 3
    assert len(timing.times) == 2 and all(t >= 0 for t in timing.times)


def test_time_interleaved_takes_turns():
    now, log = [0.0], []

    def make(name, seconds):
        def fn(scale):
            now[0] += seconds * scale
            log.append(name)
        return fn

    ticks = []
    timings = timing_module.time_interleaved(
        [(make("a", 1.0), (1,)), (make("b", 3.0), (2,))], repeats=3, warmup=1,
        min_repeat_seconds=0.0, clock=lambda: now[0], on_repeat=lambda: ticks.append(1))
    # warm-up and calibration per callable, then round-robin repeats
    assert log == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert len(ticks) == 6
    assert [t.median for t in timings] == [1.0, 6.0]
    assert [t.number for t in timings] == [1, 1]


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"repeats": 1.5},
                                    {"warmup": -1}, {"repeats": True}])
def test_time_forward_rejects_bad_counts(kwargs):
    with pytest.raises(ValueError, match="Received"):
        timing_module.time_forward(lambda: None, **kwargs)


def test_block_until_ready_waits_on_nested_results():
    class Async:
        ready = False

        def block_until_ready(self):
            self.ready = True
            return self

    items = [Async(), Async(), Async()]
    result = (items[0], [items[1]], {"maps": items[2]})
    assert timing_module.block_until_ready(result) is result
    assert all(item.ready for item in items)


# -------------------------------------------------------------------- FLOPs

def test_attention_flops_is_the_swin_count():
    # 4 N C^2 + 2 N^2 C at N = 3136 (56x56), C = 96.
    assert flops.attention_flops(3136, 96) == 4 * 3136 * 96 ** 2 + 2 * 3136 ** 2 * 96
    assert flops.attention_flops(3136, 96) == 2_003_828_736


@pytest.mark.parametrize("focal_level, focal_window", [(1, 3), (2, 3), (3, 5)])
def test_focal_modulation_flops_counts_the_layers_weights(focal_level, focal_window):
    """One multiply-accumulate per weight and token, plus one per element for
    each depthwise level, the global gating and h (the official rules)."""
    channels = 32
    layer = FocalModulation(focal_level=focal_level, focal_window=focal_window)
    layer.build((1, 7, 7, channels))

    def size(variable):
        return int(np.prod(variable.shape))

    for tokens in (49, 3136):
        expected = tokens * size(layer.f.kernel)
        expected += sum(tokens * (size(conv.kernel) + channels) for conv in layer.focal_layers)
        expected += tokens * channels  # global gating
        expected += tokens * (size(layer.h.kernel) + channels)
        expected += tokens * size(layer.proj.kernel)
        assert flops.focal_modulation_flops(tokens, channels, focal_level, focal_window) == expected


def test_flops_scale_linear_vs_quadratic():
    channels = 96
    focal = [flops.focal_modulation_flops(n, channels) for n in (1024, 2048)]
    attention = [flops.attention_flops(n, channels) for n in (1024, 2048)]
    assert focal[1] == 2 * focal[0]  # exactly linear in the tokens
    # 2 N^2 C dominates once N >> 2C: doubling N more than triples the cost.
    assert attention[1] / attention[0] > 3
    # Per token: attention 4C^2 + 2NC, focal modulation 4C^2 + 41C (L = 2):
    # attention costs more from N = 21 tokens on; 15.7x more at 56x56.
    assert flops.focal_modulation_flops(1, channels) == 4 * channels ** 2 + 41 * channels
    assert flops.focal_modulation_flops(3136, 96) == 127_948_800
    assert flops.attention_flops(20, 96) < flops.focal_modulation_flops(20, 96)
    assert flops.attention_flops(21, 96) > flops.focal_modulation_flops(21, 96)


# ------------------------------------------------------------------- slopes

def test_loglog_fit_recovers_power_laws():
    x = np.array([49, 196, 784, 3136, 4096])
    slope, intercept = benchmarks.loglog_fit(x, 3.0 * x ** 2)
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(math.log(3.0))
    slope, _ = benchmarks.loglog_fit(x, 0.5 * x)
    assert slope == pytest.approx(1.0)


@pytest.mark.parametrize("x, y", [([1, 2], [1, 0]), ([0, 2], [1, 2]),
                                  ([4, 4], [1, 2]), ([1, 2, 3], [1, 2])])
def test_loglog_fit_rejects_bad_points(x, y):
    with pytest.raises(ValueError, match="Received"):
        benchmarks.loglog_fit(x, y)


def _synthetic_rows():
    rows = []
    for grid in (7, 14, 28, 56):
        tokens = grid * grid
        rows.append({"grid": grid, "tokens": tokens, "mixer": "attention",
                     "seconds": 1e-4 + 1e-9 * tokens ** 2, "peak_bytes": 4 * tokens ** 2})
        rows.append({"grid": grid, "tokens": tokens, "mixer": "focal_modulation",
                     "seconds": 2e-6 * tokens, "peak_bytes": None if grid == 7 else 400 * tokens})
    return rows


def test_fit_slopes_per_mixer_with_token_range():
    rows = _synthetic_rows()
    fits = benchmarks.fit_slopes(rows, "peak_bytes")
    assert list(fits) == ["attention", "focal_modulation"]  # first-seen order
    assert fits["attention"][0] == pytest.approx(2.0)
    assert fits["focal_modulation"][0] == pytest.approx(1.0)  # None skipped
    # A constant overhead bends the small grids; the large ones show N^2.
    all_grids = benchmarks.fit_slopes(rows)["attention"][0]
    large = benchmarks.fit_slopes(rows, min_tokens=784)["attention"][0]
    assert all_grids < 1.5 < large < 2.0
    # Fewer than two points: the mixer is left out.
    assert benchmarks.fit_slopes(rows, min_tokens=3136) == {}
    assert list(benchmarks.fit_slopes(rows, "peak_bytes", max_tokens=196)) == ["attention"]


def test_ratios_attention_over_focal():
    rows = _synthetic_rows()
    ratios = benchmarks.ratios(rows, "peak_bytes")
    assert list(ratios) == [14, 28, 56]  # 7x7 focal memory is None
    assert ratios[56] == pytest.approx(4 * 3136 / 400)


# ------------------------------------------------------------------- memory

def test_peak_memory_rejects_unknown_method():
    with pytest.raises(ValueError, match="method='rss'"):
        memory.peak_memory(lambda: None, method="rss")


def test_memory_method_is_known():
    assert memory.memory_method() in ("tensorflow", "vmhwm", None)


@pytest.mark.skipif(not memory._vmhwm_available(), reason="needs /proc/self/clear_refs")
def test_peak_memory_vmhwm_sees_a_numpy_allocation():
    size = 64 * 2 ** 20

    def allocate():
        array = np.ones(size // 8, dtype="float64")  # touched: resident
        return float(array[-1])

    peak = memory.peak_memory(allocate, method="vmhwm")
    assert 0.9 * size <= peak <= size + 16 * 2 ** 20
    # Nothing allocated: (almost) nothing measured.
    assert memory.peak_memory(lambda: None, method="vmhwm") < 4 * 2 ** 20


@pytest.mark.skipif(memory._tensorflow_memory_info() is None,
                    reason="needs TensorFlow allocator statistics on CPU")
def test_peak_memory_tensorflow_counts_large_tensors():
    import tensorflow as tf

    x = tf.ones((1024, 1024))  # 4 MiB, in use before the call: not counted
    forward = tf.function(lambda t: tf.matmul(t, t) + 1.0, autograph=False)
    forward(x)
    peak = memory.peak_memory(forward, x, method="tensorflow")
    assert 4 * 2 ** 20 <= peak <= 16 * 2 ** 20


def test_peak_memory_auto_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(memory, "memory_method", lambda: None)
    with pytest.warns(RuntimeWarning, match="clear_refs"):
        assert memory.peak_memory(lambda: None) is None
    # No module-level "warned" flag: Python's warning filters decide how
    # often it shows (once per call site by default), so it warns again here.
    with pytest.warns(RuntimeWarning, match="clear_refs"):
        assert memory.peak_memory(lambda: None) is None


def test_probing_memory_methods_writes_nothing(monkeypatch, tmp_path):
    """Asking what is available must not reset the process's high-water mark."""
    clear_refs = tmp_path / "clear_refs"
    clear_refs.write_text("")
    monkeypatch.setattr(memory, "_CLEAR_REFS", str(clear_refs))
    memory._vmhwm_available()
    memory.memory_method()
    assert clear_refs.read_text() == ""


def test_explicit_unavailable_method_raises(monkeypatch):
    monkeypatch.setattr(memory, "_vmhwm_available", lambda: False)
    monkeypatch.setattr(memory, "_tensorflow_memory_info", lambda: None)
    with pytest.raises(RuntimeError, match="clear_refs"):
        memory.peak_memory(lambda: None, method="vmhwm")
    with pytest.raises(RuntimeError, match="allocator"):
        memory.peak_memory(lambda: None, method="tensorflow")


# ---------------------------------------------------------------- mixers

def test_mixer_inputs_hold_the_same_tokens_in_two_layouts():
    sequence = benchmarks.mixer_input("attention", 5, 8, 2, seed=3)
    grid = benchmarks.mixer_input("focal_modulation", 5, 8, 2, seed=3)
    assert tuple(sequence.shape) == (2, 25, 8)
    assert tuple(grid.shape) == (2, 5, 5, 8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sequence),
                                  keras.ops.convert_to_numpy(grid).reshape(2, 25, 8))
    with pytest.raises(ValueError, match="mixer='conv'"):
        benchmarks.mixer_input("conv", 5, 8, 2)


@pytest.mark.parametrize("mixer", benchmarks.MIXERS)
def test_compiled_forward_matches_the_eager_call(mixer):
    layer = benchmarks.make_mixer(mixer, channels=8, num_heads=2)
    x = benchmarks.mixer_input(mixer, 4, 8, 2)
    layer.build(tuple(x.shape))
    compiled = timing_module.compile_forward(layer)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(compiled(x)),
                               keras.ops.convert_to_numpy(layer(x)), rtol=1e-5, atol=1e-6)


def test_compare_token_mixers_rows():
    rows = benchmarks.compare_token_mixers([2, 4], channels=8, num_heads=2, batch_size=3,
                                           repeats=1, progress=False)
    assert [(r["grid"], r["tokens"], r["mixer"]) for r in rows] == [
        (2, 4, "attention"), (2, 4, "focal_modulation"),
        (4, 16, "attention"), (4, 16, "focal_modulation")]
    assert set(rows[0]) == {"grid", "tokens", "mixer", "seconds", "peak_bytes", "flops"}
    assert all(r["seconds"] > 0 for r in rows)
    assert all(r["peak_bytes"] is None or r["peak_bytes"] >= 0 for r in rows)
    assert rows[2]["flops"] == 3 * flops.attention_flops(16, 8)
    assert rows[3]["flops"] == 3 * flops.focal_modulation_flops(16, 8)


def test_compare_token_mixers_without_memory_and_one_mixer():
    rows = benchmarks.compare_token_mixers([3], channels=8, num_heads=2, batch_size=1,
                                           mixers=("focal_modulation",), repeats=1,
                                           measure_memory=False, progress=False)
    assert len(rows) == 1 and rows[0]["peak_bytes"] is None


@pytest.mark.parametrize("kwargs, match", [
    ({"grid_sizes": []}, "grid_sizes"),
    ({"grid_sizes": [4], "num_heads": 3}, "num_heads"),
    ({"grid_sizes": [4], "mixers": ("mlp",)}, "mixers"),
])
def test_compare_token_mixers_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        benchmarks.compare_token_mixers(channels=8, progress=False, **kwargs)


def test_chapter_timer_states_the_measured_time_where_the_note_was(monkeypatch):
    import IPython.display

    shown, updated = [], []

    class Handle:
        def update(self, obj):
            updated.append(obj.data)

    def fake_display(obj, display_id=False):
        shown.append(obj.data)
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    ticks = iter([100.0, 127.4])
    timer = timing_module.ChapterTimer(clock=lambda: next(ticks))
    assert shown == [timing_module.ChapterTimer.PENDING]  # the note under the setup cell, for now
    assert timer.stop() == pytest.approx(27.4)
    assert "took 27 s" in updated[0] and shown[-1] == updated[0]  # rewritten, and shown at the end
    assert timing_module.ChapterTimer(start=0.0, clock=lambda: 150.0, show=False).stop(show=False) == 150.0
    assert timing_module.format_duration(150.0) == "2.5 min"
    with pytest.raises(ValueError, match="`seconds`"):
        timing_module.format_duration(-1.0)
