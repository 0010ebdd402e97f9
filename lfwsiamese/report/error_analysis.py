"""The error-analysis chapter: ROC, score distributions, confusion and the most confident pairs of a record."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import roc_curve

from ..data.images import Preprocess, load_image
from ..data.paths import images_dir, require_data_dir
from ..records.store import Record, pairs_from_scores
from .tables import recipe_name


def roc_figure(groups: Mapping[str, Sequence[Record]]) -> plt.Figure:
    """ROC curves on the test pairs, one line per seed: one colour per recipe, or per seed with its AUC if one."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for c, (name, recs) in enumerate(groups.items()):
        for k, r in enumerate(recs):
            fpr, tpr, _ = roc_curve(r.scores["label"], r.scores["score"])
            label = (f"seed {r.config.seed} (AUC {r.metrics['test']['auc']:.3f})" if len(groups) == 1
                     else recipe_name(name) if k == 0 else None)
            ax.plot(fpr, tpr, lw=1.2, color=f"C{k if len(groups) == 1 else c}", label=label)
    ax.plot([0, 1], [0, 1], ":", color="black", lw=0.8, label="chance")
    ax.set(xlabel="false accept rate (different people accepted)", ylabel="true accept rate (same person accepted)",
           aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def score_figure(rec: Record) -> plt.Figure:
    """Histograms of the test scores of same-person and different-people pairs, with the two thresholds."""
    sc, (fig, ax) = rec.scores, plt.subplots(figsize=(6.5, 3.5))
    for label, name in ((0, "different people"), (1, "same person")):
        ax.hist(sc.loc[sc.label == label, "score"], bins=40, range=(0, 1), histtype="step", lw=1.5, label=name)
    ax.axvline(rec.metrics["threshold"], color="black", ls="--", label="threshold chosen on validation")
    ax.axvline(0.5, color="grey", ls=":", label="0.5")
    ax.set(xlabel="score (the network's probability of the same person)", ylabel="test pairs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion(rec: Record) -> pd.DataFrame:
    """Test pairs by truth and by the decision at the record's validation threshold."""
    sc = rec.scores
    judged = sc.score > rec.metrics["threshold"]  # at the threshold chosen on validation
    return pd.DataFrame([(truth, int(((sc.label == y) & judged).sum()), int(((sc.label == y) & ~judged).sum()))
                         for truth, y in (("same person", 1), ("different people", 0))],
                        columns=["truth", "judged the same person", "judged different people"])


def confident(rec: Record, right: bool, n: int = 4) -> pd.DataFrame:
    """The `n` right (or wrong) pairs of each class farthest from the threshold, same-person pairs first."""
    sc, t = rec.scores, rec.metrics["threshold"]
    sc = sc[((sc.score > t).astype(int) == sc.label) == right].assign(margin=(sc.score - t).abs())
    return pd.concat([sc[sc.label == y].nlargest(n, "margin") for y in (1, 0)])


def pair_figure(rows: pd.DataFrame, data: str | None = None, ncols: int = 4) -> plt.Figure:
    """Pairs as the whole 250x250 frames side by side, each titled with its truth and score."""
    root, nrows = images_dir(require_data_dir(data)), -(-len(rows) // ncols)
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(2.6 * ncols, 1.6 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (pair, label, score) in enumerate(zip(pairs_from_scores(rows), rows["label"], rows["score"])):
        ax = axes[k // ncols, 2 * (k % ncols):]
        for j, ref in enumerate((pair.a, pair.b)):
            ax[j].imshow(load_image(root / ref.relpath, Preprocess(size=250)), cmap="gray", vmin=0, vmax=255)
        ax[0].set_title(f"{'same' if label else 'different'}, score {score:.3f}", fontsize=8, loc="left")
    fig.tight_layout(pad=0.3)
    return fig
