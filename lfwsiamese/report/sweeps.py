"""The sweeps chapter: one training setting of the reference changed at a time, every value on two seeds. A value
is chosen by its mean validation accuracy (people held out from training) only; test accuracy is only shown."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..records.store import Record
from .records import processor_of


def _summary(df: pd.DataFrame, **more: tuple) -> pd.DataFrame:
    """Mean and range over seeds of each value's accuracies; `chosen`: the best mean validation accuracy."""
    out = df.groupby("value", sort=True).agg(
        seeds=("validation", "size"), validation=("validation", "mean"), val_low=("validation", "min"),
        val_high=("validation", "max"), test=("test", "mean"), test_low=("test", "min"),
        test_high=("test", "max"), **more).reset_index()
    return out.assign(seed_gap=out["val_high"] - out["val_low"], chosen=out.index == out["validation"].idxmax())


def sweep_frame(records: Sequence[Record], field: str) -> pd.DataFrame:
    """One row per value of `field` of the training config, with epochs trained and minutes per run."""
    return _summary(pd.DataFrame([{
        "value": getattr(r.config.train, field), "validation": r.metrics["val"]["accuracy"],
        "test": r.metrics["test"]["accuracy"], "epochs": r.metrics["epochs_run"],
        "minutes": r.metrics["fit_seconds"] / 60, "processor": processor_of(r)} for r in records]),
        epochs=("epochs", "mean"), minutes=("minutes", "mean"),
        processor=("processor", lambda p: ", ".join(sorted(set(p)))))


def epochs_frame(records: Sequence[Record], grid: Sequence[int]) -> pd.DataFrame:
    """Accuracy at threshold 0.5 after each epoch of long runs without early stopping (epoch k of such a run is
    the k-epoch run), at the epoch counts of `grid` only: those are the candidates."""
    h = pd.concat([r.history for r in records]).assign(value=lambda d: d["epoch"] + 1)
    names = {"val_accuracy": "validation", "test_accuracy_unused_for_choices": "test"}
    return _summary(h[h["value"].isin(grid)].rename(columns=names))


def sweep_figure(frame: pd.DataFrame, xlabel: str, logx: bool = False,
                 ylabel: str = "accuracy (mean over seeds)") -> plt.Figure:
    """Validation and test accuracy against the swept value: the mean over seeds, bars from the lower seed to
    the higher; the value chosen on validation ringed."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x, v, t = frame["value"], frame["validation"], frame["test"]
    ax.errorbar(x, v, yerr=[v - frame["val_low"], frame["val_high"] - v], marker="o", ms=4, capsize=3,
                label="validation people (chooses)")
    ax.errorbar(x, t, yerr=[t - frame["test_low"], frame["test_high"] - t], marker="s", ms=4, capsize=3,
                ls="--", label="test pairs (not used to choose)")
    c = frame[frame["chosen"]]
    ax.plot(c["value"], c["validation"], "o", ms=14, mfc="none", mec="k", label="chosen on validation")
    if logx:
        ax.set_xscale("log")
    return _finish(fig, ax, xlabel, ylabel)


def histories_figure(records: Sequence[Record], field: str, name: str) -> plt.Figure:
    """Validation accuracy (threshold 0.5) after each epoch, the mean over seeds, one line per value of `field`."""
    h = pd.concat([r.history.assign(value=getattr(r.config.train, field), epoch=r.history["epoch"] + 1)
                   for r in records])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for k, (v, g) in enumerate(h.groupby("value")):
        ax.plot(g.groupby("epoch")["val_accuracy"].mean(), marker="o", ms=3, label=f"{name} {_num(v)}",
                color=plt.get_cmap("viridis")(k / max(h["value"].nunique() - 1, 1)))
    return _finish(fig, ax, "epoch", "validation accuracy (threshold 0.5)", ncol=2)


def _num(v: float) -> str:
    return np.format_float_positional(v, trim="-")  # as readers write it: 0.00005, 32


def _finish(fig: plt.Figure, ax: plt.Axes, xlabel: str, ylabel: str, **legend: object) -> plt.Figure:
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=7, **legend)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def choice_table(sweeps: Mapping[str, tuple[pd.DataFrame, float]]) -> pd.DataFrame:
    """Per setting: the reference's value, the value chosen on validation, and what the choice gains over the
    reference's value in validation and in test accuracy, in percentage points."""
    rows = []
    for setting, (f, ref) in sweeps.items():
        c, r = f[f["chosen"]].iloc[0], f[f["value"] == ref].iloc[0]
        rows.append({"setting": setting, "reference's value": _num(ref), "chosen on validation": _num(c["value"]),
                     "validation gain (points)": 100 * (c["validation"] - r["validation"]),
                     "test gain (points)": 100 * (c["test"] - r["test"])})
    return pd.DataFrame(rows)
