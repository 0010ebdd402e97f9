"""Where and from what code a run was made: machine, versions, commit."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.paths import project_root

#: What counts as the package's code for provenance: notebooks and records do not.
CODE_PATHS = ("lfwsiamese", "pyproject.toml")


@dataclass(frozen=True)
class Provenance:
    """The commit a run started from and, if the code differed from it, that difference as a patch."""

    commit: str  # the full sha, or "unknown" outside a git checkout
    patch: str  # `git diff` of CODE_PATHS against the commit, untracked files included; "" when clean

    @property
    def dirty(self) -> bool:
        return bool(self.patch)

    @property
    def label(self) -> str:
        return self.commit + ("+dirty" if self.dirty else "")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True).stdout


def capture(root: Path | None = None) -> Provenance:
    """Taken by the process that starts a run (a worker elsewhere may have no git): commit and code patch."""
    root = project_root() if root is None else root
    try:
        sha = _git(root, "rev-parse", "HEAD").strip()
        patch = _git(root, "diff", "--binary", "HEAD", "--", *CODE_PATHS)
        for f in _git(root, "ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS).splitlines():
            # a new, uncommitted module is part of the code too: as a diff from nothing
            patch += subprocess.run(["git", "diff", "--binary", "--no-index", "--", "/dev/null", f], cwd=root,
                                    capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return Provenance("unknown", "")
    return Provenance(sha or "unknown", patch)


def git_commit() -> str:
    """The commit label now (sha, "+dirty" if the package's code differs): for outputs that are not records."""
    return capture().label




def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rss_mib() -> float:
    """Current resident memory of this process (Linux /proc), in MiB; NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def backend_details() -> dict[str, Any]:
    """The Keras backend, its library's version and the GPUs it sees (TensorFlow: no other key changes)."""
    import keras
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return {"backend": backend, "tensorflow": tf.__version__,
                "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
    out: dict[str, Any] = {"backend": backend}
    if backend == "jax":
        import jax
        import jaxlib
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        out.update({"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                    "gpus": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in gpus],
                    "xla_flags": os.environ.get("XLA_FLAGS", "")})
    return out


def record_backend(env: dict[str, Any]) -> str:
    """The backend an env.json states; records made before it was stated are TensorFlow's."""
    return str(env.get("backend", "tensorflow"))


def _tf_threads() -> int:
    import tensorflow as tf
    return tf.config.threading.get_intra_op_parallelism_threads()


def environment(precision: str, jit_compile: bool, provenance: Provenance | None = None) -> dict[str, Any]:
    """Machine, versions, backend, precision and the code's provenance (taken now unless the run's start passed it)."""
    import keras
    import numpy as np

    from .. import __version__
    prov = capture() if provenance is None else provenance
    details = backend_details()
    gpus = details.pop("gpus", [])
    return {
        "lfwsiamese": __version__, "python": sys.version.split()[0], **details,
        "keras": keras.__version__, "numpy": np.__version__, "platform": platform.platform(),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpus, "device": "GPU" if gpus else "CPU",
        "precision_policy": precision, "jit_compile": jit_compile,
        # TensorFlow's threads (0: its default, every CPU): a run's scores depend on it (training.setup.fix_threads)
        "threads": _tf_threads() if details.get("backend", "tensorflow") == "tensorflow" else None,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": prov.label, "git_commit_taken": "at the start of training" if provenance else "when written",
        "code_patch": "code.patch" if prov.dirty else None,
    }
