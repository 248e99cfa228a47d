"""What Colab and Jupyter readers see: no raw MyST roles in the prose, and every figure's caption visible.

Colab and Jupyter render Markdown cells as CommonMark: a role such as {cite}`key` shows as raw text, and a
figure caption kept in cell metadata (myst-nb's ``mystnb.figure``) is not shown at all. The chapters use
plain Markdown links (MyST resolves them in the HTML book), and follow each figure cell with a Markdown
cell tagged ``remove-cell`` that repeats the caption: Colab shows it, the HTML book shows the numbered
caption instead. Fast: reads files only.
"""

import json
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("[0-9][0-9]_*.ipynb"))
ROLE = re.compile(r"\{(cite|cite:[a-z]+|doc|numref|ref|eq|glue|glue:[a-z]+|term|download)\}`")
BIB_KEYS = set(re.findall(r"@\w+\{(\w+),", (ROOT / "book" / "references.bib").read_text()))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """These tests read files only: override the suite's per-test Keras reset (tests/conftest.py)."""
    yield


def cells(chapter):
    return json.loads(chapter.read_text())["cells"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_raw_roles_in_the_prose(chapter):
    raw = [ROLE.search(source(c)).group(0) for c in cells(chapter)
           if c["cell_type"] == "markdown" and ROLE.search(source(c))]
    assert raw == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_links_point_at_chapters_and_bibliography_that_exist(chapter):
    for cell in cells(chapter):
        if cell["cell_type"] != "markdown":
            continue
        for target in re.findall(r"\]\(([^)#\s]+\.(?:ipynb|md))", source(cell)):
            assert (chapter.parent / target).resolve().is_file(), target
        for keys in re.findall(r":filter: key in \{([^}]*)\}", source(cell)):
            assert set(re.findall(r'"(\w+)"', keys)) <= BIB_KEYS


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_caption_is_visible_in_colab(chapter):
    nb = cells(chapter)
    for index, cell in enumerate(nb):
        caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
        if not caption:
            continue
        following = nb[index + 1] if index + 1 < len(nb) else {"cell_type": None, "metadata": {}}
        assert following["cell_type"] == "markdown" and "remove-cell" in following["metadata"].get("tags", []), \
            f"cell {index}: no Colab caption cell after the figure"
        shown = " ".join(source(following).split())
        assert shown == " ".join(textwrap.wrap(f"*Figure: {caption}*", 10**6)), f"cell {index}: caption drifted"
