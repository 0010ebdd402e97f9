"""95% intervals for accuracies that hold both sources of error: seed variation and finite test sets.

The method, stated once here and in the book ("What the intervals are"):

- **Runs scored on one shared test set** (View 1: every run is tested on the same 1,000 DevTest pairs). Each run is
  right or wrong on each pair at its own threshold. The accuracy of the recipe is the mean over its k seeds, and two
  things make it uncertain: training (another seed gives another model) and the test pairs (another 1,000 pairs from
  the same people would give another number). Their variances add:

  - seeds: s^2 / k, with s the standard deviation of the k runs' accuracies (unknown with one seed);
  - test pairs: var_i(c_i) / n, with c_i the fraction of the k runs right on pair i and n the pairs. This is the
    variance of a bootstrap over test pairs that draws the same pairs for every seed (the runs share them, so their
    pair errors are correlated and do not average out over seeds); it is exact, so no resampling is needed.

  The interval is mean ± t * sqrt(seeds + pairs), with t from Student's distribution with the Welch-Satterthwaite
  degrees of freedom of the two terms. With one seed only the test-pair term is known, and the interval says so.
- **Runs with their own test sets** (View 2: fold f trains on nine folds and tests on the 600 pairs of fold f). The
  spread of the folds' accuracies already holds both sources, so the interval is mean ± t(k - 1) * sd / sqrt(k),
  the standard error over folds that LFW's results page reports, times Student's t.
- **A number reported without its runs** (a peer's single accuracy): only the binomial sampling of its test pairs,
  p(1 - p) / n, can be computed; seed variation is unknown, and the interval says so.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record

LEVEL = 0.95
PAIR_KEYS = ["name_a", "index_a", "name_b", "index_b", "label"]

#: What a table's "95% interval" column means, for the book's captions.
INTERVAL_NOTE = ("95% interval of the mean: seed variation and the sampling of the test pairs combined "
                 "(report.accuracy_interval); with one seed, test pairs only")
#: What a "±" after a seed mean means, for the book's captions.
SD_NOTE = "standard deviation over seeds"


def pair_correct(rec: Record, threshold: float | None = None, split: str = "test") -> np.ndarray:
    """1.0 where the run is right on a pair, 0.0 where it is wrong, at `threshold` (default: the record's own,
    chosen on validation); "same" means score > threshold, as in `evaluate.metrics`."""
    df = rec.scores if split == "test" else rec.val_scores
    t = rec.metrics["threshold"] if threshold is None else threshold
    return ((df["score"].to_numpy() > t).astype(int) == df["label"].to_numpy()).astype(float)


def combined_interval(seed_accuracies: Sequence[float], pair_means: Sequence[float] | None = None,
                      n_pairs: int | None = None, level: float = LEVEL) -> dict[str, object]:
    """The interval of a mean accuracy over seeds scored on one shared test set (see the module's text).

    `pair_means`: per test pair, the fraction of the seeds right on it; without it (a number reported without its
    pairs) the binomial variance of `n_pairs` pairs is used."""
    from scipy import stats
    acc = np.asarray(seed_accuracies, dtype=float)
    k = len(acc)
    if k == 0:
        raise ValueError("no accuracy to make an interval of")
    m = float(acc.mean())
    if pair_means is not None:
        c = np.asarray(pair_means, dtype=float)
        n = len(c)
        if abs(c.mean() - m) > 1e-9:
            raise ValueError(f"the pairs' mean {c.mean():.6f} is not the seeds' mean {m:.6f}: not the same runs")
        var_pairs = float(c.var(ddof=1)) / n
    else:
        if not n_pairs:
            raise ValueError("give the per-pair results (pair_means) or the number of test pairs (n_pairs)")
        n = int(n_pairs)
        var_pairs = m * (1 - m) / n
    var_seeds = float(acc.var(ddof=1)) / k if k > 1 else float("nan")
    if k > 1:
        total = var_seeds + var_pairs
        den = var_seeds ** 2 / (k - 1) + var_pairs ** 2 / (n - 1)
        df = total ** 2 / den if den > 0 else float(n - 1)
        covers = f"{k} seeds + {n:,} test pairs"
    else:
        total, df = var_pairs, float(n - 1)
        covers = f"{n:,} test pairs only (1 run)"  # seed variation not measured
    half = float(stats.t.ppf((1 + level) / 2, df) * np.sqrt(total))
    return {"mean": m, "low": m - half, "high": m + half, "half width": half, "se seeds": float(np.sqrt(var_seeds)),
            "se pairs": float(np.sqrt(var_pairs)), "seeds": k, "pairs": n, "df": float(df), "level": level,
            "covers": covers}


def fold_interval(fold_accuracies: Sequence[float], n_pairs: int | None = None, level: float = LEVEL) -> dict[str, object]:
    """The interval of a mean over folds that each have their own training and test pairs: mean ± t(k-1) * SE."""
    from scipy import stats
    acc = np.asarray(fold_accuracies, dtype=float)
    k = len(acc)
    if k < 2:
        raise ValueError(f"a spread over folds needs at least 2 folds, got {k}")
    se = float(acc.std(ddof=1) / np.sqrt(k))
    half = float(stats.t.ppf((1 + level) / 2, k - 1) * se)
    m = float(acc.mean())
    return {"mean": m, "low": m - half, "high": m + half, "half width": half, "se": se, "folds": k,
            "pairs": n_pairs, "df": float(k - 1), "level": level,
            "covers": f"{k} folds (each its own training and test pairs)"}


def _shared_pairs(records: Sequence[Record]) -> list[pd.DataFrame]:
    frames = [r.scores for r in records]
    first = frames[0][PAIR_KEYS].reset_index(drop=True)
    for r, f in zip(records[1:], frames[1:]):
        if not f[PAIR_KEYS].reset_index(drop=True).equals(first):
            raise ValueError(f"{r.path.name} and {records[0].path.name} scored different test pairs: one interval "
                             "over them would be meaningless")
    return frames


def accuracy_interval(records: Sequence[Record], metric: str = "accuracy", level: float = LEVEL) -> dict[str, object]:
    """The 95% interval of the mean test accuracy of `records` (seeds of one recipe), from their stored scores.

    `metric`: "accuracy" (each run at its threshold chosen on validation) or "accuracy_at_0.5". View 2 folds are
    combined as folds (`fold_interval`), View 1 runs as seeds on one shared test set (`combined_interval`)."""
    if metric not in ("accuracy", "accuracy_at_0.5"):
        raise ValueError(f"metric {metric!r}: 'accuracy' or 'accuracy_at_0.5'")
    records = list(records)
    if not records:
        raise ValueError("no records to make an interval of")
    stored = [r.metrics["test"][metric] for r in records]
    if all(r.config.data.protocol == "view2" for r in records):
        if len({r.config.data.fold for r in records}) != len(records):
            raise ValueError("View 2 records of one recipe have one record per fold; some fold is repeated")
        return fold_interval(stored, sum(int(r.metrics["test"].get("n_pairs", 0)) for r in records), level)
    _shared_pairs(records)
    threshold = 0.5 if metric == "accuracy_at_0.5" else None
    correct = np.stack([pair_correct(r, threshold) for r in records])
    for r, row, s in zip(records, correct, stored):
        if abs(row.mean() - s) > 1e-9:
            raise ValueError(f"{r.path.name}: its scores give accuracy {row.mean():.4f}, its metrics {s:.4f}")
    return combined_interval(correct.mean(axis=1), correct.mean(axis=0), level=level)


def interval_text(iv: dict[str, object], digits: int = 3) -> str:
    """An interval as "[low, high]"."""
    return f"[{iv['low']:.{digits}f}, {iv['high']:.{digits}f}]"


def points(iv: dict[str, object]) -> str:
    """An interval's half width in percentage points, as "±1.1 points"."""
    return f"±{iv['half width'] * 100:.1f} points"
