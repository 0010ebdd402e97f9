"""The statistics behind the book's claims: one 95% interval for a recipe's accuracy, and paired differences.

- Runs tested on one shared test set (View 1: every run meets the same 1,000 DevTest pairs): the recipe's accuracy
  is the mean over its k seeds; seed variation (s^2 / k) and the sampling of the test pairs (var_i(c_i) / n, c_i the
  fraction of the runs right on pair i) add, and the interval is mean ± t * sqrt(sum) with Welch-Satterthwaite
  degrees of freedom. With one seed only the test-pair term is known.
- Runs with their own test sets (View 2: fold f tests on its own 600 pairs): mean ± t(k - 1) * sd / sqrt(k), the
  standard error over folds that LFW's results page reports, times Student's t.
- A number reported without its runs (a peer's accuracy): the binomial term p(1 - p) / n only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from ..records.store import Record

LEVEL = 0.95
PAIR_KEYS = ["name_a", "index_a", "name_b", "index_b", "label"]


def pair_correct(rec: Record, threshold: float | None = None, split: str = "test") -> np.ndarray:
    """1.0 where the run is right on a pair, else 0.0, at `threshold` (default: the record's, chosen on validation)."""
    df = rec.scores if split == "test" else rec.val_scores
    t = rec.metrics["threshold"] if threshold is None else threshold
    return ((df["score"].to_numpy() > t).astype(int) == df["label"].to_numpy()).astype(float)


def _t_half(var: float, df: float, level: float) -> float:
    return float(stats.t.ppf((1 + level) / 2, df) * np.sqrt(var))


def seed_interval(seed_accuracies: Sequence[float], pair_means: Sequence[float] | None = None,
                  n_pairs: int | None = None, level: float = LEVEL) -> dict[str, float]:
    """The interval of a mean over seeds on one shared test set; without `pair_means`, binomial over `n_pairs`."""
    acc = np.asarray(seed_accuracies, dtype=float)
    k, m = len(acc), float(np.mean(acc))
    if pair_means is not None:
        c = np.asarray(pair_means, dtype=float)
        n, var_pairs = len(c), float(np.var(c, ddof=1)) / len(c)
    elif n_pairs:
        n, var_pairs = int(n_pairs), m * (1 - m) / int(n_pairs)
    else:
        raise ValueError("give the per-pair results (pair_means) or the number of test pairs (n_pairs)")
    if k > 1:
        var_seeds = float(acc.var(ddof=1)) / k
        total = var_seeds + var_pairs
        den = var_seeds ** 2 / (k - 1) + var_pairs ** 2 / (n - 1)
        df = total ** 2 / den if den > 0 else float(n - 1)
    else:
        total, df = var_pairs, float(n - 1)
    half = _t_half(total, df, level)
    return {"mean": m, "low": m - half, "high": m + half, "half": half, "runs": k, "pairs": n}


def fold_interval(fold_accuracies: Sequence[float], level: float = LEVEL) -> dict[str, float]:
    """The interval of a mean over folds that each have their own training and test pairs: mean ± t(k-1) * SE."""
    acc = np.asarray(fold_accuracies, dtype=float)
    k = len(acc)
    if k < 2:
        raise ValueError(f"a spread over folds needs at least 2 folds, got {k}")
    se = float(acc.std(ddof=1) / np.sqrt(k))
    half = _t_half(se ** 2, k - 1, level)
    m = float(acc.mean())
    return {"mean": m, "low": m - half, "high": m + half, "half": half, "se": se, "runs": k}


def interval(records: Sequence[Record], metric: str = "accuracy", level: float = LEVEL) -> dict[str, float]:
    """The 95% interval of a recipe's mean test accuracy, from its records' stored scores.

    `metric`: "accuracy" (each run at its validation threshold) or "accuracy_at_0.5". View 2 records combine as
    folds, View 1 records as seeds on one shared test set; the stored metric is checked against the scores."""
    records = list(records)
    if metric not in ("accuracy", "accuracy_at_0.5"):
        raise ValueError(f"metric={metric!r}: expected 'accuracy' or 'accuracy_at_0.5'")
    if not records:
        raise ValueError("no records to make an interval of")
    stored = [r.metrics["test"][metric] for r in records]
    if all(r.config.data.protocol == "view2" for r in records):
        if len({r.config.data.fold for r in records}) != len(records):
            raise ValueError("View 2 records of one recipe have one record per fold; a fold is repeated")
        return fold_interval(stored, level)
    first = records[0].scores[PAIR_KEYS].reset_index(drop=True)
    for r in records[1:]:
        if not r.scores[PAIR_KEYS].reset_index(drop=True).equals(first):
            raise ValueError(f"{r.path.name} and {records[0].path.name} scored different test pairs")
    correct = np.stack([pair_correct(r, 0.5 if metric == "accuracy_at_0.5" else None) for r in records])
    for r, row, s in zip(records, correct, stored):
        if abs(row.mean() - s) > 1e-9:
            raise ValueError(f"{r.path.name}: its scores give accuracy {row.mean():.4f}, its metrics.json {s:.4f}")
    return seed_interval(correct.mean(axis=1), correct.mean(axis=0), level=level)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> dict[str, float]:
    """Mean of a - b over matched seeds or folds, with its t interval (the runs share data, so pair them)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        raise ValueError(f"a paired difference needs at least 2 matched runs, got {len(d)}")
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    half = _t_half(se ** 2, len(d) - 1, level)
    m = float(d.mean())
    return {"mean": m, "low": m - half, "high": m + half, "half": half, "se": se, "runs": len(d)}
