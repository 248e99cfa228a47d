"""Keep TensorFlow's informational C++ log lines out of notebook cells.

TensorFlow's C++ runtime logs through absl straight to file descriptor 2, and since TensorFlow 2.20 some
of its INFO lines ignore ``TF_CPP_MIN_LOG_LEVEL``: the first XLA compilation prints absl's "WARNING: All
log messages before absl::InitializeLog() is called are written to STDERR" and "I0000 ...
device_compiler.h:196] Compiled cluster using XLA!". ipykernel (Colab's 6.17, JupyterLab's) forwards
descriptor 2 into the running cell, where they show as a red stderr box although nothing is wrong.

:func:`filter_native_stderr` routes descriptor 2 through a pipe and a thread that drops exactly those
informational lines (:data:`NOISE`) and passes every other byte on, so real warnings and errors of the
C++ runtime still reach the cell. ``import focal_utils`` installs it inside a Jupyter kernel only;
terminal programs keep their descriptor 2 untouched.
"""

import os
import re
import sys
import threading

NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] .*"  # absl's INFO lines: I0000 00:00:17.96 123 file.cc:196] ...
    rb"|.*oneDNN custom operations are on.*"
    rb"|.*This TensorFlow binary is optimized to use available CPU instructions.*"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
)
_installed = False
_lock = threading.Lock()


def _pump(read_end, target):
    buffer = b""
    while True:
        data = os.read(read_end, 65536)
        if not data:
            break
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > 65536:  # a long line without an end: pass it on as it is
            lines, buffer = lines + [buffer], b""
        kept = b"".join(line + b"\n" for line in lines if not NOISE.fullmatch(line.rstrip(b"\r")))
        if kept:
            os.write(target, kept)


def filter_native_stderr():
    """Drop TensorFlow's informational C++ log lines from file descriptor 2 (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        read_end, write_end = os.pipe()
        target = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        threading.Thread(target=_pump, args=(read_end, target), name="focal-native-stderr",
                         daemon=True).start()
        _installed = True


def in_jupyter_kernel():
    """True inside an IPython kernel (Jupyter, Colab), whose stderr is a stream object, not descriptor 2."""
    return type(sys.stderr).__module__.startswith("ipykernel")
