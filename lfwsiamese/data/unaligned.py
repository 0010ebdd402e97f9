"""LFW-a faces re-rendered as ordinary, unaligned photos: rotated, rescaled, shifted and pasted on a larger noisy
canvas. The test bed of the face alignment (`data.align`): the transform used is known, so what alignment recovers can
be measured, and a protocol's pairs can be scored aligned, unaligned, and unaligned-then-aligned.

`PHOTO` adds what ordinary photos add on top (`Render`'s defaults add none of it, so the alignment experiment's renders
stay as they were): a small out-of-plane turn (a perspective squeeze of the face), uneven lighting (a linear gradient
and a gamma), blur, a colour cast (the photo becomes RGB) and JPEG compression. The shipped model's calibration is
fitted on validation people's pairs rendered this way (`serve.calibrate`).
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
from .protocols import ImageRef, Pair


@dataclass(frozen=True)
class Render:
    """How far an unaligned photo strays from LFW-a's frame (the defaults are those of the book's experiment)."""

    canvas: int = 400  # side of the square canvas
    max_angle: float = 25.0  # degrees, uniform in +-max_angle
    scale: tuple[float, float] = (0.7, 1.4)  # face size relative to LFW-a's, log-uniform
    max_shift: float = 60.0  # canvas pixels, uniform in each direction
    noise_sd: float = 40.0  # of the canvas's Gaussian background around grey 128
    max_turn: float = 0.0  # degrees of a simulated out-of-plane turn, left-right and up-down, uniform in +-max_turn
    light: float = 0.0  # a linear lighting gradient: brightness from 1 - light to 1 + light across the face
    gamma: tuple[float, float] = (1.0, 1.0)  # log-uniform
    blur_sd: float = 0.0  # the Gaussian blur's sigma in pixels is uniform in 0..blur_sd
    colour_cast: float = 0.0  # each RGB channel's gain uniform in 1 +- colour_cast (0: the render stays grayscale)
    jpeg_quality: tuple[int, int] = (0, 0)  # uniform (inclusive); (0, 0): stored losslessly as PNG


#: Ordinary photos: the geometry of `Render()` plus turns, lighting, blur, colour casts and JPEG compression.
PHOTO = Render(max_turn=15.0, light=0.35, gamma=(0.7, 1.4), blur_sd=1.5, colour_cast=0.15, jpeg_quality=(30, 95))


def _turn(img: np.ndarray, rng: np.random.Generator, max_turn: float) -> np.ndarray:
    """A small out-of-plane turn of a 250x250 face, as a perspective squeeze: the side turned away gets shorter and
    the face narrower (yaw), or the top or bottom (pitch)."""
    import cv2
    yaw, pitch = np.radians(rng.uniform(-max_turn, max_turn, 2))
    c = FRAME / 2
    src = np.float32([[0, 0], [FRAME, 0], [FRAME, FRAME], [0, FRAME]])
    k_y, k_p = 0.5 * np.sin(yaw), 0.5 * np.sin(pitch)  # relative change of the near and far edges
    w, h = c * np.cos(yaw), c * np.cos(pitch)
    dst = np.float32([[c - w * (1 - k_p), c - h * (1 - k_y)], [c + w * (1 - k_p), c - h * (1 + k_y)],
                      [c + w * (1 + k_p), c + h * (1 + k_y)], [c - w * (1 + k_p), c + h * (1 - k_y)]])
    return cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (FRAME, FRAME), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def _photo_effects(canvas: np.ndarray, rng: np.random.Generator, r: Render) -> np.ndarray:
    """Lighting, gamma, blur and colour cast on a rendered canvas (uint8 gray in; gray, or RGB with a cast, out)."""
    import cv2
    x = canvas.astype(np.float32) / 255.0
    if r.light:
        d = rng.normal(size=2)
        d /= np.linalg.norm(d) + 1e-9
        yy, xx = (np.mgrid[0:r.canvas, 0:r.canvas] - r.canvas / 2) / (r.canvas / 2)
        x = x * (1.0 + r.light * rng.uniform(0, 1) * (d[0] * xx + d[1] * yy))
    if r.gamma != (1.0, 1.0):
        x = np.clip(x, 0, 1) ** float(np.exp(rng.uniform(np.log(r.gamma[0]), np.log(r.gamma[1]))))
    if r.blur_sd:
        sd = rng.uniform(0, r.blur_sd)
        if sd > 0.2:
            x = cv2.GaussianBlur(x, (0, 0), sd)
    if r.colour_cast:
        x = x[..., None] * rng.uniform(1 - r.colour_cast, 1 + r.colour_cast, 3).astype(np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_unaligned(img: np.ndarray, rng: np.random.Generator, r: Render = Render()) -> tuple[np.ndarray, np.ndarray]:
    """A 250x250 uint8 face -> (canvas uint8, the 2x3 transform frame -> canvas that placed it). With `PHOTO`'s
    effects the canvas is RGB, and the transform ignores the small turn."""
    import cv2
    if img.shape != (FRAME, FRAME):
        raise ValueError(f"expected a {FRAME}x{FRAME} LFW-a image, got {img.shape}")
    angle = rng.uniform(-r.max_angle, r.max_angle)
    scale = float(np.exp(rng.uniform(np.log(r.scale[0]), np.log(r.scale[1]))))
    shift = rng.uniform(-r.max_shift, r.max_shift, 2)
    m = similarity(scale, angle, (FRAME / 2, FRAME / 2), r.canvas / 2 + shift)
    canvas = np.clip(rng.normal(128.0, r.noise_sd, (r.canvas, r.canvas)), 0, 255).astype(np.uint8)
    if r.max_turn:
        img = _turn(img, rng, r.max_turn)
    size = (r.canvas, r.canvas)
    face = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.warpAffine(np.full_like(img, 255), m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    canvas[inside > 0] = face[inside > 0]
    if r.light or r.gamma != (1.0, 1.0) or r.blur_sd or r.colour_cast:
        canvas = _photo_effects(canvas, rng, r)
    return canvas, m


def encode(arr: np.ndarray, quality: int = 0) -> bytes:
    """A gray or RGB uint8 image as PNG (quality 0) or as JPEG of that quality."""
    from PIL import Image
    bio = io.BytesIO()
    img = Image.fromarray(arr, "L" if arr.ndim == 2 else "RGB")
    if quality:
        img.save(bio, format="JPEG", quality=int(quality))
    else:
        img.save(bio, format="PNG")
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


def render_image(refs: Sequence[ImageRef], k: int, data: str | os.PathLike | None = None, seed: int = 0,
                 r: Render = Render()) -> np.ndarray:
    """Image k of the sorted distinct images `refs` of a pair list, rendered exactly as `render_pairs` renders it
    (before the JPEG compression it may add)."""
    from PIL import Image
    with Image.open(images_dir(require_data_dir(data)) / refs[k].relpath) as im:
        img = np.asarray(im.convert("L"), dtype=np.uint8)
    return render_unaligned(img, np.random.default_rng([seed, k]), r)[0]


def render_pairs(pairs: Sequence[Pair], out_dir: str | os.PathLike, data: str | os.PathLike | None = None,
                 seed: int = 0, r: Render = Render()) -> tuple[Path, Path]:
    """Every image of `pairs` re-rendered as an unaligned photo (PNG, or JPEG where `r` asks for it; one per distinct
    image; image k of the sorted distinct images draws from the generator seeded by (seed, k), so any one can be
    rendered again alone).

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
        rng = np.random.default_rng([seed, k])
        canvas, m = render_unaligned(img, rng, r)
        quality = int(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1)) if r.jpeg_quality[1] else 0
        name = f"{ref.name}_{ref.index:04d}.{'jpg' if quality else 'png'}"
        atomic_write_bytes(out / "images" / name, encode(canvas, quality))
        names.append(name)
        mats.append(m)
    bio = io.BytesIO()
    np.savez(bio, names=np.array(names), transforms=np.array(mats))
    atomic_write_bytes(out / "transforms.npz", bio.getvalue())
    rendered = {ref: str((out / "images" / n).resolve()) for ref, n in zip(refs, names)}
    orig = protocol_pairs_csv(pairs, out / "aligned.csv", data)
    unal = write_pairs_csv(out / "unaligned.csv", [(rendered[p.a], rendered[p.b], p.label) for p in pairs])
    return orig, unal
