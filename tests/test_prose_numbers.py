"""scripts/check_prose_numbers.py: numbers in the prose must come from a run, an assert or the allowlist.

Fast (reads notebooks as JSON; imports neither Keras nor TensorFlow).
"""

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("[0-9][0-9]_*.ipynb"))
spec = importlib.util.spec_from_file_location("check_prose_numbers", ROOT / "scripts" / "check_prose_numbers.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)
ALLOWLIST = check.read_allowlist()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """These tests read files only: override the suite's per-test Keras reset (tests/conftest.py)."""
    yield


def notebook(tmp_path, markdown, outputs="", code="print('x')", name="09_test.ipynb"):
    cells = [
        {"cell_type": "code", "metadata": {}, "source": code, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": outputs}]},
        {"cell_type": "markdown", "metadata": {}, "source": markdown},
    ]
    path = tmp_path / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def flagged(path):
    return [f.number for f in check.check_notebook(path, ALLOWLIST)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_in_the_book_comes_from_a_run(chapter):
    findings = check.check_notebook(chapter, ALLOWLIST)
    assert not findings, "\n".join(map(str, findings))


def test_editing_a_number_in_the_prose_is_caught(tmp_path):
    """Take a chapter, change one number of its prose that an output vouches for: the check fails."""
    chapter = next(path for path in CHAPTERS if path.stem.startswith("08_"))
    nb = json.loads(chapter.read_text())  # chapter 8: prose that quotes its printed values
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        stripped = check.strip_markup(text)
        for start, num, unit, _ in check.numbers_in(stripped):
            if "." in num and not check.allowed(ALLOWLIST, "08_x", num):
                edited = copy.deepcopy(nb)
                index = nb["cells"].index(cell)
                wrong = f"{float(num) + 7.3:.{len(num.split('.')[1])}f}"
                edited["cells"][index]["source"] = text[:start] + wrong + text[start + len(num):]
                path = tmp_path / "08_edited.ipynb"
                path.write_text(json.dumps(edited))
                assert check.check_notebook(chapter, ALLOWLIST) == []
                assert wrong in [f.number.rstrip("%") for f in check.check_notebook(path, ALLOWLIST)]
                return
    pytest.fail("no printed decimal number in chapter 8's prose to edit")


def test_a_number_found_in_the_outputs_passes_and_a_typed_one_fails(tmp_path):
    path = notebook(tmp_path, "Test accuracy 83.2%, after 75 minutes.", "test accuracy: 83.25% after 12.4 min")
    assert flagged(path) == ["75"]


def test_precision_percent_and_units_are_respected(tmp_path):
    printed = "val 0.6041 | rate 249.3 images/s | 57.1 min | 82.49%"
    assert flagged(notebook(tmp_path, "It ends 0.6 points higher.", printed)) == ["0.6"]
    assert flagged(notebook(tmp_path, "It trains 249 images/s.", printed)) == []
    assert flagged(notebook(tmp_path, "It takes 249 minutes.", printed)) == ["249"]
    assert flagged(notebook(tmp_path, "Validation reached 82.5%.", printed)) == []
    assert flagged(notebook(tmp_path, "Validation reached 57.1%.", printed)) == ["57.1%"]


def test_a_number_printed_from_a_typed_string_proves_nothing(tmp_path):
    path = notebook(tmp_path, "The example takes 75 minutes.", "(the keras-io example: ~75 min)",
                    code='print("(the keras-io example: ~75 min)")')
    assert flagged(path) == ["75"]


def test_an_assert_guards_a_sentence(tmp_path):
    assert flagged(notebook(tmp_path, "It is three to four times faster.")) == ["three to four times"]
    path = notebook(tmp_path, "It is three to four times faster, within 1.25e-4.",
                    code="assert 3 <= ratio <= 4 and err < 1.25e-4")
    assert flagged(path) == []


def test_references_shapes_code_and_math_are_not_numbers(tmp_path):
    text = ("Chapter 6 and exercise 3 build stage 2 of a 7x7 stem; see `rate = 0.37`, $x^{0.91}$, "
            "[chapter 8](08_interpretation.ipynb), Keras 3.15.1, (Yang et al., 2022).\n\n## 6.7 Heads\n")
    assert flagged(notebook(tmp_path, text)) == []


def test_captions_are_prose(tmp_path):
    path = notebook(tmp_path, "No numbers here.")
    nb = json.loads(path.read_text())
    nb["cells"][0]["metadata"] = {"mystnb": {"figure": {"caption": "The dotted line marks 15 minutes."}}}
    path.write_text(json.dumps(nb))
    assert flagged(path) == ["15"]


def test_the_allowlist_stays_short():
    assert len(ALLOWLIST) <= 50
