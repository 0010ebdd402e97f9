"""environment.yml (conda users) and pyproject.toml (pip users) describe the same environment."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[\s<>=~!\[;]", req.strip().strip('"'), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject() -> None:
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = re.search(r'pip install -q -e "\.\[([a-z,]+)\]"', (ROOT / "Makefile").read_text()).group(1).split(",")
    assert {"book", "test", "distributed", "jax"} <= set(extras)  # what `make` installs, and so CI
    wanted = {r for r in py["dependencies"]} | {r for e in extras for r in py["optional-dependencies"][e]}
    lines = (ROOT / "environment.yml").read_text().splitlines()
    pip = [l.split("- ", 1)[1].strip().strip('"') for l in lines if l.startswith("      - ")]
    pip = [p for p in pip if p != "-e ."]
    assert {_name(r) for r in wanted} == {_name(p) for p in pip}
    # same version ranges, not only the same names
    assert {r.replace(" ", "") for r in wanted} == {p.replace(" ", "") for p in pip}
    # the same supported Pythons (3.11 to 3.13) as requires-python
    assert py["requires-python"] == ">=3.11,<3.14"
    assert sum(l.strip() == "- python" + py["requires-python"] for l in lines) == 1
    assert "-e ." in (ROOT / "environment.yml").read_text()
