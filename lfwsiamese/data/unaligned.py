"""LFW-a faces re-rendered as ordinary, unaligned photos: rotated, rescaled, shifted and pasted on a larger noisy
canvas. The test bed of the face alignment (`data.align`): the transform used is known, so what alignment recovers can
be measured, and a protocol's pairs can be scored aligned, unaligned, and unaligned-then-aligned.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..files import atomic_write_bytes, atomic_write_text
from .align import similarity
from .paths import FRAME, images_dir, require_data_dir
from .protocols import Pair


@dataclass(frozen=True)
class Render:
    """How far an unaligned photo strays from LFW-a's frame (the defaults are those of the book's experiment)."""

    canvas: int = 400  # side of the square canvas
    max_angle: float = 25.0  # degrees, uniform in +-max_angle
    scale: tuple[float, float] = (0.7, 1.4)  # face size relative to LFW-a's, log-uniform
    max_shift: float = 60.0  # canvas pixels, uniform in each direction
    noise_sd: float = 40.0  # of the canvas's Gaussian background around grey 128


def render_unaligned(img: np.ndarray, rng: np.random.Generator, r: Render = Render()) -> tuple[np.ndarray, np.ndarray]:
    """A 250x250 uint8 face -> (canvas uint8, the 2x3 transform frame -> canvas that placed it)."""
    import cv2
    if img.shape != (FRAME, FRAME):
        raise ValueError(f"expected a {FRAME}x{FRAME} LFW-a image, got {img.shape}")
    angle = rng.uniform(-r.max_angle, r.max_angle)
    scale = float(np.exp(rng.uniform(np.log(r.scale[0]), np.log(r.scale[1]))))
    shift = rng.uniform(-r.max_shift, r.max_shift, 2)
    m = similarity(scale, angle, (FRAME / 2, FRAME / 2), r.canvas / 2 + shift)
    canvas = np.clip(rng.normal(128.0, r.noise_sd, (r.canvas, r.canvas)), 0, 255).astype(np.uint8)
    size = (r.canvas, r.canvas)
    face = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.warpAffine(np.full_like(img, 255), m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    canvas[inside > 0] = face[inside > 0]
    return canvas, m


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image
    bio = io.BytesIO()
    Image.fromarray(arr, "L").save(bio, format="PNG")
    return bio.getvalue()


def write_pairs_csv(path: str | os.PathLike, rows: Sequence[tuple[str, str, int]]) -> Path:
    """A pairs file as `verify --pairs` reads it: header path_a,path_b,label."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path_a", "path_b", "label"])
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def protocol_pairs_csv(pairs: Sequence[Pair], out: str | os.PathLike, data: str | os.PathLike | None = None) -> Path:
    """A protocol's pairs (e.g. the 1,000 of pairsDevTest) as a pairs file of absolute image paths."""
    root = images_dir(require_data_dir(data)).resolve()
    return write_pairs_csv(out, [(str(root / p.a.relpath), str(root / p.b.relpath), p.label) for p in pairs])


def render_pairs(pairs: Sequence[Pair], out_dir: str | os.PathLike, data: str | os.PathLike | None = None,
                 seed: int = 0, r: Render = Render()) -> tuple[Path, Path]:
    """Every image of `pairs` re-rendered as an unaligned photo (PNG, one per distinct image; image k of the sorted
    distinct images draws from the generator seeded by (seed, k), so any one can be rendered again alone).

    Returns (pairs file of the originals, pairs file of the renders); `transforms.npz` keeps each render's transform.
    """
    from PIL import Image
    out = Path(out_dir)
    root = images_dir(require_data_dir(data)).resolve()
    refs = sorted({ref for p in pairs for ref in (p.a, p.b)})
    names, mats = [], []
    for k, ref in enumerate(refs):
        with Image.open(root / ref.relpath) as im:
            img = np.asarray(im.convert("L"), dtype=np.uint8)
        canvas, m = render_unaligned(img, np.random.default_rng([seed, k]), r)
        name = f"{ref.name}_{ref.index:04d}.png"
        atomic_write_bytes(out / "images" / name, _png(canvas))
        names.append(name)
        mats.append(m)
    bio = io.BytesIO()
    np.savez(bio, names=np.array(names), transforms=np.array(mats))
    atomic_write_bytes(out / "transforms.npz", bio.getvalue())
    rendered = {ref: str((out / "images" / n).resolve()) for ref, n in zip(refs, names)}
    orig = protocol_pairs_csv(pairs, out / "aligned.csv", data)
    unal = write_pairs_csv(out / "unaligned.csv", [(rendered[p.a], rendered[p.b], p.label) for p in pairs])
    return orig, unal
