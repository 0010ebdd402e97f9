"""Scores of pairs by a Siamese model, with optional mirrored (test-time flip) averaging."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.images import ImageStore


def predict_pairs(model: Any, store: ImageStore, pairs: Any, pixel_scale: float, batch_size: int = 128,
                  tta_flip: bool = False, mirrored: bool = False) -> np.ndarray:
    """P(same) per pair; with `tta_flip` the mean of the scores of (a, b) and of (mirrored a, mirrored b);
    `mirrored` alone scores the mirrored pair only."""
    from ..data.pipeline import pair_dataset
    a, b, y = store.rows(pairs)
    ds = pair_dataset(store.array, a, b, y, batch_size, pixel_scale=pixel_scale, flip=mirrored)
    s = model.predict(ds, verbose=0).astype(np.float64).ravel()
    if tta_flip:
        s = 0.5 * (s + predict_pairs(model, store, pairs, pixel_scale, batch_size, mirrored=not mirrored))
    return s
