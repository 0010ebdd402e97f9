"""Sentences the chapters print, computed from records so that no result in prose is typed by hand."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record


def ablation_verdicts(abl: pd.DataFrame, z: float = 2.0) -> pd.DataFrame:
    """What validation says of each component, from a `model_ablation` table.

    A change counts when it is more than `z` standard errors from zero (`val change se`: for a retrained
    variant, the noise of which validation pairs were drawn plus the full model's seed-to-seed spread; for
    rescored weights, the spread of the paired differences). With one or two seeds this is a rule of thumb."""
    if "val change se" not in abl:
        raise ValueError("the ablation table has no 'val change se' column: build it with report.model_ablation")
    rows = []
    for name, row in abl.drop(index="improved (everything)", errors="ignore").iterrows():
        change, se = float(row["val change (paired)"]), float(row["val change se"])
        bar = z * se
        verdict = ("no noise estimate" if not np.isfinite(bar) else
                   "needed" if change <= -bar else "not needed" if change >= bar else "within noise")
        rows.append({"variant": name, "val change (paired)": change, "noise bar": bar,
                     "seeds": len(str(row["seeds"]).split(",")), "verdict": verdict})
    return pd.DataFrame(rows, columns=["variant", "val change (paired)", "noise bar", "seeds", "verdict"]).set_index("variant")


def ablation_sentence(verdicts: pd.DataFrame) -> str:
    """The verdicts in one sentence for the book, every number taken from the table."""
    from ...runs.plans import ABLATION_COMPONENTS
    names = {f"- {k}": v for k, v in ABLATION_COMPONENTS.items()} | {"without test-time flip": "the test-time flip"}

    def part(v: str) -> list[str]:
        sel = verdicts[verdicts["verdict"] == v].sort_values("val change (paired)")
        return [f"{names.get(name, name)} ({row['val change (paired)'] * 100:+.1f})" for name, row in sel.iterrows()]
    def join(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    out = []
    if needed := part("needed"):
        one = len(needed) == 1
        out.append(f"{join(needed)} {'is' if one else 'are each'} needed: taking {'it' if one else 'any one of them'} "
                   "away costs validation accuracy beyond its noise")
    if noise := part("within noise"):
        one = len(noise) == 1
        out.append(f"for {join(noise)} the change is within its noise, so validation cannot say whether "
                   f"{'it helps' if one else 'they help'}")
    if better := part("not needed"):
        one = len(better) == 1
        out.append(f"taking away {'' if one else 'any one of '}{join(better)} improves validation accuracy beyond its "
                   f"noise, so on this budget {'it hurts' if one else 'they hurt'}")
    if not out:
        return "no ablation run is recorded yet"
    return "; ".join(out) + " (changes in points of validation accuracy, paired by seed)"


def view2_sentence(records: Sequence[Record], target: float = 0.85) -> str:
    """The View 2 result in words, against the issue's target, or what is missing for it."""
    from ...evaluate import fold_summary
    folds = sorted({r.config.data.fold for r in records})
    if folds != list(range(10)):
        return (f"the ten-fold mean is stated once all ten folds are recorded ({len(folds)} of 10 so far); "
                "a mean of some folds is not the protocol's number")
    from .intervals import fold_interval
    s = fold_summary([r.metrics["test"] for r in records])
    acc, se = s["accuracy"]["mean"], s["accuracy"]["se"]
    iv = fold_interval([r.metrics["test"]["accuracy"] for r in records])
    gap = (acc - target) * 100
    verdict = (f"above the {target:.0%} set as this model's target by {gap:.1f} points" if gap >= 0 else
               f"{-gap:.1f} points short of the {target:.0%} set as this model's target")
    return (f"over the ten folds the improved model reaches {acc:.1%} ± {se:.1%} (mean ± standard error over folds, "
            f"as the results page reports; 95% interval {iv['low']:.1%} to {iv['high']:.1%}; folds "
            f"{min(r.metrics['test']['accuracy'] for r in records):.1%} to "
            f"{max(r.metrics['test']['accuracy'] for r in records):.1%}), with AUC {s['auc']['mean']:.3f}: "
            f"{verdict}. At the fixed threshold 0.5, which nothing was tuned to, the mean is "
            f"{s['accuracy_at_0.5']['mean']:.1%}; the protocol's number is the one at the threshold chosen on "
            "each fold's validation people, and only that one is quoted")
