"""View 2's per-fold table from its records: what `lfwsiamese evaluate --protocol view2` prints."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .store import Record


def fold_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per View 2 fold (the index): test accuracy at the validation threshold and at 0.5, AUC, EER,
    validation accuracy, training people and training seconds."""
    rows = []
    for r in sorted(records, key=lambda r: r.config.data.fold):
        if r.config.data.protocol != "view2":
            raise ValueError(f"{r.path.name} is a {r.config.data.protocol} record, not a View 2 fold")
        t, m = r.metrics["test"], r.metrics
        rows.append({"fold": r.config.data.fold, "test pairs": t["n_pairs"], "test acc (val threshold)": t["accuracy"],
                     "test acc @0.5": t["accuracy_at_0.5"], "test AUC": t["auc"], "test EER": t["eer"],
                     "val acc": m["val"]["accuracy"], "train people": m["train_people_count"],
                     "fit s": m["fit_seconds"]})
    return pd.DataFrame(rows).set_index("fold")
