"""Experiment records: one folder per run, written atomically, found again by config hash.

A record is complete when `metrics.json` exists; it is written last, so a reader never sees half a record.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from .config import ExperimentConfig
from .data import project_root
from .errors import RunError, RunLockedError

ENV_RESULTS = "LFWSIAMESE_RESULTS"
RECORD_FILES = ("config.json", "history.csv", "metrics.json", "scores.csv", "val_scores.csv", "env.json")


def results_dir(results: str | os.PathLike | None = None) -> Path:
    """Where records live: argument, else $LFWSIAMESE_RESULTS, else results/ under the project root."""
    if results:
        return Path(results)
    env = os.environ.get(ENV_RESULTS)
    return Path(env) if env else project_root() / "results"


def run_dir_for(cfg: ExperimentConfig, results: str | os.PathLike | None = None) -> Path:
    return results_dir(results) / "runs" / cfg.run_name


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary name in the same folder, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on a run folder, so two processes never train (and write) the same record."""
    from filelock import FileLock, Timeout
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLockedError(f"{run_dir} is being trained by another process (lock {run_dir}.lock); wait for it or remove the lock if that process is gone") from None
    try:
        yield
    finally:
        lock.release()


def git_commit() -> str:
    try:
        root = project_root()
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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


def environment(precision: str, jit_compile: bool) -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf
    from . import __version__
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "lfwsiamese": __version__, "python": sys.version.split()[0], "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "platform": platform.platform(),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpus, "device": "GPU" if gpus else "CPU",
        "precision_policy": precision, "jit_compile": jit_compile,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
    }


@dataclass
class Record:
    """A finished run as the book reads it."""

    path: Path
    config: ExperimentConfig
    metrics: dict[str, Any]
    history: pd.DataFrame
    env: dict[str, Any]

    @property
    def scores(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "scores.csv")

    @property
    def val_scores(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "val_scores.csv")

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def weights(self) -> dict[str, Any] | None:
        """Histograms of each kernel and bias before and after training (records made since weights.json existed)."""
        f = self.path / "weights.json"
        return json.loads(f.read_text()) if f.is_file() else None


def is_complete(run_dir: Path) -> bool:
    return all((run_dir / f).is_file() for f in RECORD_FILES)


def load_record(run_dir: str | os.PathLike) -> Record:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder; `lfwsiamese runs` lists the stored ones")
    missing = [f for f in RECORD_FILES if not (run_dir / f).is_file()]
    if missing:
        raise RunError(f"{run_dir}: incomplete record (missing {', '.join(missing)}); rerun it with `lfwsiamese train` (it resumes)")
    cfg = ExperimentConfig.from_json((run_dir / "config.json").read_text())
    return Record(run_dir, cfg, json.loads((run_dir / "metrics.json").read_text()),
                  pd.read_csv(run_dir / "history.csv"), json.loads((run_dir / "env.json").read_text()))


def find_record(cfg: ExperimentConfig, results: str | os.PathLike | None = None) -> Record | None:
    d = run_dir_for(cfg, results)
    return load_record(d) if is_complete(d) else None


def load_or_run(cfg: ExperimentConfig, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
                trainer: Callable[..., Record] | None = None, **train_kwargs: Any) -> Record:
    """The stored record for an identical config, else train it now and store it."""
    cfg.validate()
    rec = find_record(cfg, results)
    if rec is not None:
        return rec
    if trainer is None:
        from .train import train_run as trainer
    return trainer(cfg, data=data, results=results, **train_kwargs)


def list_runs(results: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per complete record: name, seed, epochs, accuracies, AUC, fit time."""
    rows = []
    base = results_dir(results) / "runs"
    for d in sorted(base.glob("*")) if base.is_dir() else []:
        if not d.is_dir() or not is_complete(d):
            continue
        m = json.loads((d / "metrics.json").read_text())
        c = json.loads((d / "config.json").read_text())
        rows.append({
            "run": d.name, "name": c["name"], "seed": c["seed"], "epochs": m.get("epochs_run"),
            "val_acc": m["val"]["accuracy"], "test_acc": m.get("test", {}).get("accuracy"),
            "test_acc@0.5": m.get("test", {}).get("accuracy_at_0.5"), "test_auc": m.get("test", {}).get("auc"),
            "fit_s": m.get("fit_seconds"),
        })
    return pd.DataFrame(rows, columns=["run", "name", "seed", "epochs", "val_acc", "test_acc", "test_acc@0.5", "test_auc", "fit_s"])


def load_run_model(run_dir: str | os.PathLike) -> Any:
    """The trained model of a record, checked against the record's own config (safe_mode=True, no code runs)."""
    rec = load_record(run_dir)
    path = rec.model_path
    if not path.is_file():
        raise RunError(
            f"{rec.path}: the record has no weights (model.keras is not committed to git: 156 MB); "
            f"train them again with `lfwsiamese train --config {rec.config.name} --seed {rec.config.seed}` after moving this folder away"
        )
    from .models import build_siamese
    model = build_siamese(rec.config.model, rec.config.data.size)
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError, OSError) as e:
        raise RunError(f"{path}: these weights do not fit the architecture in {rec.path / 'config.json'} ({str(e).splitlines()[0][:200]})") from None
    return model
