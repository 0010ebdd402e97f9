"""Use a trained record on new images: verify one pair, or embed a folder of images.

Images are preprocessed exactly as in training (the record's crop, size and pixel scale), so a
score here means what the record's validation threshold was chosen for.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.images import Preprocess, load_image
from ..errors import DataError, LfwSiameseError, RunError
from ..files import atomic_write_bytes, check_writable_file, write_errors
from ..recipes import is_scratch
from ..records.store import (
    Record,
    is_complete,
    load_record,
    load_run_model,
    results_dir,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TRAIN_HINT = "lfwsiamese train --config reference"


# ------------------------------------------------------------------------------------------ runs


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
            warnings.warn(f"{d / 'metrics.json'}: unreadable validation accuracy ({e}); this record is skipped", stacklevel=2)
            continue
        if math.isnan(acc):
            continue
        out.append((d, acc))
    return out


def best_run(results: str | os.PathLike | None = None) -> Path:
    """The stored record with weights and the highest VALIDATION accuracy (test metrics never choose).

    Ties go to the first run name in sorted order, so the choice is reproducible.
    """
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
    """`--run` as a folder, or as a run name under <results>/runs; absent: the best run by validation accuracy."""
    if run is None or str(run) == "":
        return best_run(results)
    p = Path(run).expanduser()
    if not p.is_dir():
        named = results_dir(results) / "runs" / str(run)
        if named.is_dir():
            return named
    return p


def load_for_inference(run: str | os.PathLike | None = None, results: str | os.PathLike | None = None) -> tuple[Record, Any]:
    """The record and its model (weights checked against the record's config); clear errors otherwise."""
    run_dir = resolve_run(run, results)
    rec = load_record(run_dir)
    return rec, load_run_model(run_dir)


def preprocess_for(rec: Record) -> Preprocess:
    return Preprocess.of(rec.config.data)


def to_model_input(pixels: np.ndarray, pixel_scale: float) -> np.ndarray:
    """uint8 (..., size, size) -> float32 (..., size, size, 1) scaled as the training pipeline does."""
    return pixels.astype(np.float32)[..., None] * np.float32(pixel_scale)


def read_image(path: str | os.PathLike, pre: Preprocess) -> np.ndarray:
    """`data.load_image`, with Pillow's decompression-bomb refusal also reported as a DataError."""
    from PIL import Image
    try:
        return load_image(path, pre)
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: refused by Pillow as too large ({e})") from None


# ---------------------------------------------------------------------------------------- verify


@dataclass
class Verification:
    """One decision: `same` is score > threshold, the rule the record's metrics were computed with."""

    image_a: str
    image_b: str
    same: bool
    score: float
    threshold: float
    run: str
    warnings: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return "same person" if self.same else "different people"

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, **asdict(self)}


def score_pair(model: Any, a: np.ndarray, b: np.ndarray, pixel_scale: float) -> float:
    """P(same person) for two preprocessed uint8 images."""
    xa, xb = to_model_input(a[None], pixel_scale), to_model_input(b[None], pixel_scale)
    out = model([xa, xb], training=False)
    return float(np.asarray(out, dtype=np.float64).ravel()[0])


def verify_images(image_a: str | os.PathLike, image_b: str | os.PathLike, run: str | os.PathLike | None = None,
                  results: str | os.PathLike | None = None) -> Verification:
    """Decide whether two image files show the same person, with the run's validation threshold.

    Images are read before the model is loaded, so a bad image fails fast. Warnings about images that
    are not aligned 250x250 grayscale LFW-a faces are raised (and also kept in the result).
    """
    run_dir = resolve_run(run, results)
    rec = load_record(run_dir)
    if "threshold" not in rec.metrics:
        raise RunError(f"{run_dir / 'metrics.json'}: no 'threshold'; the record is damaged: retrain it")
    pre = preprocess_for(rec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = read_image(image_a, pre)
        b = read_image(image_b, pre)
    for w in caught:  # re-raise for the caller's own warning handling
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    model = load_run_model(run_dir)
    score = score_pair(model, a, b, rec.config.data.pixel_scale)
    threshold = float(rec.metrics["threshold"])
    return Verification(str(image_a), str(image_b), bool(score > threshold), score, threshold, str(run_dir),
                        [str(w.message) for w in caught])


# ----------------------------------------------------------------------------------------- embed


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Every .jpg/.jpeg/.png (any case) under `folder`, recursively, sorted by relative path."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected a folder of .jpg/.jpeg/.png images")
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not found:
        raise DataError(f"{root}: no .jpg, .jpeg or .png files found (searched recursively)")
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


@dataclass
class EmbedResult:
    """What `embed_folder` wrote and what it skipped (path, reason)."""

    out: Path
    run: Path
    paths: list[str]
    embeddings: np.ndarray
    skipped: list[tuple[str, str]]
    not_lfwa: int = 0


def embed_arrays(tower: Any, pixels: np.ndarray, pixel_scale: float, batch_size: int = 64) -> np.ndarray:
    """Tower outputs (N, D) float32 for preprocessed uint8 images (N, size, size)."""
    parts = [np.asarray(tower(to_model_input(pixels[i:i + batch_size], pixel_scale), training=False), dtype=np.float32)
             for i in range(0, len(pixels), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, int(tower.output.shape[-1])), np.float32)


def check_out_path(out: str | os.PathLike) -> Path:
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".npz", ".csv"):
        raise LfwSiameseError(f"--out {out}: unknown format {out.suffix or '(no extension)'!r}; name it *.npz or *.csv")
    if out.is_dir():
        raise LfwSiameseError(f"--out {out}: is a folder; give a file name ending in .npz or .csv")
    return check_writable_file(out, f"--out {out}", "give --out a file in a folder you can write")


def write_embeddings(out: str | os.PathLike, paths: Sequence[str], embeddings: np.ndarray) -> Path:
    """`.npz` (arrays `paths`, `embeddings`) or `.csv` (path, e0..eD-1), written atomically."""
    out = check_out_path(out)
    emb = np.asarray(embeddings, dtype=np.float32)
    if out.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["path"] + [f"e{k}" for k in range(emb.shape[1])])
        for p, row in zip(paths, emb):
            w.writerow([p] + [repr(float(v)) for v in row])
        data = buf.getvalue().encode("utf-8")
    else:
        bio = io.BytesIO()
        np.savez(bio, paths=np.array(list(paths), dtype=str), embeddings=emb)
        data = bio.getvalue()
    with write_errors(out, "nothing was written to it; free space on that disk (or choose another --out) and rerun"):
        atomic_write_bytes(out, data)
    return out


def embed_folder(folder: str | os.PathLike, out: str | os.PathLike, run: str | os.PathLike | None = None,
                 results: str | os.PathLike | None = None, batch_size: int = 64, progress: bool = True) -> EmbedResult:
    """Embed every image under `folder` with a run's tower; unreadable images are skipped with a warning."""
    out = check_out_path(out)
    if batch_size < 1:
        raise LfwSiameseError(f"--batch-size {batch_size}: must be >= 1")
    root = Path(folder).expanduser()
    files = find_images(root)
    rec, model = load_for_inference(run, results)
    tower = model.get_layer("tower")
    pre, scale = preprocess_for(rec), rec.config.data.pixel_scale
    from tqdm.auto import tqdm
    kept: list[str] = []
    parts: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    not_lfwa: list[str] = []
    with tqdm(total=len(files), desc="embedding", unit="img", disable=not progress) as bar:
        for i in range(0, len(files), batch_size):
            pixels: list[np.ndarray] = []
            for f in files[i:i + batch_size]:
                rel = f.relative_to(root).as_posix()
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        pixels.append(read_image(f, pre))
                except DataError as e:
                    skipped.append((rel, str(e)))
                    continue
                if caught:
                    not_lfwa.append(rel)
                kept.append(rel)
            if pixels:
                parts.append(embed_arrays(tower, np.stack(pixels), scale, batch_size))
            bar.update(len(files[i:i + batch_size]))
    if not kept:
        shown = "; ".join(reason for _, reason in skipped[:5])
        raise DataError(f"{root}: none of the {len(files)} image file(s) could be read ({shown})")
    if not_lfwa:
        warnings.warn(f"{len(not_lfwa)} image(s) are not 250x250 grayscale aligned LFW-a faces and were converted/resized "
                      f"(e.g. {', '.join(not_lfwa[:3])}); their embeddings are less reliable", stacklevel=2)
    if skipped:
        listed = ", ".join(f"{p} ({r.split(': ', 1)[-1]})" for p, r in skipped[:20])
        more = f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        warnings.warn(f"skipped {len(skipped)} unreadable image(s): {listed}{more}", stacklevel=2)
    emb = np.concatenate(parts)
    write_embeddings(out, kept, emb)
    return EmbedResult(out, rec.path, kept, emb, skipped, len(not_lfwa))
