"""High-dimensional multi-scale LBP (Chen et al., CVPR 2013) at 18 facial points of LFW-a's aligned frame.

The points are either fixed (LFW-a's commercial alignment puts the eyes, nose and mouth at nearly the same pixels
in every image) or each face's own, from dlib's landmarks (`LbpSpec.landmarks`; more accurate on View 2,
as the fusion chapter shows). Around each point a 4x4 grid of 10-px cells is described by 59-bin uniform
LBP histograms (P=8, R=1), at four image scales; the image and its mirror are averaged and the histograms
square-rooted (Hellinger). The features of all 13,233 images are computed once and cached as float16.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.images import Preprocess, load_image
from ..data.landmarks import MIRROR, points_of
from ..data.paths import FRAME, cache_dir
from ..data.perimage import every_image, map_chunks
from ..files import atomic_save_npy, atomic_write_json

#: (x, y) in the 250x250 frame, symmetric about x = 125, read off the mean LFW-a face: eye centres, outer and
#: inner eye corners, brow ends, nose bridge, tip and wings, mouth corners, upper and lower lip.
POINTS: tuple[tuple[int, int], ...] = (
    (102, 110), (148, 110), (90, 111), (160, 111), (114, 111), (136, 111),
    (95, 97), (155, 97), (115, 98), (135, 98),
    (125, 112), (125, 135), (114, 140), (136, 140),
    (107, 160), (143, 160), (125, 154), (125, 167),
)
N_BINS = 59  # 'nri_uniform' codes of P=8


@dataclass(frozen=True)
class LbpSpec:
    """What the features are; its key names the cache file."""

    points: tuple[tuple[int, int], ...] = POINTS
    scales: tuple[float, ...] = (1.0, 0.75, 0.5625, 0.421875)
    grid: int = 4
    cell: int = 10
    mirror: bool = True
    landmarks: bool = False  # each image's own points (data.landmarks.LANDMARK_POINTS) instead of `points`

    @property
    def dims(self) -> int:
        return len(self.points) * self.grid * self.grid * N_BINS * len(self.scales)

    @property
    def key(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


def _cells(spec: LbpSpec, scale: float, side: int, points: Any = None
           ) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The crop box (with 1 px for the LBP radius) and, per cell, the flat indices of its pixels in the crop."""
    half = spec.grid * spec.cell // 2
    tl = [(min(max(int(round(x * scale)) - half, 1), side - 2 * half - 1),
           min(max(int(round(y * scale)) - half, 1), side - 2 * half - 1))
          for x, y in (spec.points if points is None else points)]
    x0, y0 = min(t[0] for t in tl) - 1, min(t[1] for t in tl) - 1
    x1, y1 = max(t[0] for t in tl) + 2 * half + 1, max(t[1] for t in tl) + 2 * half + 1
    w = x1 - x0
    yy, xx = np.mgrid[0:spec.cell, 0:spec.cell]
    idx = []
    for tx, ty in tl:
        for gy in range(spec.grid):
            for gx in range(spec.grid):
                idx.append(((ty - y0 + gy * spec.cell + yy) * w + (tx - x0 + gx * spec.cell + xx)).ravel())
    return (x0, y0, x1, y1), np.stack(idx)


def lbp_features(img: np.ndarray, spec: LbpSpec = LbpSpec(), points: np.ndarray | None = None) -> np.ndarray:
    """One aligned 250x250 uint8 face -> its (spec.dims,) float32 feature vector; `points`: its own 18 points
    (`points_of`), in place of the fixed ones."""
    from skimage.feature import local_binary_pattern
    pil = Image.fromarray(np.asarray(img, np.uint8))
    out = []
    # the mirror's point i is the mirror image of point MIRROR[i], so its cells land in the same bins
    view_points = [points, None if points is None else
                   np.column_stack([FRAME - 1 - points[list(MIRROR), 0], points[list(MIRROR), 1]])]
    for s in spec.scales:
        side = int(round(FRAME * s))
        im = np.asarray(pil.resize((side, side), Image.BILINEAR) if side != FRAME else pil)
        n_cells = len(spec.points) * spec.grid * spec.grid
        offs = (np.arange(n_cells) * N_BINS)[:, None]
        hist = np.zeros(n_cells * N_BINS)
        views = [im, im[:, ::-1]] if spec.mirror else [im]
        fixed = _cells(spec, s, side) if points is None else None  # the same cells in both views
        for v, pts in zip(views, view_points):
            box, idx = fixed or _cells(spec, s, side, pts)
            crop = np.ascontiguousarray(v[box[1]:box[3], box[0]:box[2]])
            codes = local_binary_pattern(crop, 8, 1, "nri_uniform").astype(np.int64).ravel()
            hist += np.bincount((codes[idx] + offs).ravel(), minlength=n_cells * N_BINS)
        out.append(np.sqrt(hist / (len(views) * spec.cell * spec.cell)))
    return np.concatenate(out).astype(np.float32)


def _chunk(args: tuple[str, list[str], LbpSpec, np.ndarray | None]) -> np.ndarray:
    root, rels, spec, lms = args
    pre = Preprocess((), FRAME)
    return np.stack([lbp_features(load_image(Path(root) / r, pre, warn=False), spec,
                                  None if lms is None else points_of(lms[i]))
                     for i, r in enumerate(rels)]).astype(np.float16)


def _cpu_seconds() -> float:
    import resource
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


@dataclass
class LbpFeatures:
    """Every image's features (float16, memory-mapped from the cache) with a relpath -> row index."""

    paths: list[str]
    array: np.ndarray
    seconds_per_image: float

    def __post_init__(self) -> None:
        self.index = {p: i for i, p in enumerate(self.paths)}

    def rows(self, relpaths: list[str]) -> np.ndarray:
        return np.fromiter((self.index[p] for p in relpaths), np.int64, len(relpaths))


def load_features(data: str | os.PathLike | None = None, spec: LbpSpec = LbpSpec(), workers: int = 1,
                  progress: bool = True) -> LbpFeatures:
    """The features of every image of the data folder: read from $LFWSIAMESE_CACHE, else computed and cached."""
    import json
    root, paths, tag = every_image(data)
    cfile = cache_dir() / f"lbp-{spec.key}-{tag}.npy"
    meta = cfile.with_suffix(".json")
    if cfile.is_file() and meta.is_file():
        arr = np.load(cfile, mmap_mode="r")
        if arr.shape == (len(paths), spec.dims):
            return LbpFeatures(paths, arr, json.loads(meta.read_text())["seconds_per_image"])
    t0 = _cpu_seconds()  # landmarks included: they are part of the feature's cost
    lms = None
    if spec.landmarks:
        from ..data.landmarks import load_landmarks
        lms = load_landmarks(data, workers=workers, progress=progress)[1]
    chunks = [paths[i:i + 128] for i in range(0, len(paths), 128)]
    jobs = [(str(root), c, spec, None if lms is None else lms[i * 128:i * 128 + len(c)])
            for i, c in enumerate(chunks)]
    parts = map_chunks(_chunk, jobs, [len(c) for c in chunks], workers, "LBP features", progress)
    spi = (_cpu_seconds() - t0) / len(paths)  # CPU seconds per image, this process and its workers
    cache_dir().mkdir(parents=True, exist_ok=True)
    atomic_save_npy(cfile, np.concatenate(parts))
    atomic_write_json(meta, {"seconds_per_image": spi, "workers": workers, "dims": spec.dims, "spec": repr(spec)})
    return LbpFeatures(paths, np.load(cfile, mmap_mode="r"), spi)
