"""Metrics and threshold selection: scikit-learn agreement, and no peeking at test labels."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lfwsiamese.errors import LfwSiameseError
from lfwsiamese.evaluate import (
    auc_difference,
    best_threshold,
    equal_error_rate,
    evaluate_scores,
    metrics,
    tar_at_far,
)


def _scores(n: int, seed: int, sep: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + sep * (2 * y - 1))))
    return s, y


def test_best_threshold_maximises_accuracy_by_brute_force() -> None:
    s, y = _scores(300, 0)
    t = best_threshold(y, s)
    acc = ((s > t) == y).mean()
    brute = max(((s > c) == y).mean() for c in np.concatenate([[0.0], np.sort(s)]))
    assert acc == pytest.approx(brute)


def test_threshold_never_reads_test_labels() -> None:
    vs, vy = _scores(400, 1)
    ts, ty = _scores(400, 2)
    a = evaluate_scores(vy, vs, ty, ts)
    b = evaluate_scores(vy, vs, np.random.default_rng(3).permutation(ty), ts)
    assert a["threshold"] == b["threshold"]
    assert a["val"] == b["val"]


def test_metrics_agree_with_sklearn_and_are_consistent() -> None:
    s, y = _scores(500, 4, sep=1.5)
    m = metrics(y, s, 0.5)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["accuracy"] == m["accuracy_at_0.5"]
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == 500 and (cm[0, 0] + cm[1, 1]) / 500 == pytest.approx(m["accuracy"])
    assert 0 < m["eer"] < 0.5
    assert 0 <= m["tar_at_far_1e-3"] <= m["tar_at_far_1e-2"] <= 1


def test_perfect_and_random_scores() -> None:
    y = np.array([0] * 50 + [1] * 50)
    s = np.linspace(0, 1, 100)
    assert equal_error_rate(y, s) == pytest.approx(0.0, abs=1e-9)
    assert tar_at_far(y, s, 1e-3) == 1.0
    assert metrics(y, s, best_threshold(y, s))["accuracy"] == 1.0
    flipped = s[::-1]
    assert metrics(y, flipped, 0.5)["auc"] == pytest.approx(0.0)


@pytest.mark.parametrize("bad", [np.array([0.1, np.nan]), np.array([0.1, np.inf])])
def test_non_finite_scores_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(LfwSiameseError, match="NaN or infinite"):
        metrics(np.array([0, 1]), bad, 0.5)


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(LfwSiameseError, match="3 scores but 2 labels"):
        best_threshold(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))


def test_auc_difference_pairs_the_models() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    better, worse = y + rng.normal(0, 0.5, 400), y + rng.normal(0, 2.0, 400)
    d = auc_difference(y, better, worse, resamples=300)
    assert d["difference"] == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, worse))
    assert d["low"] < d["difference"] < d["high"] and d["low"] > 0.1  # clearly better: 0 is outside
    same = auc_difference(y, better, better, resamples=50)
    assert same["difference"] == same["low"] == same["high"] == 0
    with pytest.raises(LfwSiameseError, match="differ in length"):
        auc_difference(y, better, worse[:10])
