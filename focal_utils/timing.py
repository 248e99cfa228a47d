"""Timing a callable on a shared CPU: warm-up excluded, median of repeats.

- ``compile_forward`` wraps a layer's inference call in the backend's graph
  compiler (``tf.function`` on TensorFlow, ``jax.jit`` on JAX);
- ``time_forward`` times one callable and ``time_interleaved`` several,
  taking turns, so that a change in the machine's load hits all of them;
- ``block_until_ready`` waits for JAX's asynchronous results, so that the
  clock stops when the work is done.

Timings belong in benchmarks and in the chapters that print them, never in
tests: the tests of this module drive it with a fake clock.
"""

import dataclasses
import functools
import math
import os
import statistics
import time

import keras


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


def check_counts(repeats, warmup):
    """Raise a ValueError unless ``repeats >= 1`` and ``warmup >= 0`` are ints."""
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
    check_counts(repeats, warmup)
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


def format_duration(seconds):
    """``"27 s"`` under 90 seconds, ``"1.6 min"`` above: how the book states a run time."""
    if seconds < 0:
        raise ValueError(f"Argument `seconds` must be a duration (>= 0). Received: seconds={seconds}")
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class ChapterTimer:
    """A chapter's run time, measured, and stated near its top: under the setup cell.

    A run time typed into a chapter's title cell goes stale with the next change of code or machine.
    Instead, the setup cell creates a timer, which displays a note there (with a display id), and the
    chapter's last code cell calls :meth:`stop`: it measures the time since ``start``, rewrites that
    note with it and displays the same sentence where it is called. The note is Markdown produced by
    code, so it reads the same in the HTML book (built from the executed notebook, where the update is
    stored), in Jupyter and in Colab, with no glue role left raw.

    Args:
        start: the ``clock()`` reading the chapter started at (take it first thing in the setup cell,
            so that the imports count); default: now.
        clock: the clock, ``time.perf_counter``; a fake one in tests.
        show: display the note now (a notebook); False for scripts and tests.
    """

    PENDING = ("**Run time.** The last code cell of this chapter measures how long its code takes and "
               "writes it here.")

    def __init__(self, start=None, clock=time.perf_counter, show=True):
        self.clock = clock
        self.start = clock() if start is None else start
        self.seconds = None
        self._handle = None
        if show:
            from IPython.display import Markdown, display

            self._handle = display(Markdown(self.PENDING), display_id=True)

    def sentence(self, seconds):
        """The note for a measured run time ``seconds``."""
        cores = os.cpu_count() or 1
        return (f"**Run time.** This run of the chapter's code took {format_duration(seconds)}, from the "
                f"setup cell to the last code cell, on a machine with {cores} CPU "
                f"core{'s' if cores != 1 else ''}.")

    def stop(self, show=True):
        """Measure the time since ``start``; rewrite the note and display it here. Returns the seconds."""
        self.seconds = self.clock() - self.start
        text = self.sentence(self.seconds)
        if show or self._handle is not None:
            from IPython.display import Markdown, display

            if self._handle is not None:
                self._handle.update(Markdown(text))
            if show:
                display(Markdown(text))
        return self.seconds
