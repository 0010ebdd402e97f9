"""Figures for the book: each function takes records or data and returns a matplotlib Figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ..data.images import ImageStore
from ..data.protocols import ImageRef
from ..evaluate import roc
from ..records.store import Record
from .report.columns import TEST_ACC, VAL_ACC
from .report.tables import run_models


def _finish(fig: plt.Figure, ax: plt.Axes, xlabel: str, ylabel: str, **legend: object) -> plt.Figure:
    """The common last touches of a one-panel figure: labels, a small legend, a light grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(**{"fontsize": 8, **legend})
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def images_per_person(counts: Sequence[int], ax: plt.Axes | None = None) -> plt.Figure:
    """Log-log histogram: most people have one image, a few have hundreds."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.5))
    c = np.asarray(counts)
    bins = np.unique(np.round(np.logspace(0, np.log10(c.max() + 1), 30)).astype(int))
    ax.hist(c, bins=bins, color="tab:blue", edgecolor="white")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("images per person")
    ax.set_ylabel("people")
    ax.set_title("LFW: images per person")
    fig.tight_layout()
    return fig


def pair_grid(store: ImageStore, pairs: Sequence, titles: Sequence[str] | None = None, ncols: int = 4,
              raw: dict[ImageRef, np.ndarray] | None = None) -> plt.Figure:
    """Each pair as two images side by side, with an optional title (label, score)."""
    n = len(pairs)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(2 * ncols * 1.3, nrows * 1.55), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, p in enumerate(pairs):
        r, c = divmod(k, ncols)
        for j, ref in enumerate((p.a, p.b)):
            img = raw[ref] if raw is not None else store.get(ref)
            axes[r, 2 * c + j].imshow(img, cmap="gray", vmin=0, vmax=255)
        title = titles[k] if titles else ("same" if p.same else "different")
        axes[r, 2 * c].set_title(title, fontsize=8, loc="left", x=0.0)
    fig.tight_layout(pad=0.3)
    return fig


def learning_curves(records: Sequence[Record], what: str = "loss") -> plt.Figure:
    """Train and validation curves of several runs (one colour per run)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, rec in enumerate(records):
        h = rec.history
        color = f"C{k}"
        label = f"{rec.config.name} seed {rec.config.seed}"
        ax.plot(h["epoch"] + 1, h[what], color=color, ls="-", marker="o", ms=3, label=f"{label}: train")
        ax.plot(h["epoch"] + 1, h[f"val_{what}"], color=color, ls="--", marker="s", ms=3, label=f"{label}: validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(what)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def loss_decomposition(rec: Record) -> plt.Figure:
    """How much of the training loss is the L2 penalty and how much is cross-entropy."""
    h = rec.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    e = h["epoch"] + 1
    ce = h["loss"] - h["l2_penalty"]
    ax.stackplot(e, h["l2_penalty"], ce, labels=["L2 penalty", "cross-entropy (train)"], colors=["tab:orange", "tab:blue"], alpha=0.8)
    ax.plot(e, h["val_loss"], "k--", label="validation loss (total)")
    return _finish(fig, ax, "epoch", "loss")


def roc_curves(records: Sequence[Record], split: str = "test") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for k, rec in enumerate(records):
        df = rec.scores if split == "test" else rec.val_scores
        r = roc(df["label"].to_numpy(), df["score"].to_numpy())
        auc = rec.metrics[split]["auc"]
        ax.plot(r["fpr"], r["tpr"], color=f"C{k}", label=f"{rec.config.name} s{rec.config.seed} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"ROC on the {'DevTest' if split == 'test' else 'validation'} pairs")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def score_distributions(rec: Record, split: str = "test") -> plt.Figure:
    """Scores of same and different pairs, with the validation-chosen threshold."""
    df = rec.scores if split == "test" else rec.val_scores
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.histplot(data=df.assign(pair=df["label"].map({1: "same", 0: "different"})), x="score", hue="pair",
                 bins=40, stat="count", element="step", ax=ax, hue_order=["different", "same"])
    ax.axvline(rec.metrics["threshold"], color="k", ls="--")
    ax.axvline(0.5, color="grey", ls=":")
    ax.set_title(f"dashed: threshold chosen on validation ({rec.metrics['threshold']:.3f}); dotted: 0.5", fontsize=9)
    ax.set_xlabel("score = P(same)")
    fig.tight_layout()
    return fig


def confusion(rec: Record, split: str = "test") -> plt.Figure:
    cm = np.array(rec.metrics[split]["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                xticklabels=["different", "same"], yticklabels=["different", "same"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"threshold {rec.metrics['threshold']:.3f}")
    fig.tight_layout()
    return fig


def architecture_diagram(rows: Sequence[dict], title: str = "one tower (shared by both inputs)") -> plt.Figure:
    """Blocks of the tower drawn left to right, height proportional to log spatial size."""
    blocks = [r for r in rows if r["type"] in ("InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense")]
    fig, ax = plt.subplots(figsize=(11, 3.2))
    x = 0.0
    colors = {"InputLayer": "#bbbbbb", "Conv2D": "#4c72b0", "MaxPooling2D": "#dd8452", "Flatten": "#8172b3", "Dense": "#55a868"}
    for k, r in enumerate(blocks):
        shape = r["output"] or r["input"] or (blocks[k + 1]["input"] if k + 1 < len(blocks) else ())
        side = shape[0] if len(shape) == 3 else 1
        h = 0.4 + np.log2(max(side, 1)) / 7 * 2.0
        w = 0.55 if len(shape) == 3 else 0.35
        ax.add_patch(plt.Rectangle((x, -h / 2), w, h, color=colors[r["type"]], alpha=0.85))
        label = {"InputLayer": "input", "Conv2D": f"conv {r['filters/units']}@{r['kernel']}",
                 "MaxPooling2D": "max-pool 2", "Flatten": "flatten", "Dense": f"dense {r['filters/units']}"}[r["type"]]
        ax.text(x + w / 2, h / 2 + 0.08, label, ha="center", va="bottom", fontsize=8, rotation=35)
        ax.text(x + w / 2, -h / 2 - 0.08, "x".join(map(str, shape)), ha="center", va="top", fontsize=7)
        x += w + 0.35
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-2.0, 2.4)
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def weight_distributions(records: Sequence[Record], variables: Sequence[str] | None = None,
                         labels: Sequence[str] | None = None) -> plt.Figure:
    """Initial (grey) and trained (colour) weights per variable, one row per run, from each record's weights.json.

    Densities on a log scale, so the tails that training grows are visible next to the narrow initial peak.
    """
    recs = [r for r in records if r.weights is not None]
    if not recs:
        raise ValueError("none of these records has weights.json (records made before it existed); train them again")
    variables = list(variables or [k for k in recs[0].weights if k.endswith("/kernel")])
    fig, axes = plt.subplots(len(recs), len(variables), figsize=(2.1 * len(variables), 1.7 * len(recs)), squeeze=False)
    for i, rec in enumerate(recs):
        for j, var in enumerate(variables):
            ax, h = axes[i, j], rec.weights[var]
            edges = np.asarray(h["edges"])
            width = np.diff(edges)
            for key, color in (("before", "0.55"), ("after", f"C{i}")):
                counts = np.asarray(h[key], dtype=float)
                dens = counts / counts.sum() / width
                ax.stairs(np.where(dens > 0, dens, np.nan), edges, color=color, lw=1.2,
                          label="initial" if key == "before" else "trained")
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(var.split("/")[0], fontsize=8)
            if j == 0:
                ax.set_ylabel(labels[i] if labels else f"{rec.config.name} s{rec.config.seed}", fontsize=7)
            ax.text(0.02, 0.97, f"sd {h['before_std']:.3g} -> {h['after_std']:.3g}", transform=ax.transAxes,
                    fontsize=6, va="top")
    axes[0, -1].legend(fontsize=6, loc="lower right")
    fig.tight_layout(pad=0.4)
    return fig


def sweep_errorbars(table: pd.DataFrame, metrics: Sequence[str] = (VAL_ACC, TEST_ACC),
                    logx: bool = False, xlabel: str | None = None) -> plt.Figure:
    """Mean ± sd over seeds per swept value (a `report.sweep_table`), validation and test side by side;
    the value chosen on validation is ringed."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    numeric = pd.api.types.is_numeric_dtype(table.index)
    x = table.index.to_numpy() if numeric else np.arange(len(table))
    for k, m in enumerate(metrics):
        dx = 0 if numeric else (k - (len(metrics) - 1) / 2) * 0.12
        ax.errorbar(x + dx, table[f"{m} mean"], yerr=table[f"{m} std"].fillna(0), marker="o", capsize=3,
                    ls="-" if numeric else "none", label=m, color=f"C{k}")
    chosen = table.index[table["chosen"].str.startswith("<-")]
    dx0 = 0 if numeric else -(len(metrics) - 1) / 2 * 0.12  # the first metric's offset
    for c in chosen:
        xc = c if numeric else int(np.flatnonzero(table.index == c)[0]) + dx0
        ax.plot([xc], [table.loc[c, f"{metrics[0]} mean"]], "o", ms=14, mfc="none", mec="k", label="chosen on validation")
    if logx:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(x, [str(v) for v in table.index], rotation=30, ha="right", fontsize=8)
    return _finish(fig, ax, xlabel or str(table.index.name), "accuracy (mean ± sd over seeds)")


def epochs_curve(summary: pd.DataFrame) -> plt.Figure:
    """Accuracy after k epochs (a `report.epochs_summary`): validation, the only one used, and test beside it."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, (col, label) in enumerate((("val_accuracy", "validation accuracy (threshold 0.5)"),
                                      ("test_accuracy_unused", "test accuracy (threshold 0.5, unused)"))):
        if not summary.empty and (col, "mean") in summary.columns:
            m, s = summary[(col, "mean")], summary[(col, "std")].fillna(0)
            ax.errorbar(m.index, m, yerr=s, marker="o", capsize=3, label=label, color=f"C{k}")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no 30-epoch run recorded yet\n(lfwsiamese sweep epochs)", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    return fig


def oneshot_curves(table: pd.DataFrame) -> plt.Figure:
    """N-way one-shot accuracy against N (a `report.oneshot_table`): each model's Siamese scores averaged over
    its seeds, with the pixel baseline under each model's own preprocessing and chance (1/N); the bars span
    the 95% Wilson intervals of the seeds."""
    if table.empty:
        raise ValueError("no one-shot records: run `lfwsiamese oneshot --run RUN_DIR` (or sweep PLAN --oneshot) first")
    t = table.assign(model=run_models(table["run"]))
    agg = t.groupby(["model", "method", "N"]).agg(accuracy=("accuracy", "mean"), low=("ci95_low", "min"),
                                                  high=("ci95_high", "max"), seeds=("run", "nunique")).reset_index()
    agg = agg[(agg.method != "random") | (agg.model == agg.model.iloc[0])]  # chance once
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (model, method), g in agg.groupby(["model", "method"]):
        n = int(g.seeds.iloc[0])
        label = {"random": "random (1/N)", "pixels_nn": f"pixels, {model}'s preprocessing",
                 "siamese": f"siamese, {model} ({n} seed{'s' if n > 1 else ''})"}[method]
        ax.errorbar(g["N"], g["accuracy"], yerr=[(g["accuracy"] - g["low"]).clip(lower=0), (g["high"] - g["accuracy"]).clip(lower=0)],
                    marker="o", capsize=3, label=label)
    return _finish(fig, ax, "N (people in the support set)", "one-shot accuracy")


def sweep_histories(records: Sequence[Record], key: str, metric: str = "val_accuracy") -> plt.Figure:
    """Per-epoch `metric` for each value of a swept numeric config field (`key`, dotted), the mean over its
    seeds: how each setting trains, not only where it ends. Colours run along the sorted values."""
    from .report.tables import config_value
    if not records:
        raise ValueError(f"no records to draw for {key!r}: run the sweep first (lfwsiamese sweep PLAN)")
    frames = [r.history[["epoch", metric]].assign(value=config_value(r.config, key)) for r in records]
    h = pd.concat(frames)
    values = sorted(h["value"].unique())
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, v in enumerate(values):
        g = h[h["value"] == v].groupby("epoch")[metric].mean()
        ax.plot(g.index + 1, g.to_numpy(), marker="o", ms=3, color=cmap(k / max(len(values) - 1, 1)), label=f"{v:g}")
    return _finish(fig, ax, "epoch", f"{metric} (mean over seeds)", fontsize=7, title=key.split(".")[-1],
                   title_fontsize=7, ncol=2)


def labelled_histories(curves: Mapping[str, Record], metric: str = "val_auc") -> plt.Figure:
    """Per-epoch `metric` of one record per label (for example the candidates of a search), one line each."""
    missing = [label for label, r in curves.items() if metric not in r.history.columns]
    if missing:
        raise ValueError(f"{metric!r} is not in the history of {missing}; choose a metric every record logs")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, r in curves.items():
        h = r.history
        ax.plot(h["epoch"] + 1, h[metric], marker="o", ms=3, label=label)
    return _finish(fig, ax, "epoch", metric, fontsize=7)


def seed_distribution(values: pd.DataFrame, reported: float, planned: dict[str, int] | None = None,
                      reported_label: str = "reported by the reference", xlabel: str = "DevTest accuracy at threshold 0.5"
                      ) -> plt.Figure:
    """Each setup's seeds as dots on one row (a `report.seed_values` table), their mean ± sd, and a vertical line
    at the `reported` number, so where it falls in each distribution is read off directly. Every row says how many
    seeds it holds (of `planned`); a setup with none is drawn as an empty row that says so."""
    import textwrap

    from matplotlib.transforms import blended_transform_factory
    setups = list(dict.fromkeys(list(planned or {}) + list(values["setup"])))  # the planned order, then any other
    if not setups:
        raise ValueError("no setups to draw: give seed_values of at least one group (or planned setups)")
    fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.8 * len(setups)))
    on_axes = blended_transform_factory(ax.transAxes, ax.transData)
    for k, s in enumerate(setups):
        v = values.loc[values["setup"] == s, "accuracy"].to_numpy(dtype=float)
        y = len(setups) - 1 - k
        if len(v):
            ax.plot(v, np.full(len(v), y), "o", color=f"C{k}", alpha=0.75, ms=7, mec="white",
                    label="one seed" if k == 0 else None)
            if len(v) > 1:
                ax.errorbar([v.mean()], [y - 0.25], xerr=[v.std(ddof=1)], fmt="D", color=f"C{k}", ms=5, capsize=3,
                            label="mean ± sd over seeds" if k == 0 else None)
        else:
            ax.text(0.02, y, "no seed recorded yet", transform=on_axes, ha="left", va="center", fontsize=8, color="0.4")
    ax.axvline(reported, color="k", ls="--", lw=1.2, label=f"{reported_label} ({reported:.3f})")
    n = values.groupby("setup").size()
    ax.set_yticks(range(len(setups)), ["\n".join(textwrap.wrap(s, 28)) +
                                       f"\n({int(n.get(s, 0))} of {(planned or {}).get(s, int(n.get(s, 0)))} seeds)"
                                       for s in reversed(setups)], fontsize=8)
    ax.set_ylim(-0.7, len(setups) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def alignment_examples(examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> plt.Figure:
    """`analysis.alignment.examples` as a grid: one column per image, rows for the LFW-a crop, its unaligned
    render and the render aligned again (black where no face was found)."""
    if not examples:
        raise ValueError("no examples to draw: pass the output of analysis.alignment.examples(refs)")
    rows = ("LFW-a crop", "unaligned photo", "aligned again")
    fig, axes = plt.subplots(len(rows), len(examples), figsize=(2.2 * len(examples), 6.8), squeeze=False)
    for col, images in enumerate(examples):
        for row, (img, title) in enumerate(zip(images, rows)):
            ax = axes[row, col]
            ax.imshow(img if img is not None else np.zeros((250, 250)), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title)
    fig.suptitle("DevTest images: the original crop, the unaligned render, and the render after alignment")
    fig.tight_layout()
    return fig
