"""The book's structure: chapter pairs, install cell, executed notebooks, table of contents.

Fast (reads files only; imports neither Keras nor TensorFlow), so it runs with the package tests.
"""

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import importlib.util

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---
"""

# The install cell is made by scripts/new_chapter.py from _config.yml's repository and pyproject's version.
sys.path.insert(0, str(ROOT / "scripts"))
import new_chapter  # noqa: E402

INSTALL_CELL = new_chapter.install_cell()

CHAPTER_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+$")
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """These tests read files only: override the suite's per-test Keras reset (tests/conftest.py)."""
    yield


def chapter_stems():
    return sorted({p.stem for p in CHAPTERS.glob("*.py")} | {p.stem for p in CHAPTERS.glob("*.ipynb")})


STEMS = chapter_stems()


def read_cells(path):
    notebook = jupytext.read(path)
    return notebook, [(cell.cell_type, cell.source) for cell in notebook.cells]


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def toc_files(node):
    """Every `file:` entry of _toc.yml (and its root), in order."""
    if isinstance(node, dict):
        files = [node["root"]] if "root" in node else []
        if "file" in node:
            files.append(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                files.extend(toc_files(child))
        return files
    return []


def test_there_are_chapters():
    assert STEMS, f"no chapters in {CHAPTERS}"


@pytest.mark.parametrize("stem", STEMS)
def test_chapter_is_a_pair(stem):
    assert CHAPTER_NAME.match(stem), f"{stem}: chapter files are named NN_slug (lowercase, underscores)"
    assert (CHAPTERS / f"{stem}.py").exists(), f"{stem}.ipynb has no {stem}.py twin"
    assert (CHAPTERS / f"{stem}.ipynb").exists(), f"{stem}.py has no {stem}.ipynb twin (make notebook)"
    # A .md of the same name would be a second Sphinx source for the same page.
    assert not (CHAPTERS / f"{stem}.md").exists(), f"{stem}.md duplicates the page {stem}.ipynb"


@pytest.mark.parametrize("stem", STEMS)
def test_py_header(stem):
    text = (CHAPTERS / f"{stem}.py").read_text()
    assert text.startswith(HEADER), f"{stem}.py must start with the book's Jupytext header (CONTRIBUTING.md)"


@pytest.mark.parametrize("stem", STEMS)
def test_pair_has_same_cells(stem):
    _, py_cells = read_cells(CHAPTERS / f"{stem}.py")
    _, nb_cells = read_cells(CHAPTERS / f"{stem}.ipynb")
    assert len(py_cells) == len(nb_cells), (
        f"{stem}: {len(py_cells)} cells in the .py, {len(nb_cells)} in the .ipynb; "
        f"run `make notebook NB=book/chapters/{stem}.py`")
    for index, (py_cell, nb_cell) in enumerate(zip(py_cells, nb_cells)):
        assert py_cell == nb_cell, (
            f"{stem}: cell {index} differs between .py and .ipynb; "
            f"run `make notebook NB=book/chapters/{stem}.py`")


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_is_executed(stem):
    notebook = jupytext.read(CHAPTERS / f"{stem}.ipynb")
    cells = code_cells(notebook)
    assert cells, f"{stem} has no code cells"
    unexecuted = [i for i, cell in enumerate(cells) if cell.get("execution_count") is None]
    assert not unexecuted, (
        f"{stem}.ipynb: code cells {unexecuted} (counting code cells from 0) have not been executed; "
        f"run `make notebook NB=book/chapters/{stem}.py`")
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{stem}.ipynb was not run top to bottom in one fresh kernel (execution counts {counts})")
    errors = [i for i, cell in enumerate(cells)
              if any(out.get("output_type") == "error" for out in cell.get("outputs", []))]
    assert not errors, f"{stem}.ipynb: code cells {errors} stored an error"


@pytest.mark.parametrize("stem", STEMS)
def test_first_code_cell_is_the_install_cell(stem):
    for suffix in (".py", ".ipynb"):
        cells = code_cells(jupytext.read(CHAPTERS / f"{stem}{suffix}"))
        assert cells and cells[0].source == INSTALL_CELL, (
            f"{stem}{suffix}: the first code cell must be exactly the install cell (CONTRIBUTING.md); "
            "run `python scripts/new_chapter.py --sync-install-cells`")


def test_install_cell_installs_a_release_of_the_book_repository():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    source = re.search(r'^BOOK_PACKAGE = "git\+(https://[^"@]+)@([^"]+)"$', INSTALL_CELL, re.M)
    assert source, INSTALL_CELL
    # The repository is written in one place, _config.yml (launch buttons and install cell).
    assert source.group(1) == CONFIG["repository"]["url"], (source.group(1), CONFIG["repository"]["url"])
    assert source.group(2) == f"v{version}", "the install cell installs the release tag, never a branch"
    # One setting, which tests (scripts/run_chapters.py) override with a wheel built from the clone.
    assert len(re.findall(r"\bBOOK_PACKAGE\b", INSTALL_CELL)) == 2
    assert 'os.environ.get("FOCAL_BOOK_PACKAGE", BOOK_PACKAGE)' in INSTALL_CELL
    assert '"--upgrade"' not in INSTALL_CELL and '"-U"' not in INSTALL_CELL
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["repository"]["branch"] == "main"
    assert (ROOT / "focal_utils" / "__init__.py").read_text().count(f'__version__ = "{version}"') == 1


def test_install_cell_restart_line_only_when_pip_changed_a_loaded_package(tmp_path, monkeypatch):
    """Run the cell's own code with pip replaced: silent when nothing loaded changed, one line otherwise."""
    calls = []
    versions = {"numpy": "2.1.3"}
    real_find_spec, real_version = importlib.util.find_spec, importlib.metadata.version

    def fake_run(argv, check):
        calls.append(argv)
        versions["numpy"] = "2.3.0"  # as if pip upgraded numpy, which the kernel has loaded

    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "focal_utils" else real_find_spec(name, *a))
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: {"numpy": ["numpy"]})
    monkeypatch.setattr(importlib.metadata, "version", lambda d: versions.get(d) or real_version(d))
    monkeypatch.setitem(sys.modules, "numpy", sys.modules.get("numpy", sys))
    monkeypatch.setenv("FOCAL_BOOK_PACKAGE", "/wheels/focal_utils.whl")
    import subprocess

    monkeypatch.setattr(subprocess, "run", fake_run)
    printed = []
    monkeypatch.setattr("builtins.print", lambda *a: printed.append(" ".join(a)))
    exec(compile(INSTALL_CELL, "install_cell", "exec"), {})
    assert calls and calls[0][-1] == "/wheels/focal_utils.whl" and "install" in calls[0]
    assert printed == ["Restart the session (Colab: Runtime > Restart session), then run all: pip changed numpy"]
    printed.clear()
    monkeypatch.setattr(subprocess, "run", lambda argv, check: calls.append(argv))
    exec(compile(INSTALL_CELL, "install_cell", "exec"), {})
    assert printed == []


def test_new_chapter_template_starts_with_the_install_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(new_chapter, "CHAPTERS", tmp_path)
    new_chapter.main(["new_chapter.py", "09_dense_prediction", "Dense prediction"])
    cells = code_cells(jupytext.read(tmp_path / "09_dense_prediction.py"))
    assert cells[0].source == INSTALL_CELL
    assert jupytext.read(tmp_path / "09_dense_prediction.py").cells[0].source.startswith("# 9. Dense prediction")


@pytest.mark.parametrize("stem", STEMS)
def test_setup_cell(stem):
    cells = code_cells(jupytext.read(CHAPTERS / f"{stem}.py"))
    assert len(cells) >= 2, f"{stem}: needs the install cell and the setup cell"
    setup = cells[1].source
    quiet = setup.find('os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")')
    keras = setup.find("import keras")
    assert quiet >= 0, f"{stem}: the setup cell sets TF_CPP_MIN_LOG_LEVEL first"
    assert keras < 0 or quiet < keras, f"{stem}: set TF_CPP_MIN_LOG_LEVEL before importing keras"
    assert "keras.utils.set_random_seed(" in setup, f"{stem}: the setup cell seeds with keras.utils.set_random_seed"


@pytest.mark.parametrize("stem", STEMS)
def test_title_cell(stem):
    cells = jupytext.read(CHAPTERS / f"{stem}.py").cells
    assert cells[0].cell_type == "markdown", f"{stem}: the first cell is the title (markdown)"
    title = cells[0].source.splitlines()[0]
    number = int(stem[:2])
    expected = "# Preface" if number == 0 else f"# {number}. "
    assert title.startswith(expected), f"{stem}: the title line should start with {expected!r}, not {title!r}"


@pytest.mark.parametrize("stem", STEMS)
def test_citations_exist(stem):
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M))
    notebook = jupytext.read(CHAPTERS / f"{stem}.py")
    cited = {key.strip()
             for cell in notebook.cells if cell.cell_type == "markdown"
             for group in CITE.findall(cell.source) for key in group.split(",")}
    missing = sorted(cited - keys)
    assert not missing, f"{stem}: cites {missing}, which are not in book/references.bib"


def test_toc_matches_the_chapters():
    listed = toc_files(TOC)
    assert len(listed) == len(set(listed)), f"_toc.yml lists a file twice: {listed}"
    for entry in listed:
        path = ROOT / entry
        sources = [path.with_name(path.name + suffix) for suffix in (".ipynb", ".md")]
        found = [source for source in sources if source.exists()]
        assert len(found) == 1, f"_toc.yml entry {entry!r}: expected one of {[s.name for s in sources]}"
    chapters_in_toc = {Path(entry).name for entry in listed if entry.startswith("book/chapters/")}
    assert chapters_in_toc == set(STEMS), (
        f"chapters missing from _toc.yml: {sorted(set(STEMS) - chapters_in_toc)}; "
        f"entries with no chapter: {sorted(chapters_in_toc - set(STEMS))}")
    chapter_entries = [Path(entry).name for entry in listed if entry.startswith("book/chapters/")]
    assert chapter_entries == sorted(chapter_entries), "_toc.yml lists the chapters out of order"


def test_only_the_training_chapter_skips_execution_at_build_time():
    excluded = CONFIG["execute"].get("exclude_patterns", [])
    assert CONFIG["execute"]["execute_notebooks"] in ("cache", "force")
    assert excluded == ["*07_training*"], excluded


def test_readme_commands_and_ci():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, re.S)
    assert commands[0].strip() == "make book", "the README's first command builds the book"
    assert commands[1].strip() == "make test", "the README's second command runs every test"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "set -euo pipefail" in ci
