"""The dataset chapter: counts of LFW and its pair files, images per person, example pairs, leakage of splits."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data import protocols as P
from ..data.images import load_image
from ..data.paths import images_dir, require_data_dir
from ..data.splits import leakage, make_split
from .tables import pct

PAIR_FILES = {"pairsDevTrain.txt": "View 1 training (DevTrain)", "pairsDevTest.txt": "View 1 test (DevTest)",
              "pairs.txt": "View 2, all 10 folds"}


def pairs_summary() -> pd.DataFrame:
    """Per official pair file: pairs, same and different pairs, people and distinct images."""
    rows = []
    for name, label in PAIR_FILES.items():
        ps = P.load_pairs(name)
        rows.append({"pair file": label, "pairs": len(ps), "same": sum(p.same for p in ps),
                     "different": sum(not p.same for p in ps), "people": len({n for p in ps for n in p.people}),
                     "images": len({r for p in ps for r in (p.a, p.b)})})
    return pd.DataFrame(rows)


def images_per_person() -> plt.Figure:
    """Log-log histogram of images per person: most people have one image, a few have hundreds."""
    c = np.asarray(list(P.image_counts().values()))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(c, bins=np.unique(np.logspace(0, np.log10(c.max() + 1), 30).astype(int)), edgecolor="white")
    ax.set(xscale="log", yscale="log", xlabel="images of one person", ylabel="number of people")
    fig.tight_layout()
    return fig


def pair_grid(n: int = 4, seed: int = 0) -> plt.Figure:
    """`n` same-person pairs above `n` different-person DevTrain pairs (seeded draw), as the network sees them."""
    ps, rng, root = P.load_pairs("pairsDevTrain.txt"), np.random.default_rng(seed), images_dir(require_data_dir())
    fig, axes = plt.subplots(2, 2 * n, figsize=(2.6 * n, 3.2))
    for r, same in enumerate((True, False)):
        group = [p for p in ps if p.same == same]
        for c, k in enumerate(rng.choice(len(group), n, replace=False)):
            for j, ref in enumerate((group[k].a, group[k].b)):
                axes[r, 2 * c + j].imshow(load_image(root / ref.relpath, warn=False), cmap="gray", vmin=0, vmax=255)
            axes[r, 2 * c].set_title("same person" if same else "different people", fontsize=8, loc="left")
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    return fig


def split_leakage(seeds: tuple[int, ...] = (0, 1, 2), val_fraction: float = 0.2) -> pd.DataFrame:
    """Per kind of validation split, averaged over seeds: validation pairs, share sharing a person or an image."""
    train = P.load_pairs("pairsDevTrain.txt")
    rows = [{"split": kind, **leakage(make_split(train, kind, val_fraction, s))}
            for kind in ("person", "pair") for s in seeds]
    df = pd.DataFrame(rows).groupby("split", sort=False).mean(numeric_only=True)
    return pd.DataFrame({"validation split": ["person-disjoint (ours)", "pair-level (the reference's)"],
                         "validation pairs": df["val_pairs"].round().astype(int).to_numpy(),
                         "same person": (df["val_same"] / df["val_pairs"]).map(pct).to_numpy(),
                         "sharing a person with training": df["frac_sharing_a_person"].map(pct).to_numpy(),
                         "sharing an image": df["frac_sharing_an_image"].map(pct).to_numpy()})
