"""The tf.data pipeline: shapes, scaling, seeded epoch-indexed order, augmentation in range."""
from __future__ import annotations

import numpy as np

from lfwsiamese.data.pipeline import pair_dataset, steps_per_epoch, training_dataset

IMAGES = np.random.default_rng(0).integers(0, 256, (20, 16, 16), dtype=np.uint8)
A = np.arange(10)
B = np.arange(10, 20)
Y = (np.arange(10) % 2).astype(np.float32)


def _order(ds) -> list[int]:
    out = []
    for (xa, _), _ in ds:
        for img in xa.numpy():
            out.append(int(np.flatnonzero((IMAGES == img[..., 0].astype(np.uint8)).all(axis=(1, 2)))[0]))
    return out


def test_batches_have_the_right_shapes_dtype_and_scale() -> None:
    (xa, xb), y = next(iter(pair_dataset(IMAGES, A, B, Y, 4, pixel_scale=1 / 255)))
    assert xa.shape == (4, 16, 16, 1) and xb.dtype.name == "float32" and y.shape == (4,)
    np.testing.assert_allclose(xa.numpy()[0, ..., 0], IMAGES[0] / 255, rtol=1e-6)
    assert float(xa.numpy().max()) <= 1.0


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    full = _order(training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=0, epochs=3))
    assert len(full) == 30 and sorted(full[:10]) == list(range(10))
    assert full[:10] != full[10:20]  # reshuffled each epoch
    resumed = _order(training_dataset(IMAGES, A, B, Y, 3, seed=7, first_epoch=1, epochs=3))
    assert resumed == full[10:]  # what a resumed run sees is what the uninterrupted run saw
    other = _order(training_dataset(IMAGES, A, B, Y, 3, seed=8, first_epoch=0, epochs=1))
    assert other != full[:10]
    assert steps_per_epoch(10, 3) == 4


def test_augmentation_changes_pixels_keeps_range_and_is_repeatable() -> None:
    ds = lambda: training_dataset(IMAGES, A, B, Y, 5, seed=1, first_epoch=0, epochs=1,  # noqa: E731
                                  augment="flip,shift,rotate,brightness,contrast")
    (xa, _), _ = next(iter(ds()))
    (xa2, _), _ = next(iter(ds()))
    np.testing.assert_array_equal(xa.numpy(), xa2.numpy())
    plain = training_dataset(IMAGES, A, B, Y, 5, seed=1, first_epoch=0, epochs=1)
    (xp, _), _ = next(iter(plain))
    assert not np.allclose(xa.numpy(), xp.numpy())
    assert xa.shape == xp.shape and 0.0 <= float(xa.numpy().min()) and float(xa.numpy().max()) <= 255.0
