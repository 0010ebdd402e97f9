"""tf.data from the uint8 image array to batches `((img_a, img_b), label)`: the pipeline on TensorFlow's backend.

Images stay uint8 in one tensor; each batch gathers its rows, casts and scales inside the graph,
so no float copy of the dataset ever exists and the pipeline is never the bottleneck.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def _augment(x: tf.Tensor, kinds: tuple[str, ...], seed: tf.Tensor) -> tf.Tensor:
    """Random, per-image augmentation of a batch (B, H, W, 1) of float images in 0..255 units.

    Stateless: the randomness depends only on `seed` (run seed, epoch, batch), so a resumed run
    draws exactly what the uninterrupted run would have drawn.
    """
    b = tf.shape(x)[0]
    u = lambda k, shape, lo, hi: tf.random.stateless_uniform(shape, seed + k, lo, hi)  # noqa: E731
    if "flip" in kinds:
        flip = u(1, [b, 1, 1, 1], 0.0, 1.0) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    size = tf.cast(tf.shape(x)[1], tf.float32)
    if "shift" in kinds or "rotate" in kinds:
        angle = u(2, [b], -10.0, 10.0) * (math.pi / 180.0) if "rotate" in kinds else tf.zeros([b])
        shift = u(3, [b, 2], -0.06, 0.06) * size if "shift" in kinds else tf.zeros([b, 2])
        c, s = tf.cos(angle), tf.sin(angle)
        half = size / 2.0
        # projective transform mapping output -> input: rotate about the centre, then shift
        tx = half - c * half + s * half + shift[:, 0]
        ty = half - s * half - c * half + shift[:, 1]
        zeros = tf.zeros([b])
        transform = tf.stack([c, -s, tx, s, c, ty, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transform, output_shape=tf.shape(x)[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")
    if "brightness" in kinds:
        x = x + u(4, [b, 1, 1, 1], -25.0, 25.0)
    if "contrast" in kinds:
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * u(5, [b, 1, 1, 1], 0.8, 1.2) + mean
    if "brightness" in kinds or "contrast" in kinds:
        x = tf.clip_by_value(x, 0.0, 255.0)
    return x


def _gather_fn(images: tf.Tensor, pixel_scale: float, kinds: tuple[str, ...], flip: bool = False):
    def gather(ia, ib, lab, seed):
        xa = tf.cast(tf.gather(images, ia), tf.float32)[..., None]
        xb = tf.cast(tf.gather(images, ib), tf.float32)[..., None]
        if flip:  # both mirrored: the test-time flip of `tta_flip`
            xa, xb = tf.reverse(xa, axis=[2]), tf.reverse(xb, axis=[2])
        if kinds:
            xa = _augment(xa, kinds, seed)
            xb = _augment(xb, kinds, seed + tf.constant([0, 7919], tf.int64))
        return (xa * pixel_scale, xb * pixel_scale), lab
    return gather


def pair_dataset(images: np.ndarray | tf.Tensor, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int,
                 pixel_scale: float = 1.0, flip: bool = False) -> tf.data.Dataset:
    """Pairs of row indices into `images` -> batches of ((a, b), label), in order (for evaluation).

    `flip` mirrors both images of every pair (left-right), for test-time flip averaging.
    """
    if not isinstance(images, tf.Tensor):
        images = tf.constant(images)
    ds = tf.data.Dataset.from_tensor_slices((a.astype(np.int32), b.astype(np.int32), y.astype(np.float32)))
    ds = ds.batch(batch_size).map(lambda ia, ib, lab: (ia, ib, lab, tf.zeros([2], tf.int64)))
    return ds.map(_gather_fn(images, pixel_scale, (), flip)).prefetch(tf.data.AUTOTUNE)


def training_dataset(images: np.ndarray | tf.Tensor, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int,
                     seed: int, first_epoch: int, epochs: int, pixel_scale: float = 1.0,
                     augment: str = "") -> tf.data.Dataset:
    """Epochs first_epoch..epochs-1 back to back; epoch e's order and augmentation depend only on (seed, e).

    That is what makes a resumed run identical to an uninterrupted one: nothing depends on how many
    epochs this process has already iterated.
    """
    if not isinstance(images, tf.Tensor):
        images = tf.constant(images)
    kinds = tuple(k for k in augment.split(",") if k)
    ia_all = tf.constant(a.astype(np.int32))
    ib_all = tf.constant(b.astype(np.int32))
    y_all = tf.constant(y.astype(np.float32))
    n = len(a)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        perm = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return _epoch_batches(tf.gather(ia_all, perm), tf.gather(ib_all, perm), tf.gather(y_all, perm), epoch,
                              batch_size, seed)

    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
    return ds.map(_gather_fn(images, pixel_scale, kinds), num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)


def _epoch_batches(ia: tf.Tensor, ib: tf.Tensor, lab: tf.Tensor, epoch: tf.Tensor, batch_size: int,
                   seed: int) -> tf.data.Dataset:
    """One epoch's pairs, in the given order, as batches tagged with their augmentation seed (seed, epoch, batch)."""
    ds = tf.data.Dataset.from_tensor_slices((ia, ib, lab)).batch(batch_size).enumerate()
    return ds.map(lambda k, t: (t[0], t[1], t[2], tf.stack([tf.constant(seed, tf.int64) * 100003 + epoch, k])))


def epoch_pairs_dataset(images: np.ndarray | tf.Tensor, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int,
                        seed: int, first_epoch: int, pixel_scale: float = 1.0, augment: str = "") -> tf.data.Dataset:
    """Epochs given as rows: a[k], b[k], y[k] are the pairs of epoch first_epoch + k, already in their order.

    For identity sampling, where each epoch has its own pairs (`data.epoch_pair_arrays`, drawn from
    (seed, epoch) alone). Augmentation is seeded exactly as in `training_dataset`, so a resumed run that
    passes the rows from its first unfinished epoch on sees what the uninterrupted run saw.
    """
    if not isinstance(images, tf.Tensor):
        images = tf.constant(images)
    a, b, y = (np.asarray(v) for v in (a, b, y))
    if a.ndim != 2 or a.shape != b.shape or a.shape != y.shape:
        raise ValueError(f"a, b, y must be (epochs, pairs) arrays of one shape; got {a.shape}, {b.shape}, {y.shape}")
    kinds = tuple(k for k in augment.split(",") if k)
    epochs = np.arange(first_epoch, first_epoch + len(a), dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((epochs, a.astype(np.int32), b.astype(np.int32), y.astype(np.float32)))
    ds = ds.flat_map(lambda e, ia, ib, lab: _epoch_batches(ia, ib, lab, e, batch_size, seed))
    return ds.map(_gather_fn(images, pixel_scale, kinds), num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)
