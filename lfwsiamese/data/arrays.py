"""NumPy batches through `keras.utils.PyDataset`: the input pipeline on backends other than TensorFlow (JAX).

The same contract as the tf.data pipeline (`tfdata`): images stay one uint8 array and each batch gathers, casts and
scales only its own rows; epoch e's order and augmentation are functions of (seed, e) alone (a resumed run sees
what the uninterrupted run saw); batches never cross epochs; evaluation keeps the pairs' order. Augmentation has
the same kinds and ranges, and the shift/rotation resamples as TensorFlow's ImageProjectiveTransformV3 does
(bilinear, reflected edges): only the random numbers come from NumPy instead of TensorFlow's stateless generator.

Every batch is a pure function of its index, so a few threads compute the next batches while the accelerator
works on this one, and the order never depends on the threads.
"""
from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np

RNG_ORDER, RNG_AUGMENT = 11, 12  # random streams (data.splits holds 1..5)
KINDS = ("flip", "shift", "rotate", "brightness", "contrast")


def reflect(coord: np.ndarray, n: int) -> np.ndarray:
    """Coordinates outside 0..n-1 reflected as TensorFlow's REFLECT fill mode does ([dcba|abcd|dcba]), clamped."""
    if n <= 1:
        return np.zeros_like(coord)
    c = np.mod(coord + 0.5, 2 * n) - 0.5  # period 2n, symmetric about -0.5 and n - 0.5
    c = np.where(c > n - 0.5, 2 * n - 1 - c, c)
    return np.clip(c, 0.0, n - 1.0)


def affine(x: np.ndarray, angle: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Rotate each image of x (B, H, W) by angle[k] radians about its centre, then shift it by shift[k] = (dx, dy)
    pixels: bilinear, reflected edges; the transform of the tf.data pipeline, in NumPy."""
    bsz, h, w = x.shape
    if not np.any(angle):  # a shift alone is separable: interpolate along rows, then along columns
        return _shift(x, shift)
    c, s = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    half_w, half_h = np.float32(w / 2.0), np.float32(h / 2.0)
    tx = half_w - c * half_w + s * half_h + shift[:, 0]
    ty = half_h - s * half_w - c * half_h + shift[:, 1]
    ox = np.arange(w, dtype=np.float32)[None, None, :]
    oy = np.arange(h, dtype=np.float32)[None, :, None]
    c, s, tx, ty = (v[:, None, None].astype(np.float32) for v in (c, s, tx, ty))
    ix = reflect(c * ox - s * oy + tx, w)  # output pixel -> input point, as the projective transform maps
    iy = reflect(s * ox + c * oy + ty, h)
    x0, y0 = np.floor(ix), np.floor(iy)
    fx, fy = ix - x0, iy - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)  # (at the last pixel its weight is 0)
    base = (np.arange(bsz, dtype=np.int64) * h * w)[:, None, None]
    flat = x.reshape(-1)

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return flat[base + yy * w + xx]

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _shift(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """`affine` with no rotation: output pixel (i, j) reads input point (i + dy, j + dx), bilinear, reflected edges.

    NumPy's "symmetric" padding is TensorFlow's REFLECT ([dcba|abcd|dcba]), and bilinear weights between padded
    neighbours equal TensorFlow's reflect-then-interpolate, so each image is four shifted views of one padded array.
    """
    b, h, w = x.shape
    p = int(np.ceil(np.abs(shift).max(initial=0.0))) + 1
    xp = np.pad(x, ((0, 0), (p, p), (p, p)), mode="symmetric")
    out = np.empty_like(x)
    for k in range(b):
        fx, fy = np.floor(shift[k, 0]), np.floor(shift[k, 1])
        ax, ay = np.float32(shift[k, 0] - fx), np.float32(shift[k, 1] - fy)
        r, c = int(fy) + p, int(fx) + p
        win = xp[k, r:r + h + 1, c:c + w + 1]
        cols = win[:, :w] * (1 - ax) + win[:, 1:] * ax
        out[k] = cols[:h] * (1 - ay) + cols[1:] * ay
    return out


def augment(x: np.ndarray, kinds: tuple[str, ...], seed: tuple[int, ...]) -> np.ndarray:
    """Random, per-image augmentation of float images (B, H, W) in 0..255 units; the randomness depends only on
    `seed`, one stream per kind, so adding a kind leaves the others' draws unchanged."""
    b, h, _ = x.shape

    def u(kind: str, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
        rng = np.random.default_rng([*seed, RNG_AUGMENT, KINDS.index(kind)])
        return rng.uniform(lo, hi, shape).astype(np.float32)

    x = np.array(x, np.float32)  # (a copy: changed in place below)
    if "flip" in kinds:
        flip = u("flip", (b,), 0.0, 1.0) < 0.5
        x[flip] = x[flip][:, :, ::-1]
    if "shift" in kinds or "rotate" in kinds:
        angle = u("rotate", (b,), -10.0, 10.0) * np.float32(math.pi / 180.0) if "rotate" in kinds else np.zeros(b, np.float32)
        shift = u("shift", (b, 2), -0.06, 0.06) * np.float32(h) if "shift" in kinds else np.zeros((b, 2), np.float32)
        x = affine(x, angle, shift)
    if "brightness" in kinds:
        x += u("brightness", (b, 1, 1), -25.0, 25.0)
    if "contrast" in kinds:
        mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float32)
        x -= mean
        x *= u("contrast", (b, 1, 1), 0.8, 1.2)
        x += mean
    if "brightness" in kinds or "contrast" in kinds:
        np.clip(x, 0.0, 255.0, out=x)
    return x


def _kinds(augment_spec: str) -> tuple[str, ...]:
    kinds = tuple(k for k in augment_spec.split(",") if k)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; known: {KINDS}")
    return kinds


class PairBatches(keras.utils.PyDataset):
    """Batches of ((img_a, img_b), label) from rows into one uint8 array; batch i is a pure function of i.

    `a`, `b`, `y` hold every pair in the order it is served; `bounds[i]` is batch i's (start, stop) in them and
    `tags[i]` its augmentation seed (run seed, epoch, batch of the epoch). `prefetch` threads compute the next
    batches ahead (NumPy releases the GIL in its array work)."""

    def __init__(self, images: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, bounds: np.ndarray,
                 tags: np.ndarray | None = None, pixel_scale: float = 1.0, kinds: tuple[str, ...] = (),
                 flip: bool = False, prefetch: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.images = np.asarray(images)
        self.a, self.b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        self.y = np.asarray(y, np.float32)
        self.bounds, self.tags = np.asarray(bounds, np.int64), tags
        self.pixel_scale, self.kinds, self.flip = np.float32(pixel_scale), kinds, flip
        self.prefetch = prefetch
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future] = {}

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def num_batches(self) -> int:
        return len(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def batch(self, i: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        lo, hi = self.bounds[i]
        xa = self.images[self.a[lo:hi]].astype(np.float32)
        xb = self.images[self.b[lo:hi]].astype(np.float32)
        if self.flip:  # both mirrored: the test-time flip of `tta_flip`
            xa, xb = xa[:, :, ::-1], xb[:, :, ::-1]
        if self.kinds:
            tag = tuple(int(t) for t in self.tags[i])
            xa = augment(xa, self.kinds, (*tag, 0))
            xb = augment(xb, self.kinds, (*tag, 1))
        return ((xa * self.pixel_scale)[..., None], (xb * self.pixel_scale)[..., None]), self.y[lo:hi]

    def __getitem__(self, i: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        if i < 0 or i >= len(self.bounds):
            raise IndexError(f"batch {i} of {len(self.bounds)}")
        if not self.prefetch:
            return self.batch(i)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.prefetch, thread_name_prefix="lfwsiamese-batches")
        for j in range(i, min(i + self.prefetch + 1, len(self.bounds))):
            if j not in self._ahead:
                self._ahead[j] = self._pool.submit(self.batch, j)
        for j in [j for j in self._ahead if j < i]:  # a restarted iteration: drop what it will not ask for
            self._ahead.pop(j).cancel()
        return self._ahead.pop(i).result()


def _prefetch() -> int:
    import os
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _epoch_bounds(n: int, batch_size: int, offset: int) -> np.ndarray:
    starts = np.arange(0, n, batch_size, dtype=np.int64)
    return np.stack([starts, np.minimum(starts + batch_size, n)], axis=1) + offset


def pair_dataset(images: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int,
                 pixel_scale: float = 1.0, flip: bool = False) -> PairBatches:
    """Pairs of row indices into `images` -> batches of ((a, b), label), in order (for evaluation)."""
    return PairBatches(images, a, b, y, _epoch_bounds(len(a), batch_size, 0), pixel_scale=pixel_scale, flip=flip)


def _epochs(images: np.ndarray, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], epochs: list[int],
            batch_size: int, seed: int, pixel_scale: float, augment_spec: str) -> PairBatches:
    bounds, tags, offset = [], [], 0
    for (ea, _, _), e in zip(rows, epochs):
        eb = _epoch_bounds(len(ea), batch_size, offset)
        bounds.append(eb)
        tags.append(np.stack([np.full(len(eb), seed), np.full(len(eb), e), np.arange(len(eb))], axis=1))
        offset += len(ea)
    a, b, y = (np.concatenate([r[k] for r in rows]) if rows else np.zeros(0) for k in range(3))
    return PairBatches(images, a, b, y, np.concatenate(bounds) if bounds else np.zeros((0, 2), np.int64),
                       np.concatenate(tags) if tags else None, pixel_scale, _kinds(augment_spec), prefetch=_prefetch())


def training_dataset(images: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     first_epoch: int, epochs: int, pixel_scale: float = 1.0, augment: str = "") -> PairBatches:
    """Epochs first_epoch..epochs-1 back to back, each a permutation of the pairs drawn from (seed, epoch) alone."""
    rows = []
    for e in range(first_epoch, epochs):
        perm = np.random.default_rng([seed, RNG_ORDER, e]).permutation(len(a))
        rows.append((np.asarray(a)[perm], np.asarray(b)[perm], np.asarray(y)[perm]))
    return _epochs(images, rows, list(range(first_epoch, epochs)), batch_size, seed, pixel_scale, augment)


def epoch_pairs_dataset(images: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                        first_epoch: int, pixel_scale: float = 1.0, augment: str = "") -> PairBatches:
    """Epochs given as rows: a[k], b[k], y[k] are the pairs of epoch first_epoch + k, already in their order."""
    a, b, y = (np.asarray(v) for v in (a, b, y))
    if a.ndim != 2 or a.shape != b.shape or a.shape != y.shape:
        raise ValueError(f"a, b, y must be (epochs, pairs) arrays of one shape; got {a.shape}, {b.shape}, {y.shape}")
    rows = [(a[k], b[k], y[k]) for k in range(len(a))]
    return _epochs(images, rows, list(range(first_epoch, first_epoch + len(a))), batch_size, seed, pixel_scale, augment)
