"""The statistics behind the book's claims: spreads, paired differences, standard errors, stopping epochs."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record


def early_stop_epoch(values: Sequence[float], min_delta: float, patience: int) -> int:
    """The epoch count (1-based) at which Keras' EarlyStopping on a 'min' metric would stop this curve."""
    best, wait = float("inf"), 0
    for k, v in enumerate(values):
        if v < best - min_delta:
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                return k + 1
    return len(values)


def chosen_value(table: pd.DataFrame) -> object | None:
    """The value a `sweep_table` chose on validation, or None when no value was eligible."""
    hit = table.index[table["chosen"].str.startswith("<-")] if "chosen" in table else []
    return hit[0] if len(hit) else None




def paired_accuracy_se(a: Record, b: Record) -> float:
    """Standard error of the validation-accuracy difference of two runs, from the pairs they were scored on.

    Each run is right or wrong on each pair at its own chosen threshold; the per-pair differences (-1, 0, +1)
    average to the accuracy difference, and their sd / sqrt(pairs) is the noise from which pairs happened to
    be drawn (McNemar's view). Runs of one seed share validation people and pairs, so they can be paired; where
    they do not, the difference of two independent proportions is used instead."""
    va, vb = a.val_scores, b.val_scores
    ra = ((va["score"] > a.metrics["threshold"]).astype(int) == va["label"]).astype(float)
    rb = ((vb["score"] > b.metrics["threshold"]).astype(int) == vb["label"]).astype(float)
    keys = ["name_a", "index_a", "name_b", "index_b", "label"]
    if len(va) == len(vb) and va[keys].reset_index(drop=True).equals(vb[keys].reset_index(drop=True)):
        d = ra.to_numpy() - rb.to_numpy()
        return float(d.std(ddof=1) / np.sqrt(len(d)))
    pa, pb = ra.mean(), rb.mean()
    return float(np.sqrt(pa * (1 - pa) / len(ra) + pb * (1 - pb) / len(rb)))


def error_overlap(a: Record, b: Record) -> pd.DataFrame:
    """How the test pairs split between right and wrong for two runs (each at its own validation threshold)."""
    sa, sb = a.scores, b.scores
    key = ["name_a", "index_a", "name_b", "index_b"]
    if not sa[key].equals(sb[key]):
        raise ValueError(f"{a.path.name} and {b.path.name} scored different pairs")
    ra = np.where((sa["score"] > a.metrics["threshold"]).astype(int) == sa["label"], "right", "wrong")
    rb = np.where((sb["score"] > b.metrics["threshold"]).astype(int) == sb["label"], "right", "wrong")
    t = pd.crosstab(pd.Series(ra, name=f"{a.config.name} s{a.config.seed}"), pd.Series(rb, name=f"{b.config.name} s{b.config.seed}"))
    return t.reindex(index=["right", "wrong"], columns=["right", "wrong"], fill_value=0)


def best_epochs(records: Sequence[Record]) -> pd.DataFrame:
    """What `restore_best_weights` would restore: the epoch of lowest validation loss (the monitored value), the
    epoch of highest validation accuracy, and the validation accuracy at each against the last epoch's."""
    rows = []
    for r in records:
        h = r.history.reset_index(drop=True)
        i_loss, i_acc = int(h["val_loss"].idxmin()), int(h["val_accuracy"].idxmax())
        rows.append({"run": f"{r.config.name} s{r.config.seed}", "epochs run": len(h),
                     "epoch of min val_loss": i_loss + 1, "epoch of max val acc": i_acc + 1,
                     "val acc, last epoch": float(h["val_accuracy"].iloc[-1]),
                     "val acc, min-val_loss epoch": float(h["val_accuracy"].iloc[i_loss]),
                     "val acc, best epoch": float(h["val_accuracy"].iloc[i_acc])})
    return pd.DataFrame(rows).set_index("run")


def processor_of(rec: Record) -> str:
    """The processor a record was trained on, short ("Intel Xeon", "AMD EPYC"; a GPU by its name)."""
    return short_processor(rec.env or {})


def short_processor(env: dict) -> str:
    """The processor an `env.json` (or a bench result's `env`) names, short, as `processor_of` gives it."""
    import re
    if str(env.get("device", "")).upper() == "GPU" and env.get("gpus"):
        g = env["gpus"][0]
        return str(g.get("name", g) if isinstance(g, dict) else g)
    cpu = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b", "", str(env.get("cpu", "?")))
    return " ".join(cpu.split()) or "?"


def processors(records: Sequence[Record]) -> str:
    """The processors of several records, each once, in a stable order ("AMD EPYC, Intel Xeon")."""
    return ", ".join(sorted({processor_of(r) for r in records})) or "none"
