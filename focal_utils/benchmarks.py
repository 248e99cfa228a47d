"""Measure token mixers: forward time, peak memory, FLOPs and log-log slopes.

The book compares multi-head self-attention with focal modulation at equal
channels as the token grid grows. This module holds the measuring tools:

- ``compile_forward`` wraps a layer's inference call in the backend's graph
  compiler (``tf.function`` on TensorFlow, ``jax.jit`` on JAX).
- ``time_forward`` times a callable: warm-up calls excluded, several repeats,
  the median reported (robust when other processes share the CPU);
  ``time_interleaved`` does the same for several callables, taking turns.
- ``peak_memory`` measures the bytes a call needs on the CPU at its peak.
- ``attention_flops`` and ``focal_modulation_flops`` count multiply-accumulates
  the way the FocalNet paper (and ``focal_utils.flops``) does.
- ``compare_token_mixers`` runs both mixers over a list of grid sizes and
  ``fit_slopes`` fits the exponent ``b`` of ``cost ~ tokens ** b``.

Peak memory on the CPU has no single portable counter, so ``peak_memory``
picks one of two methods (``memory_method()`` says which):

``"tensorflow"``
    The TensorFlow CPU allocator's own statistics
    (``tf.config.experimental.get_memory_info("CPU:0")``), reset before the
    call. They exist when TensorFlow uses its oneDNN allocator (the default on
    x86 Linux, Colab included). That allocator keeps freed memory in a pool,
    so the process's resident memory does not grow on a repeated call and
    cannot be used there; its statistics count the bytes it hands out, except
    blocks of 256 KiB or less, which a separate small-block pool serves
    uncounted (tiny workloads read 0).
``"vmhwm"``
    Linux only: reset the process's resident-memory high-water mark
    (``echo 5 > /proc/self/clear_refs``), call, read ``VmHWM`` from
    ``/proc/self/status`` and subtract the resident memory before the call.
    Exact for allocators that return memory to the system (NumPy, glibc
    ``malloc`` for large blocks, JAX on CPU); an underestimate for pooling
    allocators.

Elsewhere (macOS, Windows) ``peak_memory`` warns once and returns ``None``.
"""

import ctypes
import dataclasses
import functools
import gc
import math
import os
import statistics
import sys
import time
import warnings

import keras
import numpy as np

from focal_utils.attention import MultiHeadSelfAttention
from focal_utils.layers import FocalModulation

MIXERS = ("attention", "focal_modulation")
MEMORY_METHODS = ("auto", "tensorflow", "vmhwm")
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"
_warned_no_memory = False


# ----------------------------------------------------------------- timing ---

def block_until_ready(result):
    """Wait until an asynchronously computed result exists (JAX); return it.

    TensorFlow and PyTorch on the CPU return finished tensors, so this only
    matters for JAX, whose calls return before the computation ends.
    """
    if isinstance(result, (tuple, list)):
        for item in result:
            block_until_ready(item)
    elif isinstance(result, dict):
        for item in result.values():
            block_until_ready(item)
    elif hasattr(result, "block_until_ready"):
        result.block_until_ready()
    return result


def _inference_call(layer, x):
    return layer(x, training=False)


def compile_forward(layer, jit_compile=False):
    """Return ``f(x) = layer(x, training=False)``, compiled where sensible.

    TensorFlow: ``tf.function`` (graph mode; XLA only if ``jit_compile``).
    JAX: ``jax.jit``. Other backends: the eager call. The layer must be built.
    """
    # A partial, not a closure: TensorFlow's retracing detector counts traces
    # per code object, and would warn about many layers traced once each.
    forward = functools.partial(_inference_call, layer)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(forward, autograph=False, jit_compile=jit_compile)
    if backend == "jax":
        import jax

        return jax.jit(forward)
    return forward


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed callable.

    Attributes:
        median: float, median over the repeats (the number to report).
        best: float, fastest repeat.
        times: tuple of floats, seconds per call of each repeat.
        number: int, calls per repeat (more than one for very fast calls).
    """

    median: float
    best: float
    times: tuple
    number: int


def _check_counts(repeats, warmup):
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be an integer >= 1. Received: repeats={repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"`warmup` must be an integer >= 0. Received: warmup={warmup!r}")


def _run(fn, args, number, clock):
    """Seconds per call of ``number`` back-to-back calls of ``fn(*args)``."""
    start = clock()
    for _ in range(number):
        result = fn(*args)
    block_until_ready(result)
    return (clock() - start) / number


def time_interleaved(calls, repeats=7, warmup=1, min_repeat_seconds=0.02,
                     max_number=1000, clock=time.perf_counter, on_repeat=None):
    """Time several callables in turns: warm-up excluded, median of repeats.

    Every callable is warmed up (``warmup`` untimed calls: the first call of
    a compiled function traces it) and then calibrated: one timed call says
    how many back-to-back calls (``number``) fill ``min_repeat_seconds``, so
    that the clock's resolution and the Python overhead do not dominate fast
    calls (as ``timeit`` does). Then the repeats go round-robin: one repeat
    of each callable, then the next round. On a CPU shared with other
    processes the load drifts over seconds; taking turns spreads each drift
    over all callables instead of one, and the median drops the repeats that
    were slowed down.

    Args:
        calls: list of ``(fn, args)`` pairs; each result is waited for
            (``block_until_ready``).
        repeats: int >= 1, timed repeats per callable.
        warmup: int >= 0, untimed calls per callable before timing.
        min_repeat_seconds: float, the shortest acceptable repeat.
        max_number: int, upper bound on calls per repeat.
        clock: callable returning seconds (injectable for tests).
        on_repeat: optional callable, called with no argument after every
            timed repeat (e.g. a progress bar's ``update``).

    Returns:
        list of ``Timing`` (seconds per call), in the order of ``calls``.
    """
    _check_counts(repeats, warmup)
    calls = [(fn, tuple(args)) for fn, args in calls]
    numbers = []
    for fn, args in calls:
        for _ in range(warmup):
            block_until_ready(fn(*args))
        first = _run(fn, args, 1, clock)
        number = 1
        if first < min_repeat_seconds:
            number = min(max_number, max(1, math.ceil(min_repeat_seconds / max(first, 1e-9))))
        numbers.append(number)
    times = [[] for _ in calls]
    for _ in range(repeats):
        for (fn, args), number, slot in zip(calls, numbers, times):
            slot.append(_run(fn, args, number, clock))
            if on_repeat is not None:
                on_repeat()
    return [Timing(median=statistics.median(slot), best=min(slot), times=tuple(slot),
                   number=number)
            for slot, number in zip(times, numbers)]


def time_forward(fn, *args, repeats=7, warmup=1, min_repeat_seconds=0.02,
                 max_number=1000, clock=time.perf_counter):
    """Time ``fn(*args)``: warm-up excluded, median of ``repeats`` repeats.

    ``time_interleaved`` with a single callable: ``warmup`` untimed calls
    (tracing, compiling), one calibration call, then ``repeats`` timed
    repeats of ``number`` calls each. The median ignores the repeats slowed
    down by other processes on a shared CPU.

    Args:
        fn: callable; its result is waited for (``block_until_ready``).
        *args: passed to ``fn``.
        repeats, warmup, min_repeat_seconds, max_number, clock: as in
            ``time_interleaved``.

    Returns:
        ``Timing`` (seconds per call).
    """
    return time_interleaved([(fn, args)], repeats=repeats, warmup=warmup,
                            min_repeat_seconds=min_repeat_seconds,
                            max_number=max_number, clock=clock)[0]


# ----------------------------------------------------------------- memory ---

def _read_status_kib(field):
    with open(_STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not found in {_STATUS}")


def _vmhwm_available():
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
        _read_status_kib("VmHWM")
        _read_status_kib("VmRSS")
    except OSError:
        return False
    return True


def _tensorflow_memory_info():
    """The TF CPU allocator's {'current', 'peak'} bytes, or None without stats."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    try:
        return tf.config.experimental.get_memory_info("CPU:0")
    except (ValueError, RuntimeError, tf.errors.OpError):
        return None


def _release_free_memory():
    """Collect garbage and hand freed ``malloc`` memory back to the system."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def memory_method():
    """Which way ``peak_memory(..., method="auto")`` measures on this machine.

    Returns:
        ``"tensorflow"`` (TF CPU allocator statistics), ``"vmhwm"`` (Linux
        resident high-water mark) or ``None`` (no method available).
    """
    if _tensorflow_memory_info() is not None:
        return "tensorflow"
    if _vmhwm_available():
        return "vmhwm"
    return None


def _peak_tensorflow(fn, args):
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    result = block_until_ready(fn(*args))
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    del result
    return max(0, peak - before)


def _peak_vmhwm(fn, args):
    _release_free_memory()
    with open(_CLEAR_REFS, "w") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    before = _read_status_kib("VmRSS")
    result = block_until_ready(fn(*args))
    peak = _read_status_kib("VmHWM")
    del result
    return max(0, peak - before) * 1024


def peak_memory(fn, *args, method="auto"):
    """Peak bytes of memory that ``fn(*args)`` needs beyond what was in use.

    Call it after a warm-up call, so that tracing and compiling are not
    counted. See the module docstring for the two methods.

    Args:
        fn: callable.
        *args: passed to ``fn`` (they count as already in use).
        method: ``"auto"`` (TensorFlow allocator statistics when available,
            else Linux ``VmHWM``), ``"tensorflow"`` or ``"vmhwm"``.

    Returns:
        int bytes, or ``None`` (with a one-time warning) when ``method="auto"``
        finds no way to measure on this system.

    Raises:
        ValueError: unknown ``method``.
        RuntimeError: the requested method is not available here.
    """
    global _warned_no_memory
    if method not in MEMORY_METHODS:
        raise ValueError(
            f"`method` must be one of {MEMORY_METHODS}. Received: method={method!r}"
        )
    if method == "auto":
        method = memory_method()
        if method is None:
            if not _warned_no_memory:
                warnings.warn(
                    "peak_memory: no way to measure peak memory here. It needs "
                    "TensorFlow's CPU allocator statistics (oneDNN builds) or "
                    "Linux /proc/self/clear_refs (e.g. Colab); returning None.",
                    RuntimeWarning, stacklevel=2)
                _warned_no_memory = True
            return None
    if method == "tensorflow":
        if _tensorflow_memory_info() is None:
            raise RuntimeError(
                "peak_memory(method='tensorflow') needs the TensorFlow backend "
                "with allocator statistics on CPU:0 (the oneDNN allocator). "
                f"Received: backend={keras.backend.backend()!r}, "
                f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')!r}"
            )
        return _peak_tensorflow(fn, args)
    if not _vmhwm_available():
        raise RuntimeError(
            "peak_memory(method='vmhwm') needs Linux with a writable "
            f"{_CLEAR_REFS}. Received: platform={sys.platform!r}"
        )
    return _peak_vmhwm(fn, args)


# ------------------------------------------------------------------ FLOPs ---

def attention_flops(tokens, channels):
    """Multiply-accumulates of multi-head self-attention on ``tokens`` tokens.

    ``4 N C^2`` for the q, k, v and output projections plus ``2 N^2 C`` for
    the scores ``q k^T`` and the weighted sum of the values (the count of
    the Swin Transformer paper; softmax and biases are not counted). The
    number of heads does not change it.
    """
    return 4 * tokens * channels ** 2 + 2 * tokens ** 2 * channels


def focal_modulation_flops(tokens, channels, focal_level=2, focal_window=3,
                           focal_factor=2):
    """Multiply-accumulates of one focal modulation, as ``focal_utils.flops``.

    ``f`` (``N C (2C + L + 1)``), the depthwise levels (``N C (k^2 + 1)``
    each), the global gating (``N C``), ``h`` (``N C (C + 1)``) and ``proj``
    (``N C^2``): linear in the number of tokens ``N``.
    """
    kernels = [focal_factor * level + focal_window for level in range(focal_level)]
    flops = tokens * channels * (2 * channels + focal_level + 1)
    flops += sum(tokens * (k * k + 1) * channels for k in kernels)
    flops += tokens * channels
    flops += tokens * channels * (channels + 1)
    flops += tokens * channels * channels
    return flops


# ------------------------------------------------------------- comparison ---

def make_mixer(mixer, channels=96, num_heads=3, focal_level=2):
    """A fresh token mixer by name: ``"attention"`` or ``"focal_modulation"``."""
    if mixer == "attention":
        return MultiHeadSelfAttention(num_heads=num_heads, name="attention")
    if mixer == "focal_modulation":
        return FocalModulation(focal_level=focal_level, name="focal_modulation")
    raise ValueError(f"`mixer` must be one of {MIXERS}. Received: mixer={mixer!r}")


def mixer_input(mixer, grid, channels, batch_size, seed=0):
    """Random tokens in the layout each mixer takes.

    Attention takes a sequence ``(batch, grid * grid, channels)``; focal
    modulation the same tokens as a map ``(batch, grid, grid, channels)``.
    """
    shape = {"attention": (batch_size, grid * grid, channels),
             "focal_modulation": (batch_size, grid, grid, channels)}
    if mixer not in shape:
        raise ValueError(f"`mixer` must be one of {MIXERS}. Received: mixer={mixer!r}")
    values = np.random.default_rng(seed).standard_normal(shape[mixer])
    return keras.ops.convert_to_tensor(values.astype("float32"))


def compare_token_mixers(grid_sizes, channels=96, num_heads=3, batch_size=4,
                         focal_level=2, mixers=MIXERS, repeats=7, warmup=1,
                         min_repeat_seconds=0.02, measure_memory=True,
                         memory="auto", progress=True, seed=0):
    """Forward time and peak memory of each mixer at each token grid.

    For every grid size and mixer: build a layer with ``channels`` channels,
    compile its inference call (``compile_forward``), run it ``warmup`` times
    untimed (at least once: that call traces it) and measure its peak memory
    (``peak_memory``). Then time all of them together with
    ``time_interleaved`` (round-robin repeats, median of ``repeats``), so
    that a burst of load from other processes does not land on one grid
    size only.

    Args:
        grid_sizes: iterable of ints, the side of the square token grid.
        channels: int, token channels of both mixers.
        num_heads: int, attention heads (must divide ``channels``).
        batch_size: int, images per forward pass.
        focal_level: int, focal levels of the focal modulation.
        mixers: names from ``MIXERS``.
        repeats, warmup, min_repeat_seconds: as in ``time_interleaved``.
        measure_memory: bool; False leaves ``peak_bytes`` as None.
        memory: the ``method`` of ``peak_memory``.
        progress: bool, show a tqdm progress bar.
        seed: int, seed of the random input tokens.

    Returns:
        list of dicts with keys ``grid``, ``tokens``, ``mixer``, ``seconds``
        (median per forward pass), ``peak_bytes`` (int or None) and ``flops``
        (multiply-accumulates per forward pass, whole batch), in the order
        grid-major, mixer-minor.
    """
    grid_sizes = [int(g) for g in grid_sizes]
    if not grid_sizes or min(grid_sizes) < 1:
        raise ValueError(
            f"`grid_sizes` must be non-empty positive ints. Received: grid_sizes={grid_sizes}"
        )
    for mixer in mixers:
        if mixer not in MIXERS:
            raise ValueError(f"`mixers` must come from {MIXERS}. Received: mixers={mixers!r}")
    if channels % num_heads:
        raise ValueError(
            f"`num_heads` ({num_heads}) must divide `channels` ({channels}). "
            f"Received: num_heads={num_heads}, channels={channels}"
        )
    _check_counts(repeats, warmup)
    jobs = [(grid, mixer) for grid in grid_sizes for mixer in mixers]
    bar = None
    if progress:
        from focal_utils.widgets import progress_bar

        bar = progress_bar(total=len(jobs) * (1 + repeats), desc="benchmark", unit="run")
    rows, calls = [], []
    for grid, mixer in jobs:
        if bar is not None:
            bar.set_postfix_str(f"warm-up and memory: {mixer} {grid}x{grid}")
        layer = make_mixer(mixer, channels, num_heads, focal_level)
        x = mixer_input(mixer, grid, channels, batch_size, seed)
        layer.build(tuple(x.shape))
        forward = compile_forward(layer)
        for _ in range(max(1, warmup)):
            block_until_ready(forward(x))
        peak = peak_memory(forward, x, method=memory) if measure_memory else None
        tokens = grid * grid
        flops = (attention_flops(tokens, channels) if mixer == "attention"
                 else focal_modulation_flops(tokens, channels, focal_level))
        rows.append({"grid": grid, "tokens": tokens, "mixer": mixer, "seconds": None,
                     "peak_bytes": peak, "flops": batch_size * flops})
        calls.append((forward, (x,)))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.set_postfix_str(f"timing, {repeats} rounds")
    timings = time_interleaved(calls, repeats=repeats, warmup=0,
                               min_repeat_seconds=min_repeat_seconds,
                               on_repeat=None if bar is None else bar.update)
    if bar is not None:
        bar.set_postfix_str("done")
        bar.close()
    for row, timing in zip(rows, timings):
        row["seconds"] = timing.median
    return rows


# ----------------------------------------------------------------- slopes ---

def loglog_fit(x, y):
    """Least-squares line through ``(log x, log y)``: ``y ~ exp(c) * x ** b``.

    Args:
        x, y: sequences of positive numbers, at least two distinct ``x``.

    Returns:
        ``(slope b, intercept c)`` as floats (natural logarithms).
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"`x` and `y` must be 1D and of equal length. Received: {x.shape} and {y.shape}"
        )
    if len(np.unique(x)) < 2:
        raise ValueError(f"Need at least two distinct x values. Received: x={x.tolist()}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("`x` and `y` must be positive for a log-log fit. "
                         f"Received: x={x.tolist()}, y={y.tolist()}")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def fit_slopes(rows, value="seconds", min_tokens=0, max_tokens=None):
    """Log-log slope of ``value`` against tokens, one per mixer.

    Args:
        rows: the list returned by ``compare_token_mixers``.
        value: the row key to fit (``"seconds"``, ``"peak_bytes"``, ``"flops"``).
        min_tokens, max_tokens: fit only rows with tokens in this range (the
            small grids are dominated by fixed per-call costs).

    Returns:
        dict ``{mixer: (slope, intercept)}``; mixers with fewer than two
        usable rows (missing or non-positive values) are left out.
    """
    fits = {}
    for mixer in dict.fromkeys(row["mixer"] for row in rows):
        points = [(row["tokens"], row[value]) for row in rows
                  if row["mixer"] == mixer and row[value] is not None
                  and row[value] > 0 and row["tokens"] >= min_tokens
                  and (max_tokens is None or row["tokens"] <= max_tokens)]
        if len({tokens for tokens, _ in points}) >= 2:
            fits[mixer] = loglog_fit(*zip(*points))
    return fits


def ratios(rows, value="seconds", numerator="attention",
           denominator="focal_modulation"):
    """``{grid: value(numerator) / value(denominator)}`` for grids with both."""
    by_key = {(row["grid"], row["mixer"]): row[value] for row in rows}
    grids = dict.fromkeys(row["grid"] for row in rows)
    return {grid: by_key[grid, numerator] / by_key[grid, denominator]
            for grid in grids
            if by_key.get((grid, numerator)) is not None
            and by_key.get((grid, denominator))}
