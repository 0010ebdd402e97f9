"""The accuracy search: every candidate tried, compared on validation people only, and the one chosen.

Selection on validation inflates the winner's validation accuracy (it is the maximum of several noisy numbers), so
the chosen recipe is re-trained on fresh seeds for the numbers the book reports; this table is only the choice.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ...records.store import Record
from .columns import EPOCHS, FIT_S, VAL_ACC, VAL_AUC


def describe_overrides(overrides: Mapping[str, object], base: str = "improved") -> str:
    """`{"train.loss": "npair"}` -> 'improved + train.loss=npair'."""
    return base + "".join(f" + {k}={v}" for k, v in overrides.items())


NOT_TRAINED = "(not trained)"
ABANDONED = "(abandoned)"


def search_table(records: Sequence[Record | None], candidates: Sequence[Mapping[str, object]],
                 base: str = "improved", abandoned: Mapping[int, str] | None = None) -> pd.DataFrame:
    """One row per candidate, in the order tried (None = not trained yet); `chosen` marks the best validation
    accuracy among the trained ones (ties: the cheaper run, then the earlier). No test number appears here.

    `abandoned` (candidate index -> why) marks candidates tried but never finished: they count as tried and take
    no part in the choice; their reason is in the `note` column."""
    if len(records) != len(candidates):
        raise ValueError(f"{len(records)} records for {len(candidates)} candidates")
    abandoned = dict(abandoned or {})
    bad = [k for k in abandoned if not 0 <= k < len(candidates)]
    if bad:
        raise ValueError(f"abandoned candidates {bad} are not among the {len(candidates)} candidates (0-based)")
    rows = []
    for k, (rec, ov) in enumerate(zip(records, candidates)):
        row: dict[str, object] = {"candidate": k + 1, "recipe": describe_overrides(ov, base), "note": ""}
        if rec is None or k in abandoned:
            row.update({VAL_ACC: float("nan"), VAL_AUC: float("nan"), EPOCHS: float("nan"), FIT_S: float("nan"),
                        "run": ABANDONED if k in abandoned else NOT_TRAINED, "note": abandoned.get(k, "")})
        else:
            m = rec.metrics
            row.update({VAL_ACC: m["val"]["accuracy"], VAL_AUC: m["val"]["auc"], EPOCHS: m["epochs_run"],
                        FIT_S: m["fit_seconds"], "run": rec.path.name})
        rows.append(row)
    t = pd.DataFrame(rows)
    t["chosen"] = ""
    done = t[~t["run"].isin([NOT_TRAINED, ABANDONED])]
    if len(done):
        best = done.sort_values([VAL_ACC, VAL_AUC, FIT_S, "candidate"], ascending=[False, False, True, True]).index[0]
        t.loc[best, "chosen"] = "<- chosen on validation"
    return t


def _trained(table: pd.DataFrame) -> pd.DataFrame:
    """The candidates of a `search_table` trained to the end (not abandoned, not still planned)."""
    return table[~table["run"].isin([NOT_TRAINED, ABANDONED])]


def search_sentence(table: pd.DataFrame) -> str:
    """How many candidates were tried and which one validation chose, for the chapter's prose."""
    done = _trained(table)
    n, tried = len(done), int((table["run"] != NOT_TRAINED).sum())
    left, dropped = int((table["run"] == NOT_TRAINED).sum()), tried - n
    if not n:
        return f"None of the {len(table)} planned candidates has been trained yet."
    best = done[done["chosen"] != ""].iloc[0]
    extra = []
    if dropped:
        extra.append(f"{dropped} of them abandoned before the end and left out of the choice")
    if left:
        extra.append(f"{left} more planned, not trained yet")
    detail = f" ({'; '.join(extra)})" if extra else ""
    return (f"{tried} candidate{'s were' if tried != 1 else ' was'} tried{detail}, each with seed 0 and compared on "
            f"validation people only; the best validation accuracy of the {n} trained to the end, "
            f"{best[VAL_ACC]:.3f} (AUC {best[VAL_AUC]:.3f}), is candidate {int(best['candidate'])}: "
            f"{best['recipe']}.")


def search_noise(table: pd.DataFrame, records: Sequence[Record | None],
                 baseline: Sequence[Record]) -> dict[str, str]:
    """Is the winner's lead more than noise? The span of the trained candidates' validation accuracies (points)
    against two binomial standard errors of one accuracy on the winner's validation pairs, and against the span of
    the baseline recipe's seeds (one recipe, several seeds): the pieces of the chapter's sentence, as text."""
    done = _trained(table)
    if done.empty:
        raise ValueError("no candidate of this search has been trained: nothing to compare")
    best = records[int(done.index[done["chosen"] != ""][0])]  # the table's choice (its tie rule included)
    n_val, p = best.metrics["val"]["n_pairs"], best.metrics["val"]["accuracy"]
    se2 = 2 * (p * (1 - p) / n_val) ** 0.5 * 100
    span = (done[VAL_ACC].max() - done[VAL_ACC].min()) * 100
    base = [r.metrics["val"]["accuracy"] for r in baseline]
    return {"cand_span": f"{span:.1f}", "n_val": f"{n_val:,}", "se2": f"{se2:.1f}",
            "span_vs_se": "less than" if span < se2 else "more than",
            "base_span": f"{(max(base) - min(base)) * 100:.1f}" if base else "n/a", "base_seeds": str(len(base))}


def whitening_reading(study: pd.DataFrame) -> dict[str, str]:
    """`postprocess.whitening_study`'s table in two numbers: the raw cosine's validation accuracy and the best of
    the whitened spaces'."""
    raw = study.loc[study["space"] == "raw cosine", "val_accuracy"]
    whitened = study.loc[study["whiten"].astype(bool), "val_accuracy"]
    if raw.empty or whitened.empty:
        raise ValueError("a whitening study has a 'raw cosine' row and at least one whitened row; "
                         "rerun postprocess.whitening_study")
    return {"raw": f"{raw.iloc[0]:.3f}", "best_whitened": f"{whitened.max():.3f}"}
