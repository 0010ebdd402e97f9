"""The reproduction chapter: the reference network over seeds, its loss, its training time, how far each kind of
validation is from the test, and where the reference's one reported accuracy lies among seeds (plan `gap`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ..records.store import Record
from .stats import paired_difference
from .tables import pct, recipe_name

ALPHA = 0.05  # a number is within reach of one run when one more run of a setup reaches it this often
Groups = Mapping[str, Sequence[Record]]
COLUMNS = {  # what a run table can show, from a record's metrics
    "validation accuracy": lambda m: pct(m["val"]["accuracy"]),
    "test accuracy at 0.5": lambda m: pct(m["test"]["accuracy_at_0.5"]),
    "test accuracy at validation threshold": lambda m: pct(m["test"]["accuracy"]),
    "test AUC": lambda m: f"{m['test']['auc']:.3f}", "epochs": lambda m: m["epochs_run"],
    "training (min)": lambda m: f"{m['fit_seconds'] / 60:.1f}",
    "training pairs per s": lambda m: f"{m['train_pairs_per_second']:.0f}",
    "pairs scored per s": lambda m: f"{m['predict_pairs_per_second']:.0f}"}


def runs_table(records: Sequence[Record], columns: Sequence[str]) -> pd.DataFrame:
    """One row per run (recipe and seed) with the `COLUMNS` asked for."""
    return pd.DataFrame([{"run": f"{recipe_name(r.config.name)}, seed {r.config.seed}"}
                         | {c: COLUMNS[c](r.metrics) for c in columns} for r in records])


def curves_figure(records: Sequence[Record]) -> plt.Figure:
    """Training (solid) and validation (dashed) loss and accuracy per epoch, one colour per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for k, r in enumerate(records):
        for ax, col in zip(axes, ("loss", "accuracy")):
            h, s = r.history, r.config.seed
            ax.plot(h.epoch + 1, h[col], c=f"C{k}", marker="o", ms=3, label=f"seed {s}, training")
            ax.plot(h.epoch + 1, h[f"val_{col}"], c=f"C{k}", ls="--", label=f"seed {s}, validation")
    for ax, y in zip(axes, ("loss (cross-entropy + L2 penalty)", "accuracy at threshold 0.5")):
        ax.set(xlabel="epoch", ylabel=y), ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7), fig.tight_layout()
    return fig


def loss_figure(rec: Record) -> plt.Figure:
    """One run's training loss as L2 penalty plus cross-entropy, with the validation loss and its cross-entropy."""
    h, fig = rec.history, plt.figure(figsize=(6.5, 3.5))
    plt.stackplot(h.epoch + 1, h.l2_penalty, h.loss - h.l2_penalty, colors=["tab:orange", "tab:blue"], alpha=0.8,
                  labels=["L2 penalty", "training cross-entropy"])
    plt.plot(h.epoch + 1, h.val_loss, "k--", label="validation loss (total)")
    plt.plot(h.epoch + 1, h.val_loss - h.l2_penalty, "k:", label="validation cross-entropy")
    plt.xlabel("epoch"), plt.ylabel("loss"), plt.legend(fontsize=8), plt.grid(alpha=0.3), fig.tight_layout()
    return fig


def at_half(records: Sequence[Record]) -> np.ndarray:
    """Test accuracy at threshold 0.5 (the reference's Keras `accuracy`) of each run."""
    return np.array([r.metrics["test"]["accuracy_at_0.5"] for r in records])


def reach_chance(values: Sequence[float], reported: float) -> float:
    """The chance that one more run reaches `reported`, from Student's predictive m + s sqrt(1 + 1/k) t(k-1)."""
    v = np.asarray(values, dtype=float)
    return float(stats.t.sf((reported - v.mean()) / (v.std(ddof=1) * np.sqrt(1 + 1 / len(v))), len(v) - 1))


def gap_table(groups: Groups, reported: float) -> pd.DataFrame:
    """Per setup: the seeds' mean, sd and range at 0.5, how many reach `reported`, the chance one run does."""
    return pd.DataFrame([{"setup": label, "mean": pct(v.mean()), "standard deviation": f"{100 * v.std(ddof=1):.1f} points",
                          "range": f"{pct(v.min())} to {pct(v.max())}",
                          f"seeds reaching {pct(reported)}": f"{(v >= reported).sum()} of {len(v)}",
                          "chance one run does": pct(reach_chance(v, reported))}
                         for label, v in ((k, at_half(recs)) for k, recs in groups.items())])


def seeds_figure(groups: Groups, reported: float) -> plt.Figure:
    """Each setup's seeds as dots, their mean ± sd as a diamond, and a line at the reported accuracy."""
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.8 * len(groups)))
    for k, (label, recs) in enumerate(groups.items()):
        v, y = at_half(recs), len(groups) - 1 - k
        ax.plot(v, np.full(len(v), y), "o", c=f"C{k}", alpha=0.75, ms=7, mec="white")
        ax.errorbar([v.mean()], [y - 0.25], xerr=[v.std(ddof=1)], fmt="D", c=f"C{k}", ms=5, capsize=3)
    ax.axvline(reported, c="k", ls="--", label=f"reported by the reference ({pct(reported)})")
    ax.set_yticks(range(len(groups)), list(groups)[::-1], fontsize=8)
    ax.set(xlabel="test accuracy at threshold 0.5 (dots: seeds; diamonds: mean ± sd)", ylim=(-0.7, len(groups) - 0.4))
    ax.legend(fontsize=8, loc="upper left"), ax.grid(alpha=0.3), fig.tight_layout()
    return fig


def overstatement(groups: Groups) -> pd.DataFrame:
    """Per setup: validation minus test accuracy of the same runs (paired 95% interval), at 0.5 and at the
    threshold chosen on validation."""
    def diff(recs: Sequence[Record], key: str) -> str:
        d = paired_difference(*([r.metrics[s][key] for r in recs] for s in ("val", "test")))
        return f"{100 * d['mean']:+.1f} ± {100 * d['half']:.1f} points"
    return pd.DataFrame([{"validation": label, "at threshold 0.5": diff(recs, "accuracy_at_0.5"),
                          "at the validation threshold": diff(recs, "accuracy")} for label, recs in groups.items()])
