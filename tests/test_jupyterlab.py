"""Chapters open as notebooks in JupyterLab (README, "Open the chapters in JupyterLab").

`make install` puts book/jupyterlab-overrides.json into the environment's JupyterLab settings
(overrides.d), making jupytext's notebook view the default viewer of Markdown files. These tests check
that the viewer named there is the one jupytext's JupyterLab extension registers, and, on a JupyterLab
server started from this environment with the file installed by the Makefile's own rule, that the
settings API serves it as the default, that a chapter's .md comes back as a notebook with its stored
outputs, and that a plain Markdown file (README.md) saved from that view is left byte for byte as it was.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = ROOT / "book" / "jupyterlab-overrides.json"
DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"
JUPYTEXT_VIEW = "Jupytext Notebook"
INSTALLED = Path("share", "jupyter", "lab", "settings", "overrides.d", "lfwsiamese.json")

pytest.importorskip("jupyterlab")  # the `book` extra; always installed by `make test` (CI)
pytest.importorskip("jupytext")


def _jupytext_lab_bundle() -> str:
    from jupyter_core.paths import jupyter_path

    for d in jupyter_path("labextensions"):
        static = Path(d, "jupyterlab-jupytext", "static")
        if static.is_dir():
            return "\n".join(p.read_text(errors="replace") for p in sorted(static.glob("*.js")))
    raise AssertionError("jupytext's JupyterLab extension (jupyterlab-jupytext) is not installed")


def test_overrides_make_jupytext_the_default_viewer_of_markdown() -> None:
    viewers = json.loads(OVERRIDES.read_text())[DOCMANAGER]["defaultViewers"]
    # .md files have JupyterLab's file type "markdown"; jupytext adds "myst" (.myst, .mystnb, .mnb)
    assert viewers == {"markdown": JUPYTEXT_VIEW, "myst": JUPYTEXT_VIEW}
    # ...and that is the name of the widget factory that jupytext's extension registers, for those types
    bundle = _jupytext_lab_bundle()
    factory = re.search(r"\.FACTORY\s*=\s*\"([^\"]+)\"", bundle)
    file_types = re.search(r"\.FILE_TYPES\s*=\s*\[([^\]]*)\]", bundle)
    assert factory and file_types, "jupytext's lab extension no longer defines FACTORY / FILE_TYPES as expected"
    assert factory.group(1) == JUPYTEXT_VIEW
    assert {"markdown", "myst"} <= set(re.findall(r"\"([^\"]+)\"", file_types.group(1)))


def _make_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Lab:
    """A JupyterLab server of this environment on a free port, token-authenticated."""

    def __init__(self, root: Path, app_settings: Path, tmp: Path) -> None:
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{_free_port()}"
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
        self.log = (tmp / "lab.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.url.rsplit(':', 1)[1]}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             f"--LabApp.app_settings_dir={app_settings}", f"--LabApp.user_settings_dir={tmp / 'user-settings'}",
             f"--LabApp.workspaces_dir={tmp / 'workspaces'}"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.log_path = tmp / "lab.log"
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("JupyterLab exited:\n" + self.log_path.read_text())
            try:
                self.get("/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.close()
                    raise AssertionError("JupyterLab did not answer in 120 s:\n" + self.log_path.read_text())
                time.sleep(0.5)

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def lab(tmp_path: Path):
    # The Makefile's install step, into a stand-in environment whose pip install is already done
    # (.installed newer than pyproject.toml): only the settings override is left for it to put in place.
    venv = tmp_path / "venv"
    venv.mkdir()
    marker = venv / ".installed"
    marker.touch()
    t = max(time.time(), (ROOT / "pyproject.toml").stat().st_mtime) + 10
    os.utime(marker, (t, t))
    make = shutil.which("make")
    assert make, "make is needed (it is the project's entry point)"
    out = subprocess.run([make, "-C", str(ROOT), f"VENV={venv}", "install"], env=_make_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (venv / INSTALLED).read_text() == OVERRIDES.read_text()
    assert "pip install" not in out.stdout  # the stand-in was taken as installed

    # A copy of what a newcomer opens: the README, the jupytext pairing config and one chapter pair.
    root = tmp_path / "repo"
    (root / "book" / "chapters").mkdir(parents=True)
    for rel in ("README.md", "jupytext.toml", "book/chapters/dataset.md", "book/chapters/dataset.ipynb"):
        shutil.copy2(ROOT / rel, root / rel)
    server = _Lab(root, venv / INSTALLED.parent.parent, tmp_path)
    try:
        yield server, root
    finally:
        server.close()


def test_jupyterlab_opens_markdown_as_jupytext_notebook(lab) -> None:
    server, root = lab
    settings = server.get(f"/lab/api/settings/{DOCMANAGER}")
    default = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert default.get("markdown") == JUPYTEXT_VIEW
    assert default.get("myst") == JUPYTEXT_VIEW
    assert settings["settings"].get("defaultViewers") is None  # nothing from a user's own settings
    server.get("/lab/api/settings/jupyterlab-jupytext:plugin")  # jupytext's extension is there (else 404)

    # What that viewer asks the server for: the chapter as a notebook, stored outputs included.
    chapter = server.get("/api/contents/book/chapters/dataset.md?type=notebook&content=1")
    assert chapter["type"] == "notebook"
    code = [c for c in chapter["content"]["cells"] if c["cell_type"] == "code"]
    assert code and sum(bool(c["outputs"]) for c in code) >= len(code) // 2

    # A plain Markdown file opens as a notebook too; saving it from there (a kernel picked, as the
    # "Select Kernel" dialog does) leaves the file unchanged and pairs nothing.
    before = (root / "README.md").read_bytes()
    readme = server.get("/api/contents/README.md?type=notebook&content=1")
    assert readme["type"] == "notebook"
    assert all(c["cell_type"] in ("markdown", "code") for c in readme["content"]["cells"])
    nb = readme["content"]
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    server.request("PUT", "/api/contents/README.md", {"type": "notebook", "format": "json", "content": nb})
    assert (root / "README.md").read_bytes() == before
    assert not (root / "README.ipynb").exists()
