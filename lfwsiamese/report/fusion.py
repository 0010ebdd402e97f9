"""The fusion chapter's tables: View 2 ablation of the channels, fusion weights and cost per fold."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..records.store import Record
from .literature import CATEGORY_LEADERS, LFW_VIEW2_VERIFIED, UNRESTRICTED_LABEL_FREE
from .records import by_name, channel_records, plan_records
from .stats import interval, paired_difference
from .tables import pct, recipe_name

SYSTEMS = ("npair", "lbp-jb", "lbp-lm-jb", "fused-npair-lbp-jb", "fused-npair-lbp-lm-jb")


def view2_systems(names: Sequence[str] = SYSTEMS) -> dict[str, list[Record]]:
    """Each system's ten View 2 fold records (seed 0), by fold; an error if a fold is missing."""
    return {n: by_name(plan_records("npair-view2"), n) if n == "npair" else channel_records(n, "view2")
            for n in names}


def ablation(systems: Mapping[str, Sequence[Record]], base: str = "npair") -> pd.DataFrame:
    """Per system: mean test accuracy with its 95% interval over folds, mean AUC, paired gain over `base`."""
    acc = {n: [r.metrics["test"]["accuracy"] for r in rs] for n, rs in systems.items()}
    rows = [(n, interval(rs), paired_difference(acc[n], acc[base])) for n, rs in systems.items()]
    return pd.DataFrame([{"system": recipe_name(n), "accuracy": iv["mean"], "SE": iv.get("se"), "gain": g["mean"],
                          "AUC": float(np.mean([r.metrics["test"]["auc"] for r in systems[n]])), "gain half": g["half"]}
                         for n, iv, g in rows])


def weights(fused: Sequence[Record]) -> pd.DataFrame:
    """Per fold: the logistic regression's weights on the standardised channel scores, and the PCA size."""
    return pd.DataFrame([{"fold": r.config.data.fold, **dict(zip(r.metrics["fusion"]["channels"],
                                                              r.metrics["fusion"]["weights"])),
                          "PCA dims": r.metrics["channel"]["pca_dims"]} for r in fused])


def cost(fused: Sequence[Record]) -> pd.DataFrame:
    """Per fold, in minutes: the base model's training, the LBP features, PCA, Joint Bayesian and fusion."""
    keys = {"base_fit": "network", "features": "features", "pca": "PCA", "jb": "Joint Bayesian", "fusion": "fusion"}
    return pd.DataFrame([{"fold": r.config.data.fold, **{v: r.metrics["cost_seconds"][k] / 60 for k, v in keys.items()}}
                         for r in fused])


def standing(systems: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Our systems among the results page's entries of our category, best first: mean and SE over the folds."""
    rows = [(e.accuracy, e.method, e.se) for e in (*CATEGORY_LEADERS, *LFW_VIEW2_VERIFIED)
            if e.category == UNRESTRICTED_LABEL_FREE]
    rows += [(interval(v)["mean"], recipe_name(k) + " (ours)", interval(v)["se"]) for k, v in systems.items()]
    return pd.DataFrame([{"method": m, "accuracy": pct(a), "SE (points)": "not given" if se is None
                          else f"{100 * se:.1f}"} for a, m, se in sorted(rows, key=lambda r: -r[0])])
