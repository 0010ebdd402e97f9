"""Book helpers that compute numbers: early-stopping simulation and tables."""
from __future__ import annotations

from lfwsiamese.report import early_stop_epoch, pairs_summary


def test_early_stop_epoch_matches_keras_semantics() -> None:
    # improves by 0.5 each epoch for 3 epochs, then flat: with patience 2 it stops 2 epochs after the last improvement
    curve = [3.0, 2.5, 2.0, 1.5, 1.5, 1.5, 1.5]
    assert early_stop_epoch(curve, 0.1, 2) == 6
    assert early_stop_epoch(curve, 1.0, 2) == 3  # no step beats min_delta 1.0: stops after patience epochs
    assert early_stop_epoch(curve, 0.0, 10) == len(curve)


def test_pairs_summary_counts_the_packaged_protocols() -> None:
    t = pairs_summary()
    assert t.loc["View 1 train (DevTrain)", "pairs"] == 2200
    assert t.loc["View 1 test (DevTest)", "people"] == 963
    assert t.loc["View 2 (10 folds)", "same"] == 3000
