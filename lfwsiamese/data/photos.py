"""LFW-a's images as the verifier sees users' photos, for training what is served (`DataConfig.images="mixed"`).

Each image is rendered as an ordinary photo (`unaligned.PHOTO`: turned, rotated, rescaled, shifted, lit unevenly,
blurred, colour-cast, JPEG-compressed), read back as the verifier reads a file (Pillow's grayscale conversion), then
detected and aligned by `align.align_face` with the landmark step the shipped model's card names (`LANDMARKS`),
and preprocessed like any image. Image k of the
store draws its render from the generator seeded by (RENDER_SEED, k): another seed than the calibration's photos
(`serve.calibrate`: 1 and 2), so the photos the calibration is fitted and measured on are never trained on.

A `MixedStore` holds both versions: rows [0, n) the LFW-a crops, rows [n, 2n) the photos; a name is looked up as its
photo (validation and test are scored as served), and `mix` sends each side of a training pair to its crop with
probability one half, per epoch, from the seed alone (a resumed run draws the same).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import ImageStore, Preprocess, load_images, preprocess_image
from .paths import cache_dir, require_data_dir

RENDER_SEED = 3
#: The landmark model of the verifier's alignment (the shipped card's "landmarks5"; a test keeps the two in step)
LANDMARKS = "5"
RNG_MIX = 7919  # the crop-or-photo draws of training pairs: rng((seed, RNG_MIX, epoch))
IMAGES = ("lfwa", "mixed")


def served_photo(gray: np.ndarray, k: int, pre: Preprocess, seed: int = RENDER_SEED) -> tuple[np.ndarray, bool]:
    """One 250x250 LFW-a image -> (its photo as the verifier prepares it, whether a face was found); where none is
    found the LFW-a image itself is preprocessed (training needs an image; the count is kept with the cache)."""
    from PIL import Image

    from .align import FaceNotFoundError, align_face
    from .unaligned import PHOTO, encode, render_unaligned
    rng = np.random.default_rng([seed, k])
    canvas, _ = render_unaligned(gray, rng, PHOTO)
    quality = int(rng.integers(PHOTO.jpeg_quality[0], PHOTO.jpeg_quality[1] + 1))
    with Image.open(io.BytesIO(encode(canvas, quality))) as im:
        photo = np.asarray(im.convert("L"), np.uint8)
    try:
        aligned = align_face(photo, f"image {k}", warn=False, landmarks=LANDMARKS).image
        found = True
    except FaceNotFoundError:
        aligned, found = gray, False
    return preprocess_image(Image.fromarray(aligned, "L"), pre, warn=False), found


def _chunk(args: tuple[str, list[str], int, Preprocess, int]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    root, rels, first, pre, seed = args
    out = np.empty((len(rels), pre.size, pre.size), np.uint8)
    found = np.empty(len(rels), bool)
    for j, rel in enumerate(rels):
        with Image.open(os.path.join(root, rel)) as im:
            gray = np.asarray(im.convert("L"), np.uint8)
        out[j], found[j] = served_photo(gray, first + j, pre, seed)
    return out, found


def served_photos(data: str | os.PathLike | None, pre: Preprocess, seed: int = RENDER_SEED, workers: int | None = None,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(every image as a served photo, in the store's order; found flags), cached in $LFWSIAMESE_CACHE (about
    0.15 s an image on one core, detection mostly)."""
    from ..files import atomic_save_npy
    from .perimage import every_image, map_chunks
    root, paths, tag = every_image(data)
    name = f"photos-{tag}-s{seed}-{pre.key}-lm{LANDMARKS}-v1"
    cfile, ffile = cache_dir() / f"{name}.npy", cache_dir() / f"{name}-found.npy"
    if cfile.is_file() and ffile.is_file():
        return np.load(cfile), np.load(ffile)
    chunks = [(i, paths[i:i + 128]) for i in range(0, len(paths), 128)]
    parts = map_chunks(_chunk, [(str(root), c, i, pre, seed) for i, c in chunks], [len(c) for _, c in chunks],
                       workers or min(os.cpu_count() or 1, 8), "photos as served", progress)
    cache_dir().mkdir(parents=True, exist_ok=True)
    atomic_save_npy(ffile, np.concatenate([f for _, f in parts]))
    atomic_save_npy(cfile, np.concatenate([a for a, _ in parts]))
    return np.load(cfile), np.load(ffile)


@dataclass
class MixedStore(ImageStore):
    """Crops in rows [0, n), the same images as served photos in rows [n, 2n); names look up their photos."""

    found: Any = None  # per image: whether the photo's face was found (else its row holds the crop)

    def __post_init__(self) -> None:
        self.n = len(self.paths)
        if self.array.shape[0] != 2 * self.n:
            raise ValueError(f"a MixedStore holds 2 x {self.n} images, got {self.array.shape[0]}")
        self.index = {p: self.n + i for i, p in enumerate(self.paths)}

    def mix(self, rows: np.ndarray, seed: int, first_epoch: int = 0) -> np.ndarray:
        """Training rows (epochs, pairs) or (pairs,): each moved to its crop with probability one half; row e of a
        2-D array is epoch first_epoch + e, drawn from (seed, RNG_MIX, epoch) alone."""
        rows = np.asarray(rows)
        flat = rows.reshape(-1, rows.shape[-1])
        out = np.empty_like(flat)
        for e, r in enumerate(flat):
            coin = np.random.default_rng([seed, RNG_MIX, first_epoch + e]).random(len(r)) < 0.5
            out[e] = np.where(coin & (r >= self.n), r - self.n, r)
        return out.reshape(rows.shape)


def load_store(images: str, data: str | os.PathLike | None, pre: Preprocess, progress: bool = True) -> ImageStore:
    """The images a run trains and is scored on: LFW-a's crops ("lfwa"), or crops and served photos ("mixed")."""
    if images not in IMAGES:
        raise ValueError(f"images={images!r}: expected one of {IMAGES}")
    data_dir = require_data_dir(data)
    crops = load_images(data_dir, pre, progress=progress)
    if images == "lfwa":
        return crops
    photos, found = served_photos(data_dir, pre, progress=progress)
    if len(photos) != len(crops.paths):
        raise ValueError(f"{len(photos)} photos for {len(crops.paths)} images: the photo cache is stale; remove it")
    return MixedStore(crops.paths, np.concatenate([crops.array, photos]), pre, found)
