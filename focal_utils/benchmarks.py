"""Token mixers side by side: forward time, peak memory and FLOPs as the grid grows.

The book compares multi-head self-attention with focal modulation at equal
channels as the token grid grows (chapter 1). This module runs that
comparison and reads its results:

- ``make_mixer`` and ``mixer_input`` build each mixer and its input;
- ``compare_token_mixers`` times them (``focal_utils.timing``), measures
  their peak memory (``focal_utils.memory``) and counts their FLOPs
  (``focal_utils.flops``) at each grid size;
- ``loglog_fit`` and ``fit_slopes`` fit the exponent ``b`` of
  ``cost ~ tokens ** b``, and ``ratios`` divides one mixer by the other.
"""

import keras
import numpy as np

from focal_utils.attention import MultiHeadSelfAttention
from focal_utils.flops import attention_flops, focal_modulation_flops
from focal_utils.layers import FocalModulation
from focal_utils.memory import peak_memory
from focal_utils.timing import (
    block_until_ready,
    check_counts,
    compile_forward,
    time_interleaved,
)

MIXERS = ("attention", "focal_modulation")


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
    check_counts(repeats, warmup)
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
