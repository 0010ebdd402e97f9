"""How the chapters show tables and numbers: no index column, no empty cells, percentages and minutes."""
from __future__ import annotations

from typing import Mapping

import pandas as pd

#: Reader names of the recipes, for table rows, legends and captions.
RECIPE_NAMES: dict[str, str] = {
    "reference": "reference network",
    "reference-pairval": "reference, pair-level validation",
    "reference-fp32": "reference, float32",
    "reference-fp32-pairval": "reference's own setup",
    "reference-fast": "reference, fused batch norm",
    "improved": "improved model",
    "improved-pairs": "improved model, DevTrain pairs only",
    "npair": "N-pair model",
    "lbp-jb": "LBP + Joint Bayesian",
    "fused-npair-lbp-jb": "N-pair and LBP fused",
    "lbp-lm-jb": "LBP at landmarks + Joint Bayesian",
    "fused-npair-lbp-lm-jb": "N-pair and LBP at landmarks fused",
}


def recipe_name(name: str) -> str:
    """A recipe's reader name (its record name where it has none)."""
    return RECIPE_NAMES.get(name, name)


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage: 0.8933 -> "89.3%"."""
    return f"{100 * x:.{digits}f}%"


def pct_interval(iv: Mapping[str, float], digits: int = 1) -> str:
    """An interval as "89.3% ± 1.1" (the ± is the 95% half width, in percentage points)."""
    return f"{100 * iv['mean']:.{digits}f}% ± {100 * iv['half']:.{digits}f}"


def minutes(seconds: float) -> str:
    """A duration for readers: "25 min" or "7.8 h"."""
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def show(df: pd.DataFrame, precision: int = 3):
    """A table as the book prints it: checked for empty cells, without the index, numbers rounded.

    An empty cell is an error, not a blank: it means a record or a join is missing."""
    bad = df.columns[df.isna().any()].tolist()
    if bad:
        raise ValueError(f"table has empty (NaN/None) cells in columns {bad}; fill or drop them before showing")
    return df.style.hide(axis="index").format(precision=precision)
