"""Peak memory of one call on the CPU.

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

Measuring with ``"vmhwm"`` resets the process's resident high-water mark
(``/proc/self/clear_refs``), which other tools may read: it happens only
inside ``peak_memory(..., method="vmhwm")`` or ``"auto"``, the call that asks
for it, never on import or when probing what is available.
"""

import ctypes
import gc
import os
import sys
import warnings

import keras

from focal_utils.timing import block_until_ready

MEMORY_METHODS = ("auto", "tensorflow", "vmhwm")
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def _read_status_kib(field):
    with open(_STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not found in {_STATUS}")


def _vmhwm_available():
    """Whether the high-water mark can be reset and read (probes, writes nothing)."""
    if not sys.platform.startswith("linux") or not os.access(_CLEAR_REFS, os.W_OK):
        return False
    try:
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
        int bytes, or ``None`` (with a warning) when ``method="auto"`` finds
        no way to measure on this system.

    Raises:
        ValueError: unknown ``method``.
        RuntimeError: the requested method is not available here.
    """
    if method not in MEMORY_METHODS:
        raise ValueError(
            f"`method` must be one of {MEMORY_METHODS}. Received: method={method!r}"
        )
    if method == "auto":
        method = memory_method()
        if method is None:
            # Python's "default" warning filter shows this once per call site.
            warnings.warn(
                "peak_memory: no way to measure peak memory here. It needs "
                "TensorFlow's CPU allocator statistics (oneDNN builds) or "
                "Linux /proc/self/clear_refs (e.g. Colab); returning None.",
                RuntimeWarning, stacklevel=2)
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
