#!/usr/bin/env python3
"""Flag numbers in a chapter's prose that no run produced.

Every number a run produces must reach the text from that run (a myst-nb ``glue`` value, Markdown printed
by code, or a sentence guarded by an ``assert``), so that the next retraining cannot leave stale prose.
This script reads each executed chapter (``book/chapters/NN_*.ipynb``) and looks at every number in its
Markdown cells and figure captions. A number passes when it is

- a constant of the method listed in the allowlist (``scripts/prose_numbers_allowlist.txt``: kernel sizes,
  a recipe's settings, the paper's published figures), or
- found in the chapter's own stored outputs (text, Markdown, HTML; rounded to the prose's precision, and
  with ``%`` only against printed percentages), or
- a literal in one of the chapter's ``assert`` statements (or ``assert_*`` calls), i.e. guarded.

Numbers written as words are checked when they measure something ("three to four times", "one to two
minutes", "half a unit"): they must be guarded by an assert on the same value. Not checked: code spans,
math, roles, link targets, shapes such as ``7x7``, version numbers, years, and references such as
"chapter 6", "exercise 2" or "stage 1".

Usage: ``python scripts/check_prose_numbers.py [NOTEBOOK ...]`` (default: every chapter). Exit status 1
when a number is flagged; each is printed as ``chapter:cell: number in "context"``.
"""

import argparse
import ast
import fnmatch
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ALLOWLIST = ROOT / "scripts" / "prose_numbers_allowlist.txt"

NUMBER = re.compile(
    r"(?<![\w.\-/])"  # not inside an identifier, a version or a path
    r"(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e-?\d+)?)"
    r"(?P<unit>\s?%|x(?![\w]))?"
    r"(?![\w]|\.\d)"
)
# A number in an output: the same, but an identifier's digits are not numbers there either.
OUTPUT_NUMBER = re.compile(r"(?<![\w.])(-?\d{1,3}(?:,\d{3})+|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(\s?%)?")
# Units: a prose number with one ("75 minutes", "120 images/s") only matches a printed number with the
# same unit, so that a long table of bare numbers cannot vouch for it by coincidence.
UNITS = {
    "min": r"(?:CPU-|wall[- ])?(?:min\b|minutes?\b)",
    "s": r"(?:s|sec|seconds?)\b(?!/)",
    "h": r"(?:h|hours?)\b",
    "img/s": r"(?:training\s+)?(?:images?|img)/s",
    "points": r"(?:points?|pp)\b",
    "MB": r"(?:MB|MiB|GB|GiB)\b",
}
UNIT_AFTER = {name: re.compile(r"\s?" + pattern, re.IGNORECASE) for name, pattern in UNITS.items()}


def unit_after(text, end):
    """The unit family written right after a number ending at ``end``, or None."""
    for name, pattern in UNIT_AFTER.items():
        if pattern.match(text, end):
            return name
    return None
SHAPE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:\s?[x×]\s?\d+(?:\.\d+)?)+(?![\w])")
VERSION = re.compile(r"(?<![\w.])\d+\.\d+\.\d+\w*")
RANGE_DASH = re.compile(r"(\d)[-–](\d)")
REFERENCE_WORDS = (
    r"chapters?|exercises?|sections?|stages?|levels?|blocks?|figures?|fig\.|step|python|keras|tensorflow|"
    r"tf|jax|numpy|ipywidgets|ipython|ipykernel|widgetsnbextension|notebook|version|v|jupyter-book|myst-nb|"
    r"chromium|top-|rank|item|part|cifar-|python3\.|arxiv:?"
)
REFERENCE = re.compile(rf"\b(?:{REFERENCE_WORDS})\s*$", re.IGNORECASE)
WORD_VALUES = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "hundred": 100, "half": 0.5, "quarter": 0.25, "third": 1 / 3, "twice": 2, "thrice": 3,
}
UNIT_WORDS = r"times|minutes?|hours?|seconds?|points?|units?|percent|fold|as\s+(?:fast|many|slow|much)"
WORD_NUMBER = re.compile(
    rf"\b(?P<word>{'|'.join(WORD_VALUES)})\b(?P<tail>(?:\s+(?:to|or|and|a|an|of|the|{'|'.join(WORD_VALUES)}))*"
    rf"\s+(?:{UNIT_WORDS}))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    notebook: str
    cell: int
    number: str
    context: str

    def __str__(self):
        return f"{self.notebook}:cell {self.cell}: {self.number!r} in \"{self.context}\""


# --------------------------------------------------------------------------------------------- allowlist
def read_allowlist(path=DEFAULT_ALLOWLIST):
    """``[(notebook glob, value string or (lo, hi) integer range)]`` from the allowlist file.

    One entry a line: ``VALUE`` or ``GLOB: VALUE`` (e.g. ``07_*: 60``), then ``# why``. ``LO..HI`` is a
    range of integers.
    """
    entries = []
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        glob, _, value = line.rpartition(":") if re.match(r"^[\w*?.\[\]-]+:\s", line) else ("*", "", line)
        value = value.strip()
        if ".." in value:
            lo, hi = value.split("..")
            entries.append((glob.strip() or "*", (int(lo), int(hi))))
        else:
            entries.append((glob.strip() or "*", normalise(value)))
    return entries


def normalise(text):
    """A number as written, without thousands separators, unit or trailing spaces: ``"40,000 %"`` -> ``"40000"``."""
    return text.replace(",", "").replace("%", "").replace(" ", "").rstrip("x")


def allowed(entries, notebook, text):
    value = normalise(text)
    for glob, entry in entries:
        if not fnmatch.fnmatch(notebook, glob if glob.endswith("*") or "." in glob else glob + "*"):
            continue
        if isinstance(entry, tuple):
            if re.fullmatch(r"\d+", value) and entry[0] <= int(value) <= entry[1]:
                return True
        elif entry == value or _same_value(entry, value):
            return True
    return False


def _same_value(a, b):
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------- outputs
def output_text(cell):
    """Everything a code cell printed or displayed, as text (images left out)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(_join(out.get("text", "")))
        for mime, value in out.get("data", {}).items():
            if mime.startswith(("text/", "application/json")):
                parts.append(re.sub(r"<[^>]+>", " ", _join(value)) if mime == "text/html" else _join(value))
    return "\n".join(parts)


def _join(value):
    return "".join(value) if isinstance(value, list) else str(value)


def output_numbers(text):
    """``[(value, decimals, is_percent)]`` of every number printed."""
    found = []
    for m in OUTPUT_NUMBER.finditer(text):
        raw = m.group(1).replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            continue
        decimals = len(raw.split(".")[1].split("e")[0]) if "." in raw and "e" not in raw else 0
        found.append((abs(value), decimals, bool(m.group(2)), "e" in raw, unit_after(text, m.end())))
    return found


def _numbers_with_text(text):
    raws = [m.group(1).replace(",", "").lstrip("-") for m in OUTPUT_NUMBER.finditer(text)]
    return [(entry, raw) for entry, raw in zip(output_numbers(text), raws) if entry is not None]


def asserted_values(source):
    """Numeric literals inside ``assert`` statements and ``assert_*(...)`` calls of a code cell."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    values = set()
    for node in ast.walk(tree):
        guarded = isinstance(node, ast.Assert) or (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", "")).startswith("assert")
        )
        if guarded:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float)) \
                        and not isinstance(sub.value, bool):
                    values.add(float(sub.value))
    return values


def typed_values(source):
    """Numbers typed inside the string literals of a code cell: printing them proves nothing."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    typed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            typed |= {m.group(1).replace(",", "") for m in OUTPUT_NUMBER.finditer(node.value)}
    return typed


def matches_output(text, unit, printed, word_unit=None):
    """Whether a prose number (as written) agrees with a printed one at the prose's precision.

    The printed number must have at least the prose's decimals (a rounded figure may be quoted, a
    coarser one cannot vouch for a finer one) and at most two more (so that ``0.6`` is not found in
    ``0.6041``), and the same unit when the prose gives one.
    """
    raw = normalise(text)
    value = float(raw)
    scientific = "e" in raw
    decimals = len(raw.split(".")[1]) if "." in raw and not scientific else 0
    percent = unit is not None and "%" in unit
    for out_value, out_decimals, out_percent, out_scientific, out_unit in printed:
        if percent and not out_percent:
            continue
        if word_unit is not None and out_unit != word_unit:
            continue
        if not (scientific or out_scientific) and out_decimals > decimals + 2:
            continue
        if scientific or out_scientific:
            if math.isclose(value, out_value, rel_tol=1e-6):
                return True
        elif out_decimals >= decimals and math.isclose(round(out_value, decimals), value, abs_tol=1e-9):
            return True
    return False


# -------------------------------------------------------------------------------------------------- prose
def prose_of(cell):
    """The reader-visible text of a Markdown cell, or a code cell's figure caption ("" when none)."""
    if cell["cell_type"] == "markdown":
        return _join(cell["source"])
    caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption", "")
    return caption


def strip_markup(text):
    """Blank out what is not prose: code, math, roles, link targets, directive options, headings' numbers."""
    blank = lambda m: " " * len(m.group(0))  # noqa: E731 (keep offsets for context)
    text = re.sub(r"^(`{3,}|~{3,})(?!\s*\{)[^\n]*\n.*?^\1\s*$", blank, text, flags=re.S | re.M)  # code fences
    text = re.sub(r"^(`{3,}|~{3,}|:{3,})\s*\{[^}]*\}[^\n]*", blank, text, flags=re.M)  # directive lines
    text = re.sub(r"^:[\w-]+:.*$", blank, text, flags=re.M)  # directive options
    text = re.sub(r"\$\$.*?\$\$", blank, text, flags=re.S)
    text = re.sub(r"(?<!\\)\$[^$\n]+\$", blank, text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", blank, text)  # MyST roles
    text = re.sub(r"`[^`]*`", blank, text)
    text = re.sub(r"\]\([^)]*\)", blank, text)  # link targets
    text = re.sub(r"<[^>\n]+>", blank, text)  # HTML tags, autolinks
    text = re.sub(r"https?://\S+", blank, text)
    text = re.sub(r"^#+\s+[\d.]+", blank, text, flags=re.M)  # "## 6.7 Title"
    text = re.sub(r"^\s*\d+\.\s", blank, text, flags=re.M)  # ordered-list markers
    text = re.sub(r"\[[\w:-]+\]", blank, text)  # footnote-ish labels
    text = SHAPE.sub(blank, text)
    text = VERSION.sub(blank, text)
    return text


def numbers_in(text):
    """``[(start, number text, unit)]`` for each checked number of prose (markup already stripped).

    A range such as ``83.76-83.85%`` yields both ends, each with the unit.
    """
    found = []
    for m in NUMBER.finditer(text):
        num = m.group("num")
        before = text[max(0, m.start() - 20): m.start()]
        if REFERENCE.search(before):
            continue
        if re.fullmatch(r"(19|20)\d\d", num):  # a year
            continue
        unit = m.group("unit")
        if unit is None:  # "84.0-84.2%": the first end of a range shares the second's unit
            after = re.match(r"\s?[-–]\s?(\d+(?:\.\d+)?)(\s?%)", text[m.end():])
            if after:
                unit = after.group(2)
        found.append((m.start(), num, unit, unit_after(text, m.end())))
    return found


def check_notebook(path, allowlist):
    nb = json.loads(Path(path).read_text())
    name = Path(path).stem
    cells = nb["cells"]
    guarded, typed = set(), set()
    for c in cells:
        if c["cell_type"] == "code":
            guarded |= asserted_values(_join(c["source"]))
            typed |= typed_values(_join(c["source"]))
    printed = [
        entry for c in cells if c["cell_type"] == "code"
        for entry, raw in _numbers_with_text(output_text(c)) if raw not in typed
    ]
    findings = []
    for index, cell in enumerate(cells):
        prose = prose_of(cell)
        if not prose:
            continue
        text = strip_markup(prose)
        for start, num, unit, word_unit in numbers_in(text):
            if allowed(allowlist, name, num):
                continue
            if float(normalise(num)) in guarded:
                continue
            if matches_output(num, unit, printed, word_unit):
                continue
            findings.append(Finding(name, index, num + (unit or "").strip(), _context(prose, text, start)))
        for m in WORD_NUMBER.finditer(text):
            words = re.findall("|".join(WORD_VALUES), m.group(0), re.IGNORECASE)
            if all(WORD_VALUES[w.lower()] in guarded for w in words):
                continue
            findings.append(Finding(name, index, m.group(0), _context(prose, text, m.start())))
    return findings


def _context(prose, text, start):
    snippet = prose[max(0, start - 45): start + 55].replace("\n", " ")
    return re.sub(r"\s+", " ", snippet).strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "book" / "chapters").glob("[0-9][0-9]_*.ipynb"))
    allowlist = read_allowlist(args.allowlist)
    findings = [f for nb in notebooks for f in check_notebook(nb, allowlist)]
    for finding in findings:
        print(finding)
    print(f"{len(findings)} number(s) in the prose of {len(notebooks)} chapter(s) come from no output, "
          "no assert and no allowlist entry" if findings else
          f"every number in the prose of {len(notebooks)} chapter(s) is allowlisted, printed or asserted")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
