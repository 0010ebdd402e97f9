"""The book trains nothing, reads only registered plans, and cites its sources.

- `make -n book` (print the recipes, run nothing) shows no training command: a fresh clone's `make book` only
  finds the data, executes the chapters from the stored records and renders them; `make records` is where training
  happens, for every registered plan.
- The chapters' sources call no training function, and every plan they read is registered (so `lfwsiamese sweep all`
  and `make records` cover it, and `report.plan_progress` can say "k of N recorded" for it).
- Every `{cite}` key is in book/references.bib, the bibliography page is in the table of contents, no page names the
  project-internal anchors file, and every chapter that quotes a published number cites its source.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted((BOOK / "chapters").glob("*.md"))
PAGES = CHAPTERS + [BOOK / "index.md", BOOK / "bibliography.md"]
MAKE = shutil.which("make")

#: Commands or settings that train, or used to make the book train.
TRAINING = ("lfwsiamese sweep", "lfwsiamese train", "lfwsiamese evaluate --protocol", "lfwsiamese oneshot",
            "LFWSIAMESE_TRAIN_MISSING")
#: Functions a chapter must not call: each can train a record.
TRAINING_CALLS = ("load_or_run", "train_run", "run_plan", "run_configs", "evaluate_nway", "train_missing")


def _make_n(tmp_path: Path, target: str) -> str:
    assert MAKE, "make is needed (it is the project's entry point)"
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml: the install step is up to date
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}
    out = subprocess.run([MAKE, "-n", "-C", str(ROOT), f"VENV={venv}", target], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_book_runs_no_training_command(tmp_path: Path) -> None:
    out = _make_n(tmp_path, "book")
    assert "jupytext --to ipynb --execute" in out and "jupyter-book build -W -n --keep-going book/" in out
    found = [t for t in TRAINING if t in out]
    assert not found, f"`make book` would train: {found}\n{out}"


def test_make_records_trains_every_registered_plan_and_make_missing_lists_them(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "missing").mkdir()
    assert "lfwsiamese sweep all\n" in _make_n(tmp_path / "records", "records")
    assert "lfwsiamese sweep all --dry-run" in _make_n(tmp_path / "missing", "missing")


def _code(md: Path) -> str:
    return "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", md.read_text(), re.S))


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_call_no_training_and_read_registered_plans(md: Path) -> None:
    from lfwsiamese.runs.plans import PLANS
    code = _code(md)
    calls = [f for f in TRAINING_CALLS if re.search(rf"\b{f}\b", code)]
    assert not calls, f"{md.name} calls {calls}: chapters read records, `make records` trains them"
    plans = re.findall(r"plan_(?:records|progress)\(\"([^\"]+)\"\)", code)
    unknown = sorted(set(plans) - set(PLANS))
    assert not unknown, f"{md.name} reads plans that are not registered in runs/plans.py PLANS: {unknown}"


def _bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), re.M))


def _cited(text: str) -> set[str]:
    return {k.strip() for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", text) for k in group.split(",")}


def test_every_cited_key_is_in_the_bibliography_and_the_page_is_in_the_toc() -> None:
    keys = _bib_keys()
    for page in PAGES:
        missing = _cited(page.read_text()) - keys
        assert not missing, f"{page.name} cites keys not in book/references.bib: {sorted(missing)}"
    assert re.search(r"^\s*- file: bibliography\s*$", (BOOK / "_toc.yml").read_text(), re.M)
    assert "{bibliography}" in (BOOK / "bibliography.md").read_text()
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"^bibtex_bibfiles:\s*\n\s*- references\.bib", config, re.M)


def test_literature_sources_are_bibliography_entries() -> None:
    from lfwsiamese.report import literature as L
    keys = _bib_keys()
    wanted = set(L.PEER_KEYS.values()) | {L.REFERENCE_KEY, L.LFW_RESULTS_KEY} | {k for e in L.LFW_VIEW2_VERIFIED for k in e.keys}
    assert wanted <= keys, sorted(wanted - keys)
    for key in ("koch2015siamese", "huang2007lfw", "wolf2011lfwa", "abadi2016tensorflow", "chollet2015keras"):
        assert key in keys


def test_no_page_or_module_names_the_internal_anchors_file() -> None:
    files = PAGES + list((ROOT / "lfwsiamese").rglob("*.py"))
    named = [str(p.relative_to(ROOT)) for p in files if "anchors.md" in p.read_text()]
    assert not named, f"cite the original sources instead of anchors.md: {named}"


#: What marks a chapter as quoting a published number: the reference's reported numbers, the peers', the results page.
QUOTES = ("reported_numbers", "REFERENCE_REPORTED", "peers_table", "view2_comparison", "headline_table", "parameter_table")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_that_quote_a_published_number_cite_it(md: Path) -> None:
    text = md.read_text()
    if any(q in _code(md) for q in QUOTES):
        assert _cited(text), f"{md.name} quotes a published number but cites nothing"
    if "peers_table" in text:
        from lfwsiamese.report.literature import PEER_KEYS
        assert set(PEER_KEYS.values()) <= _cited(text), f"{md.name} shows the peers without citing each of them"
    if "view2_comparison" in text:
        from lfwsiamese.report.literature import (
            LFW_RESULTS_KEY,
            LFW_VIEW2_VERIFIED,
        )
        want = {LFW_RESULTS_KEY} | {k for e in LFW_VIEW2_VERIFIED for k in e.keys}
        assert want <= _cited(text), f"{md.name} shows results-page numbers without citing {sorted(want - _cited(text))}"
