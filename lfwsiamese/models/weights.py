"""Weights before and after training, summarised small enough to store in a record."""
from __future__ import annotations

import keras
import numpy as np


def weight_snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    """Copies of every kernel and bias (by variable path), to compare a network before and after training."""
    return {v.path: np.array(keras.ops.convert_to_numpy(v), dtype=np.float32)
            for v in model.trainable_variables if v.path.endswith(("/kernel", "/bias"))}


def weight_histograms(before: dict[str, np.ndarray], after: dict[str, np.ndarray], bins: int = 60) -> dict[str, dict]:
    """Per-variable histograms of initial and trained weights on shared bin edges, plus mean/sd/min/max.

    Small enough to store in the record (a few kB), so the initialization chapter needs no model file.
    """
    if set(before) != set(after):
        raise ValueError(f"snapshots name different variables: {sorted(set(before) ^ set(after))}")
    out = {}
    for name, b in before.items():
        a = after[name]
        lo, hi = float(min(b.min(), a.min())), float(max(b.max(), a.max()))
        if hi <= lo:  # a constant variable (e.g. zero biases before and after)
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        out[name] = {"shape": list(b.shape), "edges": edges.tolist(),
                     **{f"{k}_{s}": float(f(x)) for k, x in (("before", b), ("after", a))
                        for s, f in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))},
                     "before": np.histogram(b, edges)[0].tolist(), "after": np.histogram(a, edges)[0].tolist()}
    return out
