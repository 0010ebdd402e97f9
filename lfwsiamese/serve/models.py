"""Which model serves: the shipped one (`scorer.load_shipped`, ONNX Runtime) or a stored record's (`KerasScorer`).

A record is named by its folder, its run name under <results>/runs, or "best": the complete record with weights and
the best VALIDATION accuracy (test metrics never choose). Either way images are preprocessed as in training (the
record's crop, size and pixel scale) and pairs are scored as the record's test scores were (flip averaging included).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import Preprocess
from ..errors import RunError
from ..recipes import is_scratch
from ..records.store import Record, is_complete, load_record, load_run_model, results_dir
from .scorer import Head, Scorer

__all__ = ["BEST", "KerasScorer", "best_run", "head_spec", "load_scorer", "preprocess_for", "resolve_run",
           "run_candidates"]

TRAIN_HINT = "lfwsiamese train --config reference"
BEST = "best"  # --run best: the stored record with weights and the best validation accuracy


def run_candidates(results: str | os.PathLike | None = None) -> list[tuple[Path, float]]:
    """Complete records that have weights, with their validation accuracy (the only metric used to choose).

    Smoke runs and search trials (`recipes.is_scratch`) are never candidates: `--run` still reaches them."""
    base = results_dir(results) / "runs"
    out: list[tuple[Path, float]] = []
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        if not d.is_dir() or not is_complete(d) or not (d / "model.keras").is_file():
            continue
        try:
            if is_scratch(str(json.loads((d / "config.json").read_text()).get("name", ""))):
                continue
            acc = float(json.loads((d / "metrics.json").read_text())["val"]["accuracy"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.warn(f"{d / 'metrics.json'}: unreadable validation accuracy ({e}); this record is skipped",
                          stacklevel=2)
            continue
        if math.isnan(acc):
            continue
        out.append((d, acc))
    return out


def best_run(results: str | os.PathLike | None = None) -> Path:
    """The stored record with weights and the highest VALIDATION accuracy; ties go to the first run name in sorted
    order, so the choice is reproducible."""
    cands = run_candidates(results)
    if not cands:
        base = results_dir(results) / "runs"
        raise RunError(
            f"no stored record with weights (model.keras) under {base}; train one with `{TRAIN_HINT}` "
            f"(or pass --run RUN_DIR / --results DIR to point at another records folder)"
        )
    best_acc = max(acc for _, acc in cands)
    return next(d for d, acc in cands if acc == best_acc)


def resolve_run(run: str | os.PathLike | None, results: str | os.PathLike | None = None) -> Path:
    """`--run` as a folder, or as a run name under <results>/runs; absent or "best": the best run by validation
    accuracy."""
    if run is None or str(run) in ("", BEST):
        return best_run(results)
    p = Path(run).expanduser()
    if not p.is_dir():
        named = results_dir(results) / "runs" / str(run)
        if named.is_dir():
            return named
    return p


def preprocess_for(rec: Record) -> Preprocess:
    return Preprocess.of(rec.config.data)


def head_spec(model: Any) -> dict[str, Any]:
    """The head's numbers of a Siamese model: the cosine head's scale and offset, or the L1 head's dense layer."""
    names = {layer.name for layer in model.layers}
    if "scaled_cosine" in names:
        scale, offset = (float(np.asarray(w)) for w in model.get_layer("scaled_cosine").get_weights())
        return {"kind": "cosine", "scale": scale, "offset": offset}
    kernel, bias = model.get_layer("same_probability").get_weights()
    return {"kind": "l1_sigmoid", "kernel": [float(v) for v in np.ravel(kernel)], "bias": float(np.ravel(bias)[0])}


class KerasScorer(Scorer):
    """A stored record's model through Keras (`--run`): the same scoring path as the shipped model, with the record's
    threshold, crop, size, pixel scale and flip averaging (and no calibration: its scores are the head's)."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        rec = load_record(run_dir)
        if "threshold" not in rec.metrics:
            raise RunError(f"{rec.path / 'metrics.json'}: no 'threshold'; the record is damaged: retrain it")
        self.model = load_run_model(rec.path)
        self._tower = self.model.get_layer("tower")
        self.head = Head(head_spec(self.model))
        self.record = rec
        self.name = str(rec.path)
        st = rec.model_path.stat()
        self.model_id = f"{rec.path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        self.pre = preprocess_for(rec)
        self.pixel_scale = rec.config.data.pixel_scale
        self.tta_flip = rec.config.train.tta_flip
        self.threshold = float(rec.metrics["threshold"])
        self.dim = int(self._tower.output.shape[-1])

    def tower(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._tower(x, training=False), dtype=np.float32)


def load_scorer(run: str | os.PathLike | None = None, results: str | os.PathLike | None = None) -> Scorer:
    """The shipped model (no `run`), or a stored record's (`run`: a folder, a run name, or "best")."""
    if run is None or str(run) == "":
        from .scorer import load_shipped
        return load_shipped()
    return KerasScorer(resolve_run(run, results))
