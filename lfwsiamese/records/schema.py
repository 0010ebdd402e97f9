"""The schema of a record's `metrics.json`, typed: what every reader may rely on, in one place.

`TypedDict`s describe the JSON exactly as stored (so existing records stay valid and `rec.metrics["test"]["auc"]`
keeps working), and type checkers see a misspelt key.
"""
from __future__ import annotations

from typing import TypedDict

#: The files of a complete record; `metrics.json` is written last, so its presence marks a complete record.
RECORD_FILES = ("config.json", "history.csv", "metrics.json", "scores.csv", "val_scores.csv", "env.json")
#: Optional files: weights (not in git), weight histograms, the uncommitted code diff, the N-way table.
OPTIONAL_FILES = ("model.keras", "weights.json", "code.patch", "oneshot.csv")
#: Columns of scores.csv and val_scores.csv: one row per pair, scikit-learn's labels then scores.
SCORE_COLUMNS = ("name_a", "index_a", "name_b", "index_b", "label", "score")

SplitMetrics = TypedDict("SplitMetrics", {
    "n_pairs": int,
    "accuracy": float,  # at the threshold chosen on validation
    "accuracy_at_0.5": float,
    "confusion_matrix": list,  # rows: true different, true same; columns: predicted
    "auc": float,
    "eer": float,
    "tar_at_far_1e-2": float,
    "tar_at_far_1e-3": float,
}, total=False)


class ThresholdMetrics(TypedDict, total=False):
    threshold: float
    threshold_source: str
    val: SplitMetrics
    test: SplitMetrics


class RunMetrics(ThresholdMetrics, total=False):
    """metrics.json of one run (keys of older records may be missing; none is ever renamed)."""

    without_tta: ThresholdMetrics  # the same weights scored without mirrored averaging (tta_flip runs)
    epochs_run: int
    fit_seconds: float  # sum of the epochs' own times (a resumed run counts each epoch once)
    fit_seconds_this_process: float
    resumed: bool
    train_pairs: int  # per epoch for identity sampling
    val_pairs: int
    test_pairs: int
    train_pairs_per_second: float | None
    predict_seconds_val_and_test: float
    predict_pairs_per_second: float
    peak_rss_mib: float
    max_rss_mib_this_run: float
    validation: str
    sampling: str
    train_images_count: int
    train_images_sha256: str
    train_people_count: int
    train_people_sha256: str
    val_people_count: int
    val_people_sha256: str
    final_train_loss: float
    final_val_loss: float
    final_l2_penalty: float
