"""Batches `((img_a, img_b), label)` from the uint8 image array, for the Keras backend in use.

TensorFlow (the default): tf.data (`tfdata`), the pipeline every stored TensorFlow record was trained with.
Any other backend (JAX): NumPy batches through `keras.utils.PyDataset` (`arrays`), with the same contract: epoch
e's order and augmentation depend only on (seed, e), batches never cross epochs, and evaluation keeps pair order.
The two draw their random numbers differently, so they agree in distribution, not bit for bit.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def backend() -> str:
    """The Keras backend this process runs ("tensorflow", "jax", ...): fixed when Keras is first imported."""
    import keras
    return keras.backend.backend()


def _impl() -> Any:
    if backend() == "tensorflow":
        from . import tfdata
        return tfdata
    from . import arrays
    return arrays


def steps_per_epoch(n_pairs: int, batch_size: int) -> int:
    return math.ceil(n_pairs / batch_size)


def as_images(array: np.ndarray) -> Any:
    """The image array as the pipeline keeps it: one tf.constant on TensorFlow (so several datasets share one copy),
    the NumPy array itself elsewhere."""
    if backend() == "tensorflow":
        import tensorflow as tf
        return tf.constant(array)
    return np.asarray(array)


def pair_dataset(images: Any, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int,
                 pixel_scale: float = 1.0, flip: bool = False) -> Any:
    """Pairs of row indices into `images` -> batches of ((a, b), label), in order (for evaluation).

    `flip` mirrors both images of every pair (left-right), for test-time flip averaging.
    """
    return _impl().pair_dataset(images, a, b, y, batch_size, pixel_scale=pixel_scale, flip=flip)


def training_dataset(images: Any, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     first_epoch: int, epochs: int, pixel_scale: float = 1.0, augment: str = "") -> Any:
    """Epochs first_epoch..epochs-1 back to back; epoch e's order and augmentation depend only on (seed, e).

    That is what makes a resumed run identical to an uninterrupted one: nothing depends on how many
    epochs this process has already iterated.
    """
    return _impl().training_dataset(images, a, b, y, batch_size, seed=seed, first_epoch=first_epoch, epochs=epochs,
                                    pixel_scale=pixel_scale, augment=augment)


def epoch_pairs_dataset(images: Any, a: np.ndarray, b: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                        first_epoch: int, pixel_scale: float = 1.0, augment: str = "") -> Any:
    """Epochs given as rows: a[k], b[k], y[k] are the pairs of epoch first_epoch + k, already in their order.

    For identity sampling, where each epoch has its own pairs (`data.epoch_pair_arrays`, drawn from (seed, epoch)
    alone); augmentation is seeded as in `training_dataset`, so a resumed run sees what the uninterrupted run saw.
    """
    return _impl().epoch_pairs_dataset(images, a, b, y, batch_size, seed=seed, first_epoch=first_epoch,
                                       pixel_scale=pixel_scale, augment=augment)
