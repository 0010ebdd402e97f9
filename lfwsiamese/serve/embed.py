"""`lfwsiamese embed`: the tower's embeddings of a folder of images, written as .npz or .csv."""
from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.align import check_mode
from ..errors import DataError, LfwSiameseError
from ..files import atomic_write_bytes, check_writable_file, write_errors
from .inputs import find_images, prepare_many
from .models import load_scorer


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
    """A Keras tower's outputs (N, D) float32 for preprocessed uint8 images (N, size, size), scaled as in training."""
    scale = np.float32(pixel_scale)
    parts = [np.asarray(tower(pixels[i:i + batch_size].astype(np.float32)[..., None] * scale, training=False),
                        dtype=np.float32) for i in range(0, len(pixels), batch_size)]
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
            for rel, p in zip(rels, prepare_many(batch, scorer.pre, align, sources=[str(f) for f in batch],
                                                          landmarks=scorer.landmarks)):
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
