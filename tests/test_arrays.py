"""The NumPy pipeline (the input on JAX): the tf.data pipeline's contract, and TensorFlow's resampling, in NumPy."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from lfwsiamese.data import arrays, tfdata

IMAGES = np.random.default_rng(0).integers(0, 256, (20, 16, 16), dtype=np.uint8)
A = np.arange(10)
B = np.arange(10, 20)
Y = (np.arange(10) % 2).astype(np.float32)


def _batches(ds) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [(xa, xb, y) for (xa, xb), y in (ds[i] for i in range(len(ds)))]


def _order(ds) -> list[int]:
    return [int(np.flatnonzero((IMAGES == img[..., 0]).all(axis=(1, 2)))[0]) for xa, _, _ in _batches(ds) for img in xa]


def test_evaluation_batches_equal_the_tf_pipeline_in_order() -> None:
    for flip in (False, True):
        ours = _batches(arrays.pair_dataset(IMAGES, A, B, Y, 4, pixel_scale=1 / 255, flip=flip))
        theirs = [(xa.numpy(), xb.numpy(), y.numpy()) for (xa, xb), y in
                  tfdata.pair_dataset(IMAGES, A, B, Y, 4, pixel_scale=1 / 255, flip=flip)]
        assert [len(b[0]) for b in ours] == [4, 4, 2]
        for o, t in zip(ours, theirs, strict=True):
            assert o[0].dtype == np.float32 and o[0].shape == t[0].shape
            for u, v in zip(o, t):
                np.testing.assert_allclose(u, v, rtol=1e-6)


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    full = _order(arrays.training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=0, epochs=3))
    assert len(full) == 30 and sorted(full[:10]) == list(range(10)) and full[:10] != full[10:20]
    assert _order(arrays.training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=1, epochs=3)) == full[10:]
    assert _order(arrays.training_dataset(IMAGES, A, B, Y, 3, seed=8, first_epoch=0, epochs=1)) != full[:10]
    ds = arrays.training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=0, epochs=3)
    assert [len(b[2]) for b in _batches(ds)] == [3, 3, 3, 1] * 3  # batches never cross epochs
    assert len(arrays.training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=3, epochs=3)) == 0


def test_epoch_rows_resume_with_the_same_augmented_batches() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 20, (3, 12)), rng.integers(0, 20, (3, 12))
    y = (rng.random((3, 12)) < 0.5).astype(np.float32)

    def batches(first: int) -> list:
        return _batches(arrays.epoch_pairs_dataset(IMAGES, a[first:], b[first:], y[first:], 5, seed=1,
                                                   first_epoch=first, augment="flip,shift,brightness,contrast"))

    full, resumed = batches(0), batches(1)
    assert len(full) == 9 and [len(x[0]) for x in full[:3]] == [5, 5, 2]
    for f, r in zip(full[3:], resumed, strict=True):
        for u, v in zip(f, r):
            np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="one shape"):
        arrays.epoch_pairs_dataset(IMAGES, a, b[:2], y, 5, seed=1, first_epoch=0)


def test_augmentation_is_repeatable_in_range_and_each_kind_has_its_own_stream() -> None:
    kinds = ("flip", "shift", "rotate", "brightness", "contrast")
    x = IMAGES.astype(np.float32)
    out = arrays.augment(x, kinds, (1, 0, 0, 0))
    np.testing.assert_array_equal(out, arrays.augment(x, kinds, (1, 0, 0, 0)))
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 255 and not np.allclose(out, x)
    assert not np.allclose(out, arrays.augment(x, kinds, (1, 0, 0, 1)))  # the other image of the pair
    flips = arrays.augment(x, ("flip",), (1, 0, 0, 0))
    with_bright = arrays.augment(x, ("flip", "brightness"), (1, 0, 0, 0))
    mirrored = (flips != x).any(axis=(1, 2))
    assert 0 < mirrored.sum() < len(x)
    np.testing.assert_array_equal(flips[mirrored], x[mirrored][:, :, ::-1])
    # adding brightness leaves the flips as they were: with_bright is flips plus one offset per image (clipped)
    inner = (flips > 30) & (flips < 225)
    for k in range(len(x)):
        offsets = (with_bright[k] - flips[k])[inner[k]]
        assert np.ptp(offsets) < 1e-3 and abs(offsets[0]) <= 25
    with pytest.raises(ValueError, match="unknown augmentation"):
        arrays.training_dataset(IMAGES, A, B, Y, 3, seed=0, first_epoch=0, epochs=1, augment="flip,zoom")
    assert arrays.augment(x, ("flip",), (1, 0, 0, 0)).shape == x.shape


@pytest.mark.parametrize("rotate", [False, True])
def test_shift_and_rotation_resample_as_tensorflow_does(rotate: bool) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (6, 24, 24)).astype(np.float32)
    angle = rng.uniform(-0.3, 0.3, 6).astype(np.float32) if rotate else np.zeros(6, np.float32)
    shift = rng.uniform(-4, 4, (6, 2)).astype(np.float32)
    shift[0] = (30.5, -27.25)  # beyond the image: reflected more than once
    size = np.float32(24)
    c, s, half = np.cos(angle), np.sin(angle), size / 2
    transform = np.stack([c, -s, half - c * half + s * half + shift[:, 0], s, c, half - s * half - c * half + shift[:, 1],
                          np.zeros(6), np.zeros(6)], axis=1).astype(np.float32)
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[..., None], transforms=transform, output_shape=[24, 24], fill_value=0.0, interpolation="BILINEAR",
        fill_mode="REFLECT").numpy()[..., 0]
    np.testing.assert_allclose(arrays.affine(x, angle, shift), expected, atol=0.02)


def test_prefetching_threads_change_nothing() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 20, (4, 9)), rng.integers(0, 20, (4, 9))
    y = np.ones((4, 9), np.float32)
    ds = arrays.epoch_pairs_dataset(IMAGES, a, b, y, 2, seed=3, first_epoch=0, augment="flip,shift,contrast")
    plain = [ds.batch(i) for i in range(len(ds))]
    ds.prefetch = 3
    for i in [0, 1, 2, 7, 8, 0, 19, 5, 6]:  # any order, restarts included
        ((xa, xb), yy), ((pa, pb), py) = ds[i], plain[i]
        np.testing.assert_array_equal(xa, pa)
        np.testing.assert_array_equal(xb, pb)
        np.testing.assert_array_equal(yy, py)
    with pytest.raises(IndexError):
        ds[len(ds)]
