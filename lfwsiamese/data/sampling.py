"""Training pairs drawn from people: fresh per epoch, a function of (seed, epoch) alone, so resumes match."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError
from .images import ImageStore
from .protocols import ImageRef
from .splits import RNG_CALIB, RNG_EPOCH, RNG_NPAIR


def identity_groups(store: ImageStore, people: Sequence[tuple[str, int]]) -> list[np.ndarray]:
    """Per person, the store rows of all their images (a missing image is a DataError naming it)."""
    return [np.array([store.row(ImageRef(n, i)) for i in range(1, c + 1)], np.int32) for n, c in people]


def sample_pairs(groups: Sequence[np.ndarray], n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n_pairs/2 same-person and n_pairs/2 different-person pairs of rows, shuffled: (a, b, label).

    People are drawn uniformly (not images), so the few people with hundreds of images do not dominate;
    same pairs come from people with >= 2 images, two distinct images each.
    """
    sizes = np.array([len(g) for g in groups], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(groups).astype(np.int32)
    multi = np.flatnonzero(sizes >= 2)
    if len(multi) == 0 or len(groups) < 2:
        raise DataError(f"identity sampling needs >= 1 person with >= 2 images and >= 2 people; got {len(multi)} and {len(groups)}")
    n_same, n_diff = n_pairs // 2, n_pairs - n_pairs // 2
    p = multi[rng.integers(len(multi), size=n_same)]
    i = (rng.random(n_same) * sizes[p]).astype(np.int64)
    j = (rng.random(n_same) * (sizes[p] - 1)).astype(np.int64)
    j += j >= i  # a second, different image
    pa = rng.integers(len(groups), size=n_diff)
    pb = rng.integers(len(groups) - 1, size=n_diff)
    pb += pb >= pa  # a different person
    ia = (rng.random(n_diff) * sizes[pa]).astype(np.int64)
    ib = (rng.random(n_diff) * sizes[pb]).astype(np.int64)
    a = np.concatenate([flat[offsets[p] + i], flat[offsets[pa] + ia]])
    b = np.concatenate([flat[offsets[p] + j], flat[offsets[pb] + ib]])
    y = np.concatenate([np.ones(n_same, np.float32), np.zeros(n_diff, np.float32)])
    order = rng.permutation(n_pairs)
    return a[order], b[order], y[order]


def epoch_pairs(groups: Sequence[np.ndarray], n_pairs: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch `epoch`'s training pairs: a function of (seed, epoch) alone, so a resumed run draws the same."""
    return sample_pairs(groups, n_pairs, np.random.default_rng([seed, RNG_EPOCH, epoch]))


def sample_positive_batches(groups: Sequence[np.ndarray], n_pairs: int, batch_size: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n_pairs same-person pairs in consecutive batches of batch_size pairs from distinct people: (a, b, ones).

    For the N-pair loss, where the other pairs of a batch are each pair's negatives: two pairs of one person in a
    batch would make a true match count as a mistake. People are drawn uniformly among those with >= 2 images.
    """
    sizes = np.array([len(g) for g in groups], np.int64)
    multi = np.flatnonzero(sizes >= 2)
    if n_pairs % batch_size:
        raise DataError(f"{n_pairs} pairs do not fill batches of {batch_size}: make data.pairs_per_epoch a multiple "
                        f"of train.batch_size")
    if len(multi) < batch_size:
        raise DataError(f"a batch of {batch_size} pairs of distinct people needs >= {batch_size} people with >= 2 "
                        f"images; there are {len(multi)}: lower train.batch_size")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(groups).astype(np.int32)
    p = np.concatenate([rng.choice(multi, size=batch_size, replace=False) for _ in range(n_pairs // batch_size)])
    i = (rng.random(n_pairs) * sizes[p]).astype(np.int64)
    j = (rng.random(n_pairs) * (sizes[p] - 1)).astype(np.int64)
    j += j >= i
    return flat[offsets[p] + i], flat[offsets[p] + j], np.ones(n_pairs, np.float32)


def epoch_positive_batches(groups: Sequence[np.ndarray], n_pairs: int, batch_size: int, seed: int,
                           epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch `epoch`'s N-pair batches, a function of (seed, epoch) alone (a resumed run draws the same)."""
    return sample_positive_batches(groups, n_pairs, batch_size, np.random.default_rng([seed, RNG_NPAIR, epoch]))


def calibration_pairs(groups: Sequence[np.ndarray], n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, balanced set of training people's pairs on which an N-pair model's head is fitted (never validation)."""
    return sample_pairs(groups, n_pairs, np.random.default_rng([seed, RNG_CALIB]))


def epoch_pair_arrays(groups: Sequence[np.ndarray], n_pairs: int, seed: int, first_epoch: int,
                      epochs: int, positive_batch: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs first_epoch..epochs-1 stacked: (a, b, y), each of shape (epochs - first_epoch, n_pairs).

    positive_batch > 0: same-person pairs only, batched for the N-pair loss (`sample_positive_batches`).
    """
    if positive_batch:
        per = [epoch_positive_batches(groups, n_pairs, positive_batch, seed, e) for e in range(first_epoch, epochs)]
    else:
        per = [epoch_pairs(groups, n_pairs, seed, e) for e in range(first_epoch, epochs)]
    if not per:
        return tuple(np.zeros((0, n_pairs), t) for t in (np.int32, np.int32, np.float32))  # type: ignore[return-value]
    return tuple(np.stack(v) for v in zip(*per))  # type: ignore[return-value]
