"""Use a model on new images: verify one pair, or embed a folder of images.

The model is the shipped one (`serve.scorer.load_shipped`, ONNX Runtime) unless `run` names a stored record, whose
model then runs through Keras (`KerasScorer`). Either way images are aligned when needed and preprocessed as in
training (the record's crop, size and pixel scale), and pairs are scored as the record's test scores were (flip
averaging included), so a score means what the validation threshold was chosen for.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.align import check_mode
from ..data.images import Preprocess
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
from ..serve.inputs import find_images, prepare_many
from ..serve.scorer import Head, Scorer
from ..serve.verify import Verification, prepared_or_raise, verify_pair

__all__ = ["BEST", "EmbedResult", "KerasScorer", "Verification", "best_run", "embed_arrays", "embed_folder",
           "head_spec", "load_scorer", "resolve_run", "run_candidates", "verify_images", "write_embeddings"]

TRAIN_HINT = "lfwsiamese train --config reference"
BEST = "best"  # --run best: the stored record with weights and the best validation accuracy


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


def preprocess_for(rec: Record) -> Preprocess:
    return Preprocess.of(rec.config.data)


def to_model_input(pixels: np.ndarray, pixel_scale: float) -> np.ndarray:
    """uint8 (..., size, size) -> float32 (..., size, size, 1) scaled as the training pipeline does."""
    return pixels.astype(np.float32)[..., None] * np.float32(pixel_scale)


# ---------------------------------------------------------------------------------------- verify


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
    threshold, crop, size, pixel scale and flip averaging."""

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
    """The shipped model (no `run`), or a stored record's (`run`: a folder, a run name, or "best": the record with
    weights and the best validation accuracy under `results`)."""
    if run is None or str(run) == "":
        from ..serve.scorer import load_shipped
        return load_shipped()
    return KerasScorer(resolve_run(None if str(run) == BEST else run, results))


def verify_images(image_a: Any, image_b: Any, run: str | os.PathLike | None = None,
                  results: str | os.PathLike | None = None, align: str = "auto") -> Verification:
    """Decide whether two images show the same person, with the model's validation threshold.

    Images are read before a record's model is loaded, so a bad image fails fast. Notes about images that are not
    aligned 250x250 grayscale LFW-a faces are raised as warnings (and also kept in the result).
    """
    check_mode(align)
    if run is not None and str(run) != "":
        rec = load_record(resolve_run(None if str(run) == BEST else run, results))
        for p in prepare_many([image_a, image_b], preprocess_for(rec), align, workers=2):
            prepared_or_raise(p)
    v = verify_pair(load_scorer(run, results), image_a, image_b, align)
    for note in v.warnings:
        warnings.warn(note, stacklevel=2)
    return v


# ----------------------------------------------------------------------------------------- embed


@dataclass
class EmbedResult:
    """What `embed_folder` wrote and what it skipped (path, reason)."""

    out: Path
    run: str  # the model: "shipped:<run>" or the record's folder
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
                 results: str | os.PathLike | None = None, batch_size: int = 64, progress: bool = True,
                 align: str = "auto") -> EmbedResult:
    """Embed every image under `folder` with the model's tower (the unmirrored view); unreadable images, and images
    without a face where alignment is needed, are skipped with a warning."""
    out = check_out_path(out)
    if batch_size < 1:
        raise LfwSiameseError(f"--batch-size {batch_size}: must be >= 1")
    check_mode(align)
    root = Path(folder).expanduser()
    files = find_images(root)
    scorer = load_scorer(run, results)
    from tqdm.auto import tqdm
    kept: list[str] = []
    parts: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    not_lfwa: list[str] = []
    with tqdm(total=len(files), desc="embedding", unit="img", disable=not progress) as bar:
        for i in range(0, len(files), batch_size):
            batch = files[i:i + batch_size]
            rels = [f.relative_to(root).as_posix() for f in batch]
            pixels = []
            for rel, p in zip(rels, prepare_many(batch, scorer.pre, align, sources=[str(f) for f in batch])):
                if p.error is not None:
                    skipped.append((rel, p.error))
                    continue
                if p.notes or p.aligned:
                    not_lfwa.append(rel)
                kept.append(rel)
                pixels.append(p.pixels)
            if pixels:
                parts.append(scorer.embed(np.stack(pixels), batch_size)[:, 0])
            bar.update(len(batch))
    if not kept:
        shown = "; ".join(reason for _, reason in skipped[:5])
        raise DataError(f"{root}: none of the {len(files)} image file(s) could be used ({shown})")
    if not_lfwa:
        warnings.warn(f"{len(not_lfwa)} image(s) are not 250x250 grayscale aligned LFW-a faces and were aligned or "
                      f"converted (e.g. {', '.join(not_lfwa[:3])}); their embeddings are less reliable", stacklevel=2)
    if skipped:
        listed = ", ".join(f"{p} ({r.split(': ', 1)[-1]})" for p, r in skipped[:20])
        more = f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        warnings.warn(f"skipped {len(skipped)} unusable image(s): {listed}{more}", stacklevel=2)
    emb = np.concatenate(parts)
    write_embeddings(out, kept, emb)
    return EmbedResult(out, scorer.name, kept, emb, skipped, len(not_lfwa))
