"""The Makefile's choice of Python for .venv: the newest supported one on PATH that runs, or PYTHON=.

Each case runs `make -n install` (print the recipe, run nothing) with PATH holding only stub
interpreters: working ones exec this test's Python (3.11-3.13, by requires-python); broken ones behave
like a pyenv shim of a version that is installed but not selected (message, exit 127).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")

WORKS = f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'
SHIM = '#!/bin/sh\necho "pyenv: $(basename "$0"): command not found" >&2\nexit 127\n'


def _stubs(d: Path, **scripts: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        p = d / name.replace("_", ".")
        p.write_text(text)
        p.chmod(0o755)
    return d


def _make_install(tmp_path: Path, bindir: Path, *args: str) -> subprocess.CompletedProcess:
    assert MAKE, "make is needed (it is the project's entry point)"
    # Neither an outer make's flags (`make test PYTHON=...` passes them down) nor a PYTHON from the
    # environment may stand in for the probe.
    env = {k: v for k, v in os.environ.items()
           if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON"}}
    env["PATH"] = str(bindir)
    return subprocess.run([MAKE, "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", "install", *args],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("stubs", "chosen"),
    [
        # only 3.12 works (3.13 is a shim, no 3.11): 3.12
        ({"python3_13": SHIM, "python3_12": WORKS}, "python3.12"),
        # all three: the newest
        ({"python3_13": WORKS, "python3_12": WORKS, "python3_11": WORKS}, "python3.13"),
        # shims for 3.13 and 3.12 in front of a working 3.11 (this project's CI machine)
        ({"python3_13": SHIM, "python3_12": SHIM, "python3_11": WORKS}, "python3.11"),
        # no versioned name at all: a python3 that is a supported version
        ({"python3_13": SHIM, "python3": WORKS}, "python3"),
    ],
)
def test_make_picks_the_newest_supported_python_that_runs(tmp_path: Path, stubs: dict, chosen: str) -> None:
    out = _make_install(tmp_path, _stubs(tmp_path / "bin", **stubs))
    assert out.returncode == 0, out.stderr
    assert f"{chosen} -m venv {tmp_path / 'venv'}" in out.stdout.splitlines()


def test_make_says_which_pythons_it_looked_for_when_none_runs(tmp_path: Path) -> None:
    out = _make_install(tmp_path, _stubs(tmp_path / "bin", python3_13=SHIM, python3_12=SHIM))
    assert out.returncode != 0
    assert "No supported Python found" in out.stderr
    assert "3.11, 3.12 or 3.13" in out.stderr
    assert "python3.13 python3.12 python3.11 python3" in out.stderr
    assert "PYTHON=" in out.stderr
    assert "-m venv" not in out.stdout


def test_make_uses_PYTHON_when_given(tmp_path: Path) -> None:
    bindir = _stubs(tmp_path / "bin", python3_13=WORKS)
    mine = _stubs(tmp_path / "elsewhere", my_python=WORKS) / "my.python"
    out = _make_install(tmp_path, bindir, f"PYTHON={mine}")
    assert out.returncode == 0, out.stderr
    assert f"{mine} -m venv {tmp_path / 'venv'}" in out.stdout.splitlines()


def test_makefile_supports_the_pythons_of_requires_python() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", requires).groups()
    supported = [f"3.{m}" for m in range(int(hi) - 1, int(lo) - 1, -1)]  # newest first
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^SUPPORTED_PYTHONS := (.*)$", text, re.M).group(1).split() == supported
    assert f"(3, {lo}) <= sys.version_info[:2] <= (3, {int(hi) - 1})" in text
