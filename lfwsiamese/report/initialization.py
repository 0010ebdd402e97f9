"""The initialization chapter: three weight schemes, each with and without the first convolution's bias
(records `init-<scheme>-bias` and `init-<scheme>-nobias`); weights from each record's histograms, weights.json."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, NullFormatter

from ..records.store import Record
from .stats import interval, paired_difference

SCHEMES = {"koch": "Koch et al.", "glorot": "Glorot", "he": "He"}
LAYERS = {"conv1/kernel": "convolution 1", "conv2/kernel": "convolution 2", "conv3/kernel": "convolution 3",
          "conv4/kernel": "convolution 4", "embedding/kernel": "dense layer", "same_probability/kernel": "output unit"}


def _variant(r: Record) -> tuple[str, bool]:
    _, scheme, bias = r.config.name.split("-")
    return SCHEMES[scheme], bias == "bias"


def variants(records: Sequence[Record]) -> pd.DataFrame:
    """One row per scheme and bias: mean validation accuracy and the seeds' range, test accuracy's interval."""
    groups: dict[tuple[str, bool], list[Record]] = {}
    for r in records:
        groups.setdefault(_variant(r), []).append(r)
    rows = []
    for (scheme, bias), recs in groups.items():
        val = [r.metrics["val"]["accuracy"] for r in recs]
        rows.append({"initialization": scheme, "first-layer bias": "yes" if bias else "no",
                     "validation": np.mean(val), "seed_gap": np.ptp(val), "test": interval(recs)})
    return pd.DataFrame(rows)


def bias_difference(records: Sequence[Record]) -> dict[str, float]:
    """Validation accuracy with the first-layer bias minus without it, paired by scheme and seed."""
    by = {(_variant(r), r.config.seed): r.metrics["val"]["accuracy"] for r in records}
    keys = [(s, seed) for (s, b), seed in by if b]
    return paired_difference([by[(s, True), k] for s, k in keys], [by[(s, False), k] for s, k in keys])


def bias_moves(records: Sequence[Record]) -> pd.DataFrame:
    """How far each convolution bias's mean moved in training, and its spread after, per run."""
    return pd.DataFrame([{"initialization": _variant(r)[0], "variable": k, "sd before": w["before_std"],
                          "shift": abs(w["after_mean"] - w["before_mean"]), "sd after": w["after_std"]}
                         for r in records for k, w in r.weights.items() if k.startswith("conv") and "bias" in k])


def spread_ratios(records: Sequence[Record]) -> pd.DataFrame:
    """Each kernel's standard deviation after training over the one it started with: layers down, schemes across."""
    return pd.DataFrame({"layer": list(LAYERS.values())} | {
        _variant(r)[0]: [r.weights[k]["after_std"] / r.weights[k]["before_std"] for k in LAYERS] for r in records})


def weights_figure(records: Sequence[Record]) -> plt.Figure:
    """Initial (grey) and trained (colour) weights of each kernel, one row per run; densities on a log scale."""
    fig, axes = plt.subplots(len(records), len(LAYERS), figsize=(10, 1.8 * len(records)), squeeze=False)
    for i, r in enumerate(records):
        for ax, (k, layer) in zip(axes[i], LAYERS.items()):
            w, edges = r.weights[k], np.asarray(r.weights[k]["edges"])
            for key, colour, label in (("before", "0.55", "initial"), ("after", f"C{i}", "trained")):
                d = np.asarray(w[key], float) / np.sum(w[key]) / np.diff(edges)
                ax.stairs(np.where(d > 0, d, np.nan), edges, color=colour, lw=1.2, label=label)
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(layer, fontsize=8)
        axes[i, 0].set_ylabel(f"{_variant(r)[0]}\ndensity", fontsize=8)
    axes[0, -1].legend(fontsize=6)
    fig.supxlabel("weight value", fontsize=9)
    fig.tight_layout(pad=0.4)
    return fig
