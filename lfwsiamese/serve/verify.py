"""Verification with a `Scorer`: one pair, or a pairs file scored in batches (images decoded in parallel, each distinct
image embedded once). A bad row is reported by its number and the others are still scored."""
from __future__ import annotations

import csv
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.align import check_mode
from ..errors import DataError, LfwSiameseError
from .inputs import Prepared, describe, prepare_many
from .scorer import Scorer


@dataclass
class Verification:
    """One decision: `same` is score > threshold. With the shipped model `score` is the calibrated probability of the
    same person and the threshold 0.5; with a stored record (`run`) it is the head's score and the threshold the one
    chosen on validation pairs. `raw_score` is always the head's; `faces` says where each image's face was found
    (None for an image used as it is)."""

    same: bool
    score: float
    threshold: float
    model: str
    image_a: str = ""
    image_b: str = ""
    warnings: list[str] = field(default_factory=list)
    raw_score: float | None = None
    faces: list[dict[str, Any] | None] = field(default_factory=list)
    calibrated: bool = False  # score is a calibrated probability (the shipped model)

    @property
    def decision(self) -> str:
        return "same person" if self.same else "different people"

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, **asdict(self)}


def prepared_or_raise(p: Prepared) -> np.ndarray:
    if p.error is not None:
        raise DataError(p.error)
    assert p.pixels is not None
    return p.pixels


def verify_pair(scorer: Scorer, image_a: Any, image_b: Any, align: str = "auto") -> Verification:
    """Same person or not, for two images (paths, PIL images or arrays); a bad image raises a `DataError`."""
    a, b = prepare_many([image_a, image_b], scorer.pre, align, workers=2, landmarks=scorer.landmarks)
    pix = np.stack([prepared_or_raise(a), prepared_or_raise(b)])
    v = scorer.embed(pix)
    raw = scorer.raw_score(v[:1], v[1:])
    s = float(raw[0] if scorer.calibration is None else scorer.calibration(raw)[0])
    return Verification(bool(s > scorer.threshold), s, scorer.threshold, scorer.name, a.source, b.source,
                        a.notes + b.notes, float(raw[0]), [a.face, b.face], scorer.calibration is not None)


def verify_images(image_a: Any, image_b: Any, run: str | os.PathLike | None = None,
                  results: str | os.PathLike | None = None, align: str = "auto") -> Verification:
    """`verify_pair` with the model named by `run` (None: the shipped one; see `models.load_scorer`).

    With a stored record the images are read before its model is loaded (seconds of Keras), so a bad image fails
    fast. Notes about the images (several faces, not an LFW-a crop) are raised as warnings, once each, and kept in
    the result."""
    from .models import load_scorer, preprocess_for, resolve_run
    check_mode(align)
    if run is not None and str(run) != "":
        from ..records.store import load_record
        rec = load_record(resolve_run(run, results))
        for p in prepare_many([image_a, image_b], preprocess_for(rec), align, workers=2):
            prepared_or_raise(p)
    v = verify_pair(load_scorer(run, results), image_a, image_b, align)
    for note in dict.fromkeys(v.warnings):
        warnings.warn(note, UserWarning, stacklevel=3)
    return v


@dataclass
class PairRow:
    row: int  # 1-based data row (the header is not counted)
    path_a: str
    path_b: str
    label: int | None = None
    score: float | None = None
    same: bool | None = None
    error: str | None = None
    raw_score: float | None = None

    def to_dict(self, with_label: bool) -> dict[str, Any]:
        d: dict[str, Any] = {"row": self.row, "path_a": self.path_a, "path_b": self.path_b, "score": self.score,
                             "same": self.same, "raw_score": self.raw_score}
        if with_label:
            d["label"] = self.label
        if self.error is not None:
            d["error"] = self.error
        return d


@dataclass
class BatchVerification:
    rows: list[PairRow]
    threshold: float
    model: str
    has_labels: bool
    seconds: float  # from the first image read to the last score (the model already loaded)
    n_images: int
    notes: list[str] = field(default_factory=list)
    n_failed_images: int = 0
    n_aligned: int = 0  # images that were face-detected and aligned

    @property
    def images_per_second(self) -> float:
        return self.n_images / self.seconds if self.seconds > 0 else float("nan")

    @property
    def failed(self) -> list[PairRow]:
        return [r for r in self.rows if r.error is not None]

    @property
    def accuracy(self) -> float | None:
        """Accuracy over the labelled rows that were scored (None without labels)."""
        done = [r for r in self.rows if r.error is None and r.label is not None]
        return float(np.mean([r.same == bool(r.label) for r in done])) if self.has_labels and done else None

    @property
    def pairs_per_second(self) -> float:
        n = len(self.rows) - len(self.failed)
        return n / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"n_pairs": len(self.rows), "threshold": self.threshold, "model": self.model}
        if self.has_labels:
            d["accuracy"] = self.accuracy
        d.update({"n_failed": len(self.failed), "seconds": round(self.seconds, 3),
                  "pairs_per_second": round(self.pairs_per_second, 1), "n_images": self.n_images,
                  "n_aligned": self.n_aligned, "images_per_second": round(self.images_per_second, 1),
                  "pairs": [r.to_dict(self.has_labels) for r in self.rows]})
        return d


def read_pairs_file(path: str | os.PathLike) -> tuple[list[PairRow], bool]:
    """PAIRS.csv: a header with path_a and path_b (and optionally label: 1 same, 0 different); relative paths are
    taken from the file's folder. Returns the rows (a bad label marks its row as failed) and whether labels exist."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LfwSiameseError(f"--pairs {path}: no such file; expected a CSV with a header path_a,path_b[,label]")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise LfwSiameseError(f"--pairs {path}: unreadable as CSV ({e})") from None
    missing = [c for c in ("path_a", "path_b") if c not in header]
    if missing:
        raise LfwSiameseError(f"--pairs {path}: the header {','.join(header) or '(empty)'} lacks {' and '.join(missing)}; "
                              f"expected path_a,path_b[,label]")
    if not raw:
        raise LfwSiameseError(f"--pairs {path}: no rows after the header")
    has_labels = "label" in header
    rows = []
    for k, r in enumerate(raw, start=1):
        r = {(key or "").strip(): (v or "").strip() if isinstance(v, str) else v for key, v in r.items()}
        a, b = r.get("path_a") or "", r.get("path_b") or ""
        row = PairRow(k, a, b)
        if not a or not b:
            row.error = f"row {k}: empty path_a or path_b"
        if has_labels:
            lab = r.get("label") or ""
            if lab in ("0", "1"):
                row.label = int(lab)
            elif lab:
                row.error = row.error or f"row {k}: label {lab!r} must be 1 (same) or 0 (different)"
        rows.append(row)
    return rows, has_labels


def _resolve(p: str, base: Path) -> str:
    q = Path(p).expanduser()
    return str(q if q.is_absolute() else base / q)


def verify_pairs(scorer: Scorer, pairs_file: str | os.PathLike, align: str = "auto", batch_size: int = 64,
                 workers: int | None = None, progress: bool = False) -> BatchVerification:
    """Score every row of a pairs file; a failed image fails the rows that use it, every other row is scored.
    `progress` shows a bar over the images (for lists of more than a few hundred)."""
    from tqdm.auto import tqdm
    rows, has_labels = read_pairs_file(pairs_file)
    base = Path(pairs_file).expanduser().resolve().parent
    t0 = time.perf_counter()
    todo = [r for r in rows if r.error is None]
    images = sorted({_resolve(p, base) for r in todo for p in (r.path_a, r.path_b)})
    index = {p: i for i, p in enumerate(images)}
    views = np.zeros((len(images), scorer.views, scorer.dim), np.float32)
    errors: dict[int, str] = {}
    notes: list[str] = []
    chunk: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if chunk:
            views[[i for i, _ in chunk]] = scorer.embed(np.stack([p for _, p in chunk]), batch_size)
            chunk.clear()

    n_aligned = 0
    preps = prepare_many(images, scorer.pre, align, workers, landmarks=scorer.landmarks)
    for i, prep in enumerate(tqdm(preps, total=len(images), desc="images", unit="img",
                                  disable=not progress or len(images) < 200, leave=False)):
        notes.extend(prep.notes)
        n_aligned += prep.aligned
        if prep.error is not None:
            errors[i] = prep.error
            continue
        chunk.append((i, prep.pixels))
        if len(chunk) >= batch_size:
            flush()
    flush()
    ok = [r for r in todo if index[_resolve(r.path_a, base)] not in errors and index[_resolve(r.path_b, base)] not in errors]
    for r in todo:
        bad = [errors[index[_resolve(p, base)]] for p in (r.path_a, r.path_b) if index[_resolve(p, base)] in errors]
        if bad:
            r.error = f"row {r.row}: " + "; ".join(dict.fromkeys(bad))
    if ok:
        ia = np.array([index[_resolve(r.path_a, base)] for r in ok])
        ib = np.array([index[_resolve(r.path_b, base)] for r in ok])
        raw = scorer.raw_score(views[ia], views[ib])
        scores = raw if scorer.calibration is None else scorer.calibration(raw)
        for r, s, s0 in zip(ok, scores, raw):
            r.score, r.same, r.raw_score = float(s), bool(s > scorer.threshold), float(s0)
    return BatchVerification(rows, scorer.threshold, scorer.name, has_labels, time.perf_counter() - t0, len(images),
                             notes, len(errors), n_aligned)


def embed_images(scorer: Scorer, images: Sequence[Any], align: str = "auto", batch_size: int = 64,
                 sources: Sequence[str] | None = None) -> tuple[np.ndarray, list[Prepared]]:
    """Per-view embeddings (N, views, dim) of the images that could be read (rows of the failed ones are zero)."""
    srcs = list(sources) if sources is not None else [describe(i) for i in images]
    preps = list(prepare_many(images, scorer.pre, align, sources=srcs, landmarks=scorer.landmarks))
    good = [k for k, p in enumerate(preps) if p.error is None]
    out = np.zeros((len(preps), scorer.views, scorer.dim), np.float32)
    if good:
        out[good] = scorer.embed(np.stack([preps[k].pixels for k in good]), batch_size)
    return out, preps
