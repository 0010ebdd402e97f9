"""Installable: `python -m build` makes a wheel that carries the shipped model and its card; installed into a fresh
virtual environment outside the repository, `lfwsiamese verify` and the Python API decide two photos right.

The wheel is built from a copy of the package (the repository is left as it is) without build isolation (no
download: setuptools and build come with the test extra), and installed with `--no-deps`: the new environment
borrows the project environment's packages (NumPy, ONNX Runtime, OpenCV, Pillow) through a .pth file, never its
lfwsiamese."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lfwsiamese", src / "lfwsiamese", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("lfwsiamese-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return wheel, venv


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LFWSIAMESE_") and k != "PYTHONPATH"}


def test_the_wheel_carries_the_shipped_model_and_its_card(installed) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("model.onnx", "model.json", "MODEL_CARD.md"):
        assert f"lfwsiamese/shipped/{f}" in names, f
    assert "lfwsiamese/data/protocols/pairsDevTest.txt" in names
    assert wheel.stat().st_size < 20e6
    # README states the wheel's size: it is this wheel's, to the 0.1 MB it is given in
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"(`python -m build`) is {wheel.stat().st_size / 1e6:.1f} MB" in readme


def test_installed_command_and_api_verify_two_photos(installed, tmp_path: Path) -> None:
    _, venv = installed
    a, b, c = (str(PHOTOS / f) for f in ("obama_1.jpg", "obama_2.jpg", "rudd_1.jpg"))
    r = subprocess.run([str(venv / "bin" / "lfwsiamese"), "verify", a, b, "--json"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["same"] is True
    code = ("import sys, lfwsiamese; v = lfwsiamese.verify(sys.argv[1], sys.argv[2]); "
            "print(lfwsiamese.__file__); print(v.same)")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code, a, c], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    where, same = r.stdout.split()
    assert Path(where).is_relative_to(venv) and same == "False"  # the installed copy, not the repository's
