"""The introduction's headline and the appendix's full table: each model's records, grouped by protocol."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..records.store import Record
from .literature import REFERENCE_REPORTED, protocol_of
from .records import by_name, channel_records, plan_records
from .stats import interval, seed_interval
from .tables import pct_interval, recipe_name

#: The headline's models: (plan, validation, recipe), grouped by protocol in this order.
HEADLINE = (("reproduction", "person", "reference"), ("restricted", None, "improved-pairs"),
            ("improved", None, "improved"), ("npair", None, "npair"), ("view1", None, "fused-npair-lbp-lm-jb"),
            ("view2", None, "improved"), ("npair-view2", None, "npair"), ("view2", None, "fused-npair-lbp-lm-jb"))
#: The full table adds the reference recipe's ten-seed runs of the reproduction gap.
FULL = HEADLINE[:1] + (("gap", None, "reference-fp32"), ("gap", None, "reference-fp32-pairval")) + HEADLINE[1:]


def groups(rows: tuple = HEADLINE) -> dict[tuple[str, str], list[Record]]:
    """{(protocol, recipe): records} for each row; a missing record stops the chapter (`plan_records`)."""
    out = {}
    for plan, validation, name in rows:
        recs = (channel_records(name, plan) if name.startswith("fused") else  # not a training plan
                by_name(plan_records(plan, validation), name))
        out[(protocol_of(recs[0].config), name)] = recs
    return out


def _runs(recs: list[Record]) -> str:
    return f"{len(recs)} folds" if recs[0].config.data.protocol == "view2" else f"{len(recs)} seeds"


def _auc(recs: list[Record]) -> str:
    return f"{np.mean([r.metrics['test']['auc'] for r in recs]):.3f}"


def _once(df: pd.DataFrame) -> pd.DataFrame:
    """The protocol written in the first row of its group only."""
    return df.assign(protocol=df["protocol"].where(df["protocol"] != df["protocol"].shift(), ""))


def headline() -> pd.DataFrame:
    """Model, protocol, test accuracy at the validation threshold (95% interval), AUC, runs."""
    return _once(pd.DataFrame([
        {"protocol": p, "model": recipe_name(n), "test accuracy": pct_interval(interval(r)),
         "AUC": _auc(r), "runs": _runs(r)} for (p, n), r in groups().items()]))


def reported() -> dict[str, float]:
    """The reference's reported accuracy (one run, threshold 0.5) with its binomial interval over 1,000 pairs."""
    return seed_interval([REFERENCE_REPORTED["test_accuracy"]], n_pairs=1000)


def full_table() -> pd.DataFrame:
    """Every model of the book: the headline's columns, accuracy at threshold 0.5 too, and the reported row."""
    rows = [{"protocol": protocol_of(r[0].config), "model": recipe_name(n), "runs": _runs(r),
             "accuracy, validation threshold": pct_interval(interval(r)),
             "accuracy at 0.5": pct_interval(interval(r, "accuracy_at_0.5")), "AUC": _auc(r)}
            for (_, n), r in groups(FULL).items()]
    rows.insert(0, {**rows[0], "model": "reference network, as reported", "runs": "1 run",
                    "accuracy, validation threshold": "not reported",
                    "accuracy at 0.5": pct_interval(reported()), "AUC": "not reported"})
    return _once(pd.DataFrame(rows))
