"""scripts/run_chapters.py, the Colab job's runner: it fails on a raised error and on any stderr output."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """No Keras here: override the suite's per-test Keras reset (tests/conftest.py)."""
    yield


def notebook(path, *cells):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def test_runner_passes_clean_chapters_and_fails_on_stderr_and_errors(tmp_path):
    clean = notebook(tmp_path / "00_clean.ipynb", "x = 1 + 1", "print(x)")
    noisy = notebook(tmp_path / "01_noisy.ipynb", "import sys", "print('absl noise', file=sys.stderr)")
    broken = notebook(tmp_path / "02_broken.ipynb", "raise ValueError('bad input')")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_chapters.py"), "--build", "--jobs", "2",
                           "--out", str(out), str(clean), str(noisy), str(broken)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    listed = json.loads((out / "results.json").read_text())
    assert [r["chapter"] for r in listed] == ["00_clean", "01_noisy", "02_broken"]  # two at a time, sorted
    results = {r["chapter"]: r for r in listed}
    assert results["00_clean"]["ok"] and results["00_clean"]["seconds"] > 0
    assert not results["01_noisy"]["ok"]
    assert results["01_noisy"]["problems"] == ["stderr in code cell 1: absl noise"]
    assert not results["02_broken"]["ok"] and "ValueError: bad input" in results["02_broken"]["problems"][0]
    assert "1 of 3 passed; failed: 01_noisy, 02_broken" in done.stdout
    assert nbformat.read(out / "00_clean.ipynb", as_version=4).cells[1].outputs[0]["text"] == "2\n"
