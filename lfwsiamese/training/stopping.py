"""Stopping rules as pure functions on recorded per-epoch curves, so a rule can be judged without retraining.

A rule only reads the curve up to the epoch it decides at, so replaying it on a run's `history.csv` gives exactly
the epoch at which that run, with that rule in its training loop, would have stopped. Epochs are counted from 1:
"stops after epoch t" means t epochs were trained. A rule that does not fire within the curve returns None (the
budget ends training).

- `keras_early_stopping`: Keras 3's `EarlyStopping` counting (min_delta, patience, the best epoch it would restore).
- `generalization_loss`, `training_progress`, `gl_stop`, `pq_stop`, `up_stop`: Prechelt's GL_alpha, PQ_alpha and
  UP_s criteria ("Early stopping - but when?", 1998), with training strips of k epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Prechelt's strip length: PQ and UP are checked at the end of every k-th epoch.
STRIP = 5


@dataclass(frozen=True)
class KerasStop:
    """Where Keras' EarlyStopping ends a curve: `stopped_after` (None: it did not fire) and `best_epoch`, the epoch
    whose weights `restore_best_weights=True` puts back (Keras 3 restores at the end of training, fired or not)."""

    stopped_after: int | None
    best_epoch: int


def _curve(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0 or not np.all(np.isfinite(v)):
        raise ValueError("a curve is a non-empty 1-D sequence of finite numbers, one per epoch")
    return v


def keras_early_stopping(values: Sequence[float], min_delta: float = 0.0, patience: int = 0,
                         mode: str = "min") -> KerasStop:
    """Replay `keras.callbacks.EarlyStopping` (Keras 3, no baseline, start_from_epoch 0) on a monitored curve.

    As Keras counts: an epoch improves when it beats the best *improving* value by more than `min_delta` (so the
    reference point only moves on such epochs); `wait` counts epochs since the last improvement and training stops
    after the epoch where `wait >= patience` (never after the first epoch)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r}: expected 'min' or 'max'")
    if patience < 0 or min_delta < 0:
        raise ValueError("patience and min_delta must be >= 0")
    v = _curve(values)
    sign = 1.0 if mode == "max" else -1.0
    best: float | None = None
    best_epoch, wait = 1, 0
    for i, x in enumerate(v):
        wait += 1
        if best is None or sign * (x - best) > min_delta:
            best, best_epoch, wait = float(x), i + 1, 0
            continue
        if wait >= patience and i > 0:
            return KerasStop(i + 1, best_epoch)
    return KerasStop(None, best_epoch)


def best_epoch(values: Sequence[float], upto: int | None = None, mode: str = "min") -> int:
    """The epoch (from 1) of the best value among the first `upto` epochs (all by default); the first one on ties."""
    v = _curve(values)[: len(values) if upto is None else upto]
    if len(v) == 0:
        raise ValueError("upto must be at least 1")
    return int(np.argmin(v) if mode == "min" else np.argmax(v)) + 1


def generalization_loss(e_va: Sequence[float]) -> np.ndarray:
    """Prechelt's GL(t) = 100 (E_va(t) / E_opt(t) - 1), E_opt(t) the lowest validation error up to epoch t."""
    v = _curve(e_va)
    if np.any(v <= 0):
        raise ValueError("GL is a ratio of errors: the validation errors must be positive")
    return 100.0 * (v / np.minimum.accumulate(v) - 1.0)


def training_progress(e_tr: Sequence[float], k: int = STRIP) -> np.ndarray:
    """Prechelt's P_k(t) = 1000 (mean / min - 1) of the training error over the strip of epochs t-k+1..t;
    NaN for t < k (no whole strip yet). Large while training still makes progress, near 0 once it stalls."""
    v = _curve(e_tr)
    if k < 1:
        raise ValueError("the strip length k must be at least 1")
    if np.any(v <= 0):
        raise ValueError("P_k is a ratio of errors: the training errors must be positive")
    out = np.full(len(v), np.nan)
    for t in range(k, len(v) + 1):
        strip = v[t - k:t]
        out[t - 1] = 1000.0 * (strip.mean() / strip.min() - 1.0)
    return out


def gl_stop(e_va: Sequence[float], alpha: float) -> int | None:
    """GL_alpha: stop after the first epoch whose generalization loss exceeds alpha (checked every epoch)."""
    over = np.flatnonzero(generalization_loss(e_va) > alpha)
    return int(over[0]) + 1 if len(over) else None


def pq_stop(e_va: Sequence[float], e_tr: Sequence[float], alpha: float, k: int = STRIP) -> int | None:
    """PQ_alpha: stop after the first end of a strip (t = k, 2k, ...) where GL(t) / P_k(t) > alpha, written
    GL > alpha P_k so that a stalled training error (P_k = 0) stops as soon as GL is positive."""
    gl, p = generalization_loss(e_va), training_progress(e_tr, k)
    if len(gl) != len(p):
        raise ValueError("the validation and training curves must have one value per epoch each")
    for t in range(k, len(gl) + 1, k):
        if gl[t - 1] > alpha * p[t - 1]:
            return t
    return None


def up_stop(e_va: Sequence[float], s: int, k: int = STRIP) -> int | None:
    """UP_s: stop after the first end of a strip t where the validation error rose in each of the s strips before:
    E_va(t - i k) > E_va(t - (i + 1) k) for i = 0..s-1. The curve starts at epoch 1, so the earliest t is (s + 1) k."""
    v = _curve(e_va)
    if s < 1 or k < 1:
        raise ValueError("s and k must be at least 1")
    for t in range((s + 1) * k, len(v) + 1, k):
        if all(v[t - i * k - 1] > v[t - (i + 1) * k - 1] for i in range(s)):
            return t
    return None
