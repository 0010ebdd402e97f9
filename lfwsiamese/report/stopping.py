"""The "Stopping criteria" chapter: rules replayed on recorded curves, judged by per-epoch test accuracy (at 0.5).

Rules read validation and training curves only; test accuracy judges them. Regret: the best test accuracy over the
run's epochs minus the one a rule ends with, in points."""
from __future__ import annotations

from dataclasses import astuple
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..recipes import get_config
from ..records.store import Record
from ..training import stopping as S

TEST = "test_accuracy_unused_for_choices"
_REF = get_config("reference").train
Rule = Callable[[pd.DataFrame], tuple[int | None, int]]  # history -> (stops after or None, epoch kept)


def curves(rec: Record) -> pd.DataFrame:
    """A run's history with `val_ce`, the validation loss without its L2 term (Keras adds the penalty to
    val_loss; `l2_penalty` is it at the same weights): Prechelt's E_va here."""
    h = rec.history.reset_index(drop=True)
    return h.assign(val_ce=h["val_loss"] - h["l2_penalty"])


def _keras(col: str, mode: str, delta: float = 0.0) -> Rule:
    """Keras' EarlyStopping on `col`; the kept epoch is the one `restore_best_weights` puts back."""
    return lambda h: astuple(S.keras_early_stopping(h[col], delta, _REF.es_patience, mode))


def _prechelt(stop: Callable[[pd.DataFrame], int | None], keep: str = "val_ce", mode: str = "min") -> Rule:
    """A rule that keeps the epoch of best `keep` up to its stop (Prechelt keeps the lowest validation error)."""
    return lambda h: (stop(h), S.best_epoch(h[keep], stop(h), mode))


#: Prechelt's criteria on strips of 5 epochs, at several thresholds (the chapter's dropdown).
VARIANTS: dict[str, Rule] = {
    **{f"GL, α = {a}": _prechelt(lambda h, a=a: S.gl_stop(h["val_ce"], a)) for a in (1, 2, 3, 5)},
    **{f"PQ, α = {a}": _prechelt(lambda h, a=a: S.pq_stop(h["val_ce"], h["loss"], a)) for a in (0.5, 0.75, 1, 2, 3)},
    **{f"UP, s = {s}": _prechelt(lambda h, s=s: S.up_stop(h["val_ce"], s)) for s in (1, 2, 3, 4)},
}
RULES: dict[str, Rule] = {
    "all epochs (budget)": _prechelt(lambda h: None),
    "reference's EarlyStopping": _keras("val_loss", "min", _REF.es_min_delta),
    "patience 5, validation accuracy": _keras("val_accuracy", "max"),
    "patience 5, validation AUC": _keras("val_auc", "max"),
    **{k: VARIANTS[k] for k in ("GL, α = 2", "PQ, α = 0.5", "UP, s = 2")},
}
#: The whole budget, keeping the epoch of best validation loss or accuracy (the validation-signal comparison).
BEST: dict[str, Rule] = {"lowest validation loss": RULES["all epochs (budget)"],
                         "best validation accuracy": _prechelt(lambda h: None, "val_accuracy", "max")}


def outcomes(records: Sequence[Record], rules: dict[str, Rule] = RULES, judge: str = TEST) -> pd.DataFrame:
    """One row per run and rule whose signal the history holds: where it stops, the `judge` (test accuracy, or
    test AUC) there and at the kept epoch, validation accuracy there, minutes trained after the stop, regrets."""
    rows = []
    for rec in records:
        h = curves(rec)
        test, sec = h[judge].to_numpy(), h["epoch_seconds"].to_numpy()
        for name, rule in rules.items():
            if name.endswith("AUC") and "val_auc" not in h:
                continue
            stop, kept = rule(h)
            t = stop or len(h)
            rows.append({"recipe": rec.config.name, "seed": rec.config.seed, "rule": name, "stop": t,
                         "kept": kept, "test": test[t - 1], "test_kept": test[kept - 1],
                         "val_kept": h["val_accuracy"][kept - 1], "best": test.max(), "saved_min": sec[t:].sum() / 60})
    df = pd.DataFrame(rows)
    return df.assign(test_pct=100 * df["test"], regret=100 * (df["best"] - df["test"]),
                     regret_kept=100 * (df["best"] - df["test_kept"]), optimism=100 * (df["val_kept"] - df["test_kept"]))


#: Columns of the rule tables: label -> (column of `outcomes`, decimals).
RULE_COLUMNS = {"stops after epoch": ("stop", 0), "saved (min)": ("saved_min", 0), "test accuracy (%)": ("test_pct", 1),
                "regret (points)": ("regret", 1), "regret, weights restored": ("regret_kept", 1)}
SIGNAL_COLUMNS = {"kept epoch": ("kept", 0), "regret (points)": ("regret_kept", 1),
                  "validation − test (points)": ("optimism", 1)}


def summary(out: pd.DataFrame, by: str | list[str], columns: dict[str, tuple[str, int]] = RULE_COLUMNS) -> pd.DataFrame:
    """One row per group (a rule; a kind of validation and a kept epoch): each column's mean (lowest to highest)
    over the runs, in the order the groups first appear."""
    g, span = out.groupby(by, sort=False), lambda x, d: f"{x.mean():.{d}f} ({x.min():.{d}f} to {x.max():.{d}f})"
    return pd.DataFrame({k: g[c].apply(span, d=d) for k, (c, d) in columns.items()}).reset_index()


def variant_table(groups: dict[str, Sequence[Record]]) -> pd.DataFrame:
    """Prechelt's criteria as rows, recipes as columns: the mean epoch each stops after (the budget if never)."""
    cols = {k: outcomes(v, VARIANTS).groupby("rule", sort=False)["stop"].mean() for k, v in groups.items()}
    return pd.DataFrame(cols).map(lambda v: f"{v:.1f}").rename_axis("criterion").reset_index()


def stop_figure(panels: dict[str, Record], rules: Sequence[str]):
    """Validation loss (top) and test accuracy (bottom) per epoch of a few runs, with where each rule stops."""
    fig, ax = plt.subplots(2, len(panels), figsize=(4 * len(panels), 5.5), sharex="col", squeeze=False)
    for j, (title, rec) in enumerate(panels.items()):
        h, out = curves(rec), outcomes([rec]).set_index("rule")
        for a, y in zip(ax[:, j], (h["val_ce"], 100 * h[TEST])):
            a.plot(np.arange(1, len(h) + 1), y, color="0.3")
            for k, name in enumerate(rules):
                a.axvline(out.loc[name, "stop"] + 0.08 * (k - 1.5), color=plt.cm.tab10(k), ls="--",
                          label=name if (j, a) == (0, ax[0, 0]) else None)
        ax[0, j].set_title(title)
        ax[1, j].set_xlabel("epoch")
    ax[0, 0].set_ylabel("validation loss (no L2 term)")
    ax[1, 0].set_ylabel("test accuracy at 0.5 (%)")
    fig.legend(loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
