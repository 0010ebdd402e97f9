"""The record of a run: its folder, its files (written through `files.atomic_write`), the lock, reading and finding.

A record is complete when `metrics.json` exists; it is written last, so a reader never sees a half-written record.
The results folder is checked before training (`require_results_dir`); a write that fails (a full disk) stops the
run with one OutputError naming the file, before `metrics.json`, and the rerun resumes from the last checkpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..config import ExperimentConfig
from ..data.paths import project_root
from ..data.protocols import ImageRef, Pair
from ..errors import RunError, RunLockedError
from ..files import (
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    write_errors,
)
from .provenance import Provenance
from .schema import RECORD_FILES, SCORE_COLUMNS, RunMetrics

ENV_RESULTS = "LFWSIAMESE_RESULTS"

#: What a run that could not write a file leaves, and what to do: the tail of every such error.
RESUME_HINT = ("the run stopped and wrote no metrics.json; free space on that disk (or make it writable) and rerun the "
               "same command: it resumes from the last epoch it checkpointed whole")


def results_dir(results: str | os.PathLike | None = None) -> Path:
    """Where records live: argument, else $LFWSIAMESE_RESULTS, else results/ under the project root."""
    if results:
        return Path(results)
    env = os.environ.get(ENV_RESULTS)
    return Path(env) if env else project_root() / "results"


def results_source(results: str | os.PathLike | None = None) -> str:
    """Where `results_dir` took the folder from, as the user set it: --results, $LFWSIAMESE_RESULTS or the default."""
    if results:
        return "--results"
    return ENV_RESULTS if os.environ.get(ENV_RESULTS) else "the default results/ in the project"


def require_results_dir(results: str | os.PathLike | None = None) -> Path:
    """The results folder, checked before any long work: its runs/ folder exists (created if missing) and takes files.

    Otherwise one OutputError names the folder, where it came from and what to do, and nothing is written there.
    """
    base = results_dir(results)
    source = results_source(results)
    if source == "--results":
        fix = "pass --results a folder you can write (it is created if missing)"
    elif source == ENV_RESULTS:
        fix = f"point {ENV_RESULTS} at a folder you can write (it is created if missing), or unset it to use results/"
    else:
        fix = f"pass --results or set {ENV_RESULTS} to a folder you can write"
    check_writable_dir(base / "runs", f"results folder {base} (from {source})", fix, top=base)
    return base


def run_dir_for(cfg: ExperimentConfig, results: str | os.PathLike | None = None) -> Path:
    return results_dir(results) / "runs" / cfg.run_name


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on a run folder, so two processes never train (and write) the same record."""
    from filelock import FileLock, Timeout
    lock = FileLock(str(run_dir) + ".lock")
    with write_errors(str(run_dir) + ".lock", RESUME_HINT):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:  # (an OSError too: told apart here)
            raise RunLockedError(f"{run_dir} is being trained by another process (lock {run_dir}.lock); wait for it or remove the lock if that process is gone") from None
    try:
        yield
    finally:
        lock.release()


@dataclass
class Record:
    """A finished run as the book reads it."""

    path: Path
    config: ExperimentConfig
    metrics: RunMetrics
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


def scores_frame(pairs: Sequence[Pair], scores: np.ndarray) -> pd.DataFrame:
    """The scores file of a record: one row per pair (SCORE_COLUMNS)."""
    return pd.DataFrame({
        "name_a": [p.a.name for p in pairs], "index_a": [p.a.index for p in pairs],
        "name_b": [p.b.name for p in pairs], "index_b": [p.b.index for p in pairs],
        "label": [p.label for p in pairs], "score": np.asarray(scores, np.float64),
    }, columns=list(SCORE_COLUMNS))


def pairs_from_scores(df: pd.DataFrame) -> list[Pair]:
    """The pairs a scores file (or any rows of it) was computed on, in its order: the one reader of that format."""
    return [Pair(ImageRef(r.name_a, int(r.index_a)), ImageRef(r.name_b, int(r.index_b))) for r in df.itertuples()]


@dataclass
class RunOutput:
    """Everything a finished training hands to `write_record`."""

    config: ExperimentConfig
    metrics: RunMetrics
    history: pd.DataFrame
    val_pairs: Sequence[Pair]
    val_scores: np.ndarray
    test_pairs: Sequence[Pair]
    test_scores: np.ndarray
    env: dict[str, Any]
    weights: dict[str, Any] | None = None  # histograms before/after training (weights.json)
    save_model: Callable[[Path], None] | None = None  # writes model.keras to the path it is given


def _text(path: Path, text: str) -> None:
    with write_errors(path, RESUME_HINT):
        atomic_write_text(path, text)


def _json(path: Path, obj: Any) -> None:
    with write_errors(path, RESUME_HINT):
        atomic_write_json(path, obj)


def start_record(run_dir: Path, cfg: ExperimentConfig, provenance: Provenance) -> None:
    """What is known when training starts: the config and, for a dirty tree, the code patch it runs."""
    _text(run_dir / "config.json", cfg.to_json() + "\n")
    if provenance.dirty:
        _text(run_dir / "code.patch", provenance.patch)
    else:
        (run_dir / "code.patch").unlink(missing_ok=True)


def write_record(run_dir: Path, out: RunOutput) -> Record:
    """Every file of the record, each atomically, `metrics.json` last: a reader sees a complete record or none.

    A write that fails raises an OutputError naming the file; `metrics.json` is then not written and the run's
    checkpoint (`_backup/`) stays, so the rerun resumes (without training again) and writes the same record.
    """
    _text(run_dir / "config.json", out.config.to_json() + "\n")
    _text(run_dir / "history.csv", out.history.to_csv(index=False))
    _text(run_dir / "scores.csv", scores_frame(out.test_pairs, out.test_scores).to_csv(index=False))
    _text(run_dir / "val_scores.csv", scores_frame(out.val_pairs, out.val_scores).to_csv(index=False))
    _json(run_dir / "env.json", out.env)
    if out.weights is not None:
        _json(run_dir / "weights.json", out.weights)
    if out.save_model is not None:
        tmp = run_dir / ".model.tmp.keras"  # Keras wants the suffix; renamed into place when whole
        try:
            with write_errors(run_dir / "model.keras", RESUME_HINT):
                out.save_model(tmp)
                os.replace(tmp, run_dir / "model.keras")
        finally:
            tmp.unlink(missing_ok=True)
    _json(run_dir / "metrics.json", out.metrics)  # last: its presence marks the record complete
    shutil.rmtree(run_dir / "_backup", ignore_errors=True)
    return load_record(run_dir)


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
    from ..models.towers import build_siamese
    model = build_siamese(rec.config.model, rec.config.data.size)
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError, OSError) as e:
        raise RunError(f"{path}: these weights do not fit the architecture in {rec.path / 'config.json'} ({str(e).splitlines()[0][:200]})") from None
    return model
