"""The verifier chapter: every pair of the test photos, DevTest crops next to photos, renders, reliability."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from ..data.images import Preprocess
from ..data.paths import FRAME
from ..data.protocols import ImageRef
from ..data.unaligned import PHOTO, render_image
from ..serve.calibrate import TEST_SEED, reliability
from ..serve.inputs import to_pixels
from ..serve.verify import embed_images
from .tables import pct

CONDITION_NAMES = {"crops": "LFW-a crops", "photos": "rendered photos"}


def photo_pairs(scorer: Any, folder: Path) -> pd.DataFrame:
    """Every pair of the photos `<person>_<k>.jpg` in `folder`: truth, the calibrated P(same person), the decision."""
    files = sorted(Path(folder).glob("*.jpg"))
    views, _ = embed_images(scorer, [str(f) for f in files])
    rows = []
    for i, j in itertools.combinations(range(len(files)), 2):
        p = float(scorer.score(views[i:i + 1], views[j:j + 1])[0])
        truth = files[i].stem.rsplit("_", 1)[0] == files[j].stem.rsplit("_", 1)[0]
        rows.append({"photo A": files[i].stem, "photo B": files[j].stem, "same person": truth,
                     "P(same person)": p, "decided same": p > scorer.threshold})
    df = pd.DataFrame(rows)
    return df.assign(right=df["same person"] == df["decided same"])


def conditions(evaluation: dict[str, Any]) -> pd.DataFrame:
    """DevTest as LFW-a crops and as photos, at the calibrated threshold (the card's `evaluation["test"]`)."""
    return pd.DataFrame([{"DevTest images": CONDITION_NAMES[c], "faces found": pct(m["images_found"] / m["images"]),
                          "accuracy": pct(m["accuracy"]), "true accepts": pct(m["tpr"]),
                          "true rejects": pct(m["tnr"]), "calibration error": f"{m['ece']:.3f}"}
                         for c, m in evaluation["test"].items()])


def reliability_figure(scores: pd.DataFrame) -> plt.Figure:
    """Observed share of same-person pairs against the predicted probability, per bin, on DevTest."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for cond, g in scores[(scores["split"] == "test") & scores["found"]].groupby("condition"):
        r = reliability(g["label"], g["probability"])
        ax.plot(r["predicted"], r["observed"], "o-", label=CONDITION_NAMES[cond])
    ax.set(xlabel="predicted probability of the same person", ylabel="share of same-person pairs", xlim=(0, 1),
           ylim=(0, 1), title="DevTest pairs, 10 bins")
    ax.legend(loc="upper left")
    return fig


def examples_figure(refs: Sequence[ImageRef], k: Sequence[int], data: Any = None) -> plt.Figure:
    """One column per image `refs[k]`: DevTest's photo render of it, and the render as the pipeline aligns it."""
    photos = [render_image(refs, i, data, TEST_SEED, PHOTO) for i in k]
    rows = {"rendered photo": photos,
            "aligned again": [to_pixels(p, Preprocess((), FRAME), "on").pixels for p in photos]}
    fig, axes = plt.subplots(2, len(k), figsize=(2.2 * len(k), 4.6))
    for r, (label, imgs) in enumerate(rows.items()):
        for c, img in enumerate(imgs):
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=255)
            axes[r, c].set(xticks=[], yticks=[])
        axes[r, 0].set_ylabel(label)
    return fig
