"""native_logs: TensorFlow's informational C++ lines leave descriptor 2, everything else passes."""

import subprocess
import sys
import textwrap

from focal_utils import native_logs

NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796053855.873106   15661 device_compiler.h:196] Compiled cluster using XLA!  This line "
    b"is logged at most once for the lifetime of the process.",
    b"2026-11-30 15:00:00.000000: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.",
]
KEPT = [
    b"E0000 00:00:1796053855.873106   15661 cuda_dnn.cc:8310] Unable to register cuDNN factory",
    b"Segmentation fault in my_op.cc",
    b"I0000 is not a log line without its source file",
]


def test_noise_pattern_matches_only_informational_lines():
    for line in NOISE:
        assert native_logs.NOISE.fullmatch(line), line
    for line in KEPT:
        assert not native_logs.NOISE.fullmatch(line), line


def test_filter_drops_noise_from_descriptor_2_and_keeps_the_rest():
    # The module alone (importing focal_utils would import TensorFlow: slow, and noisy itself).
    script = textwrap.dedent(f"""
        import importlib.util, os, time
        spec = importlib.util.spec_from_file_location("native_logs", {native_logs.__file__!r})
        native_logs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(native_logs)
        native_logs.filter_native_stderr()
        native_logs.filter_native_stderr()  # a second call changes nothing
        for line in {NOISE + KEPT!r}:
            os.write(2, line + b"\\n")
        time.sleep(0.5)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, check=True)
    assert done.stderr.splitlines() == KEPT


def test_installed_only_in_a_jupyter_kernel():
    assert not native_logs.in_jupyter_kernel()  # pytest: sys.stderr is not ipykernel's stream
