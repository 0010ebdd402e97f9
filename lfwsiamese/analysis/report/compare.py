"""Seeds of two settings compared: their spread and the difference of their means with its interval."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ...records.store import Record
from .columns import FIT_S, TEST_ACC, TEST_ACC_05, TEST_AUC, TEST_EER, VAL_ACC
from .intervals import SD_NOTE, accuracy_interval, interval_text
from .tables import run_table

#: The rows of `mean_sd` that hold 95% intervals, by the metric they belong to.
INTERVAL_ROWS = {TEST_ACC: f"{TEST_ACC}, 95% interval", TEST_ACC_05: f"{TEST_ACC_05}, 95% interval"}


def mean_sd(records: Sequence[Record]) -> pd.Series:
    """Mean ± sd over seeds of each headline metric, as text, with the 95% interval (seeds and test pairs,
    `accuracy_interval`) of both test accuracies and a last row that says what ± is."""
    t = run_table(records)
    out = {}
    for col in [TEST_ACC, TEST_ACC_05, TEST_AUC, TEST_EER, VAL_ACC, "epochs", FIT_S]:
        v = t[col].to_numpy(dtype=float)
        fmt = "{:.3f}" if col not in ("epochs", FIT_S) else "{:.0f}"
        out[col] = fmt.format(v.mean()) + (f" ± {fmt.format(v.std(ddof=1))}" if len(v) > 1 else " (1 seed)")
        if col in INTERVAL_ROWS:
            iv = accuracy_interval(records, "accuracy" if col == TEST_ACC else "accuracy_at_0.5")
            out[INTERVAL_ROWS[col]] = interval_text(iv) + ("" if iv["seeds"] > 1 else " (test pairs only)")
    out["seeds"] = len(t)
    out["± is"] = SD_NOTE
    return pd.Series(out)


def mean_difference(a: Sequence[Record], b: Sequence[Record], col: str = TEST_ACC) -> dict[str, float]:
    """Mean of `a` minus mean of `b` for one metric, with Welch's 95% interval and p-value (seeds as samples)."""
    from scipy import stats
    xa, xb = run_table(a)[col].to_numpy(float), run_table(b)[col].to_numpy(float)
    if len(xa) < 2 or len(xb) < 2:
        raise ValueError(f"need >= 2 runs on each side to compare {col!r}; got {len(xa)} and {len(xb)}")
    t = stats.ttest_ind(xa, xb, equal_var=False)
    lo, hi = t.confidence_interval(0.95)
    return {"metric": col, "mean a": float(xa.mean()), "mean b": float(xb.mean()), "difference": float(xa.mean() - xb.mean()),
            "ci95 low": float(lo), "ci95 high": float(hi), "p (Welch)": float(t.pvalue), "runs a": len(xa), "runs b": len(xb)}


def difference_table(a: Sequence[Record], b: Sequence[Record], cols: Sequence[str] = (TEST_ACC, TEST_AUC, VAL_ACC)) -> pd.DataFrame:
    """`mean_difference` of `a` minus `b` for several metrics, one row each."""
    return pd.DataFrame([mean_difference(a, b, c) for c in cols]).set_index("metric")
