"""What the error-analysis chapter reads from a record's per-pair scores, as formatted values for its prose."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record

#: The score bands the chapter describes: an ambiguous middle, easy negatives below, confident positives above.
MIDDLE = (0.2, 0.8)
LOW = 0.1
HIGH = 0.9


def score_bands(rec: Record, middle: tuple[float, float] = MIDDLE, low: float = LOW, high: float = HIGH) -> dict[str, str]:
    """The shares of same and different test pairs in the middle band, of different pairs below `low` and of same
    pairs above `high`, with the band limits themselves."""
    sc = rec.scores
    same, diff = sc[sc.label == 1].score, sc[sc.label == 0].score
    return {"mid_lo": f"{middle[0]:g}", "mid_hi": f"{middle[1]:g}", "low": f"{low:g}", "high": f"{high:g}",
            "mid_same": f"{same.between(*middle).mean():.0%}", "mid_diff": f"{diff.between(*middle).mean():.0%}",
            "low_diff": f"{(diff < low).mean():.0%}", "high_same": f"{(same > high).mean():.1%}"}


def threshold_gain(records: Sequence[Record]) -> float:
    """The mean over runs of test accuracy at the validation threshold minus at 0.5."""
    return float(np.mean([r.metrics["test"]["accuracy"] - r.metrics["test"]["accuracy_at_0.5"] for r in records]))


def threshold_reading(records: Sequence[Record]) -> dict[str, str]:
    """Prose pieces for "accuracy at 0.5 against the validation threshold" over runs: the mean test accuracy at 0.5
    (`at_half`), the points it lies below the validation threshold's (`gain`, from `threshold_gain`) and the mean
    threshold (`threshold`); each piece says so where there are no runs yet."""
    if not records:
        return dict.fromkeys(("at_half", "gain", "threshold"), "(no run recorded yet)")
    return {"at_half": f"{np.mean([r.metrics['test']['accuracy_at_0.5'] for r in records]):.3f}",
            "gain": f"{threshold_gain(records) * 100:.1f}",
            "threshold": f"{np.mean([r.metrics['threshold'] for r in records]):.3f}"}


def pair_titles(rows: pd.DataFrame) -> list[str]:
    """Titles of a pair grid: the true label and the score of each row of a scores file."""
    return [f"{'same' if label else 'diff'} {score:.3f}" for label, score in zip(rows["label"], rows["score"])]
