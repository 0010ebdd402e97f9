"""The book's writing rules, checked on the chapters and on the library behind them (issue #32).

- Prose is written by hand: a glued value is a measured value (a number, a percentage, an interval, a count, a
  duration), never a phrase; no cell displays Markdown built by code.
- Each chapter opens with its question (prose before the first section), ends with "What we found", has at least
  one hidden cell that asserts a finding, stays under about 2,000 words, and keeps code lines within 88 characters.
- The book's library (`lfwsiamese/report/`) is at most 1,400 lines, re-exports nothing, and sits above every
  layer it reads (tests/test_layers.py checks the layers).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))
APPENDIX = {"reproducing"}  # the appendix lists plans and records; it has no findings of its own to close on
MAX_WORDS = 2100  # "about 2,000"

#: A glued value: digits and the signs numbers come with, plus the units a reader reads.
UNITS = {"min", "h", "s", "ms", "points", "point", "pp", "px", "MB", "GB", "KB", "MiB", "GiB", "x", "of", "to",
         "pairs", "images", "people", "seeds", "folds", "runs", "epochs", "epoch", "k", "M", "per", "in", "and"}
NUMBERISH = re.compile(r"^[\s\d.,%±+\-−–—\[\]()/:×<>=~≈]*$")


def _measured(text: str) -> bool:
    words = re.findall(r"[A-Za-z]+", text)
    rest = re.sub(r"[A-Za-z]+", "", text)
    return bool(re.search(r"\d", text)) and NUMBERISH.match(rest) is not None and set(words) <= UNITS


def _cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def _glued(nb: Path) -> list[tuple[str, str]]:
    out = []
    for cell in _cells(nb):
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                data = o.get("data", {})
                text = "".join(next((v for k, v in data.items() if k.endswith("text/plain")), ""))
                out.append((name, text.strip().strip("'\"")))
    return out


def test_measured_value_check_tells_numbers_from_phrases() -> None:
    for ok in ("89.3%", "89.3% ± 0.6", "[0.702, 0.726]", "25 min", "7.8 h", "1,549", "0.962", "3 of 10"):
        assert _measured(ok), ok
    for bad in ("a difference of setup", "Against the best restricted peer", "4 candidates were tried",
                "none", "", "Intel Xeon"):
        assert not _measured(bad), bad


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_glue_only_measured_values(nb: Path) -> None:
    phrases = [(k, v) for k, v in _glued(nb) if not _measured(v)]
    assert not phrases, f"{nb.name} glues phrases, not measured values: {phrases[:5]}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_displays_markdown_built_by_code(nb: Path) -> None:
    shown = [c["source"][:80] if isinstance(c["source"], str) else "".join(c["source"])[:80]
             for c in _cells(nb) if c["cell_type"] == "code"
             for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert not shown, f"{nb.name}: cells display Markdown made by code: {shown}"


def _prose(md: Path) -> str:
    text = md.read_text()
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
    return re.sub(r"^(```|~~~).*?^\1\s*$", "", text, flags=re.S | re.M)  # code cells and blocks


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_shape(md: Path) -> None:
    prose = _prose(md).strip()
    words = len(re.findall(r"\b\w[\w'’-]*\b", prose))
    assert words <= MAX_WORDS, f"{md.name}: {words} words, over about 2,000: split it or move detail out"
    body = prose.split("\n## ", 1)[0].split("\n", 2)  # title line, then the opening before the first section
    assert body[0].startswith("# ") and len(re.findall(r"\w+", body[-1])) >= 30, \
        f"{md.name}: open with the question the chapter answers, in prose, before the first section"
    if md.stem not in APPENDIX:
        assert re.search(r"^## What we found\s*$", prose, re.M), f"{md.name}: close with '## What we found'"
        source = md.read_text()
        hidden_asserts = re.findall(r"```\{code-cell\}[^\n]*\n:tags: \[[^\]]*remove-cell[^\]]*\]\n(?:(?!```).)*?"
                                    r"\bassert\b", source, re.S)
        assert hidden_asserts, f"{md.name}: no hidden cell asserts a finding"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_the_rendered_notebook_holds_its_md_cells(md: Path) -> None:
    """The book renders the stored .ipynb: an edit of the .md that was not executed again would not show."""
    import jupytext
    import nbformat
    text, stored = jupytext.read(md), nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert [c.source for c in text.cells] == [c.source for c in stored.cells], \
        f"{md.name}: its .ipynb is older than it; run jupytext --to ipynb --execute {md.relative_to(ROOT)}"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(md: Path) -> None:
    code = re.findall(r"^```\{code-cell\}.*?\n(.*?)^```", md.read_text(), re.S | re.M)
    long = [ln for block in code for ln in block.splitlines() if len(ln) > 88]
    assert not long, f"{md.name}: code lines over 88 characters: {long[:3]}"


REPORT = ROOT / "lfwsiamese" / "report"

def test_report_library_is_small_and_reexports_nothing() -> None:
    lines = sum(len(p.read_text().splitlines()) for p in REPORT.glob("*.py"))
    assert lines <= 1400, f"lfwsiamese/report/ has {lines} lines; the book's library is at most 1,400"
    init = ast.parse((REPORT / "__init__.py").read_text())
    assert not [n for n in init.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))], \
        "report/__init__.py re-exports names; chapters import the module they need"

