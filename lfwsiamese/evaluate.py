"""Verification metrics from scores: threshold chosen on validation only, then applied to test.

Metrics come from scikit-learn where it has them (ROC, AUC, confusion matrix), and every function takes
scikit-learn's argument order: labels first, then scores.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from .errors import LfwSiameseError


def _check(labels: np.ndarray, scores: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(int)
    if s.shape != y.shape:
        raise LfwSiameseError(f"{what}: {s.size} scores but {y.size} labels")
    if s.size == 0:
        raise LfwSiameseError(f"{what}: no pairs to evaluate")
    if not np.isfinite(s).all():
        raise LfwSiameseError(f"{what}: {int((~np.isfinite(s)).sum())} scores are NaN or infinite (training diverged?)")
    if set(np.unique(y)) - {0, 1}:
        raise LfwSiameseError(f"{what}: labels must be 0 (different) or 1 (same)")
    return s, y


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold maximising accuracy on these (validation) pairs; ties go to the middle of the best run."""
    s, y = _check(labels, scores, "threshold selection")
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    # accuracy of "same if score > t" for each candidate, vectorised through sorting
    order = np.argsort(s)
    s_sorted, y_sorted = s[order], y[order]
    n_pos = y.sum()
    idx = np.searchsorted(s_sorted, cands, side="right")  # pairs with score <= t are predicted different
    neg_below = np.concatenate([[0], np.cumsum(1 - y_sorted)])[idx]
    pos_above = n_pos - np.concatenate([[0], np.cumsum(y_sorted)])[idx]
    acc = (neg_below + pos_above) / len(s)
    best = np.flatnonzero(acc == acc.max())
    return float(cands[best[len(best) // 2]])


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    k = int(np.nanargmin(np.abs(fnr - fpr)))
    # linear interpolation between the two ROC points around the crossing
    if k + 1 < len(fpr) and (fnr[k] - fpr[k]) * (fnr[k + 1] - fpr[k + 1]) < 0:
        d0, d1 = fnr[k] - fpr[k], fnr[k + 1] - fpr[k + 1]
        w = d0 / (d0 - d1)
        return float(fpr[k] + w * (fpr[k + 1] - fpr[k]))
    return float((fpr[k] + fnr[k]) / 2)


def tar_at_far(labels: np.ndarray, scores: np.ndarray, far: float) -> float:
    """True accept rate at the largest false accept rate not above `far` (0 if none reachable)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    ok = fpr <= far + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every metric of one set of pairs at a given threshold (plus threshold-free ones)."""
    s, y = _check(labels, scores, "metrics")
    pred = (s > threshold).astype(int)
    out: dict[str, Any] = {
        "n_pairs": int(len(s)),
        "accuracy": float((pred == y).mean()),
        "accuracy_at_0.5": float(((s > 0.5).astype(int) == y).mean()),
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),  # rows: true different, same
    }
    if len(np.unique(y)) == 2:
        out.update({
            "auc": float(roc_auc_score(y, s)),
            "eer": equal_error_rate(y, s),
            "tar_at_far_1e-2": tar_at_far(y, s, 1e-2),
            "tar_at_far_1e-3": tar_at_far(y, s, 1e-3),
        })
    return out


def evaluate_scores(val_labels: np.ndarray, val_scores: np.ndarray,
                    test_labels: np.ndarray | None = None, test_scores: np.ndarray | None = None) -> dict[str, Any]:
    """Choose the threshold on validation, report both sets. Test labels are never read for any choice."""
    t = best_threshold(val_labels, val_scores)
    out: dict[str, Any] = {"threshold": t, "threshold_source": "validation (max accuracy)", "val": metrics(val_labels, val_scores, t)}
    if test_scores is not None and test_labels is not None:
        out["test"] = metrics(test_labels, test_scores, t)
    return out


def roc(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    fpr, tpr, thr = roc_curve(np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64))
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr}


def fold_summary(per_fold: list[dict[str, Any]], keys: tuple[str, ...] = ("accuracy", "accuracy_at_0.5", "auc", "eer")) -> dict[str, Any]:
    """Mean, sample standard deviation and standard error (sd / sqrt(folds)) of per-fold test metrics.

    The standard error over the ten folds is the figure the LFW results page reports next to each mean.
    """
    if not per_fold:
        raise LfwSiameseError("no folds to summarise: run `lfwsiamese evaluate --protocol view2 --config NAME` first")
    out: dict[str, Any] = {"folds": len(per_fold)}
    for k in keys:
        v = np.array([m[k] for m in per_fold if k in m], dtype=np.float64)
        if v.size == 0:
            continue
        sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        out[k] = {"mean": float(v.mean()), "sd": sd, "se": sd / np.sqrt(v.size) if v.size > 1 else float("nan")}
    return out


def auc_difference(labels: np.ndarray, a: np.ndarray, b: np.ndarray, level: float = 0.95,
                   resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """AUC(a) - AUC(b) of two models' scores on the same pairs, with a paired percentile bootstrap interval over
    the pairs (SciPy's `bootstrap`): the two models meet the same pairs, so they are resampled together."""
    from scipy.stats import bootstrap
    y, sa, sb = (np.asarray(v, dtype=float) for v in (labels, a, b))
    if not len(y) == len(sa) == len(sb):
        raise LfwSiameseError(f"labels and scores differ in length: {len(y)}, {len(sa)}, {len(sb)}; score the "
                              f"same pairs with both models")

    def diff(yy: np.ndarray, xa: np.ndarray, xb: np.ndarray) -> float:
        if yy.min() == yy.max():  # a resample of one class has no AUC
            return np.nan
        return roc_auc_score(yy, xa) - roc_auc_score(yy, xb)

    ci = bootstrap((y, sa, sb), diff, paired=True, vectorized=False, n_resamples=resamples,
                   confidence_level=level, method="percentile", random_state=seed).confidence_interval
    return {"difference": float(diff(y, sa, sb)), "low": float(ci.low), "high": float(ci.high),
            "pairs": int(len(y)), "resamples": resamples}
