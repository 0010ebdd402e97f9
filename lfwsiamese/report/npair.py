"""The N-pair chapter: the search's candidates on validation, unmatched seeds compared, whitening."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ..records.store import Record
from .stats import LEVEL, pair_correct
from .tables import minutes, pct

#: How a search candidate's overrides read in a legend or a table (`{}` is the value).
WORDS = {"train.loss": "N-pair loss", "train.loss_margin": "cosine margin {}", "train.loss_scale": "scale {}",
         "train.batch_size": "batches of {} pairs", "data.pairs_per_epoch": "{} pairs an epoch", "train.epochs": "{} epochs"}


def describe(overrides: Mapping[str, object]) -> str:
    """{"train.loss": "npair", "train.epochs": "50"} -> "N-pair loss, 50 epochs"."""
    return ", ".join(WORDS[k].format(f"{int(v):,}" if str(v).isdigit() else v) for k, v in overrides.items())


def search_table(done: Mapping[int, Record], labels: Sequence[str], stopped: Mapping[int, str]) -> pd.DataFrame:
    """Every candidate in the order tried; the chosen one by the rule fixed before: best validation accuracy, ties
    to the cheaper run. A candidate not finished says where it stopped."""
    best = max(done, key=lambda k: (done[k].metrics["val"]["accuracy"], -done[k].metrics["fit_seconds"]))
    rows = [(lab, *(["not finished"] * 3), stopped[k]) if k not in done else
            (lab, pct(done[k].metrics["val"]["accuracy"]), f"{done[k].metrics['val']['auc']:.3f}",
             minutes(done[k].metrics["fit_seconds"]), "chosen" if k == best else "trained") for k, lab in enumerate(labels)]
    return pd.DataFrame(rows, columns=["change to the improved recipe", "validation accuracy", "validation AUC",
                                       "training time", "outcome"])


def curves_figure(histories: Mapping[str, pd.DataFrame], dashed: Sequence[str] = ()) -> plt.Figure:
    """Validation AUC after each epoch, one line per labelled history (`dashed`: runs not finished)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, h in histories.items():
        ax.plot(h["epoch"] + 1, h["val_auc"], ls="--" if label in dashed else "-", marker="o", ms=2.5, label=label)
    ax.set(xlabel="epoch", ylabel="validation AUC")
    ax.legend(fontsize=7.5)
    ax.grid(alpha=0.3)
    return fig


def difference(new: Sequence[Record], base: Sequence[Record], level: float = LEVEL) -> dict[str, float]:
    """Mean test accuracy of `new` minus `base`, seeds not matched, same test pairs: seed and pair terms, Welch."""
    cn, cb = (np.stack([pair_correct(r) for r in recs]) for recs in (new, base))
    parts = [(c.mean(1).var(ddof=1) / len(c), len(c) - 1) for c in (cn, cb)]
    parts.append(((cn.mean(0) - cb.mean(0)).var(ddof=1) / cn.shape[1], cn.shape[1] - 1))
    var, m = sum(v for v, _ in parts), float(cn.mean() - cb.mean())
    half = float(stats.t.ppf((1 + level) / 2, var ** 2 / sum(v ** 2 / d for v, d in parts)) * np.sqrt(var))
    return {"mean": m, "low": m - half, "high": m + half, "half": half}


def whitening_table(study: pd.DataFrame) -> pd.DataFrame:
    """A stored whitening study (whitening.csv) in words: the space, validation accuracy and AUC."""
    space = [s if s.startswith(("raw", "centred")) else f"{s} to {d} numbers" for s, d in zip(study.space, study.dims)]
    return pd.DataFrame({"embedding space": space, "validation accuracy": study.val_accuracy.map(pct),
                         "validation AUC": study.val_auc.map("{:.3f}".format)})
