"""Post-processing of a trained tower's embeddings, judged on validation people only: does it help?

The classical LFW entries gain from a metric learned on training people (PCA whitening, LDA, Joint Bayesian).
`whitening_study` fits PCA (with and without whitening) on the embeddings of a run's training images (and their
mirror images, as the run scores with flips), scores the run's validation pairs by cosine in that space, and compares
with the raw cosine. Test pairs are not read. The table is stored in the record as `whitening.csv`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.images import ImageStore
from ..data.sampling import identity_groups
from ..data.splits import IdentitySplit
from ..errors import RunError
from ..evaluate import evaluate_scores
from ..files import atomic_write_text
from ..records.store import load_record, load_run_model

COLUMNS = ("space", "dims", "whiten", "val_accuracy", "val_auc", "val_eer")


def _embed(tower, store: ImageStore, rows: np.ndarray, scale: float, mirrored: bool) -> np.ndarray:
    x = store.array[rows].astype(np.float32)[..., None] * scale
    if mirrored:
        x = x[:, :, ::-1]
    return np.asarray(tower.predict(x, batch_size=256, verbose=0), np.float64)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    return np.sum(a * b, axis=1)


def whitening_study(run_dir: str | os.PathLike, dims: Sequence[int] = (32, 64, 128), data: str | os.PathLike | None = None,
                    progress: bool = False) -> pd.DataFrame:
    """Validation accuracy (at its own best threshold), AUC and EER of raw, centred and PCA(-whitened) cosines."""
    from sklearn.decomposition import PCA

    from ..training.run import (
        protocol_data,  # (experiments use training's data preparation)
    )
    from ..training.setup import setup
    rec = load_record(run_dir)
    cfg = rec.config
    if cfg.data.sampling != "identities":
        raise RunError(f"{rec.path}: whitening is fitted on training people's images; this run trained on fixed pairs")
    setup(cfg)
    store, split, _ = protocol_data(cfg, data, progress)
    assert isinstance(split, IdentitySplit)
    tower = load_run_model(rec.path).get_layer("tower")
    scale = cfg.data.pixel_scale
    train_rows = np.concatenate(identity_groups(store, split.train_people))
    flips = (False, True) if cfg.train.tta_flip else (False,)
    fit_on = np.concatenate([_embed(tower, store, train_rows, scale, m) for m in flips])
    va, vb, vy = store.rows(split.val)
    pairs = [(_embed(tower, store, va, scale, m), _embed(tower, store, vb, scale, m)) for m in flips]
    mean = fit_on.mean(axis=0)

    def row(space: str, n: int, whiten: bool, f) -> dict:
        s = np.mean([_cosine(f(a), f(b)) for a, b in pairs], axis=0)
        v = evaluate_scores(vy, s)["val"]
        return {"space": space, "dims": n, "whiten": whiten, "val_accuracy": v["accuracy"], "val_auc": v["auc"],
                "val_eer": v["eer"]}

    rows = [row("raw cosine", fit_on.shape[1], False, lambda e: e),
            row("centred on training people", fit_on.shape[1], False, lambda e: e - mean)]
    for n in dims:
        if n > min(fit_on.shape):
            continue
        for whiten in (False, True):
            pca = PCA(n, whiten=whiten, random_state=0).fit(fit_on)
            rows.append(row("PCA" + (" whitened" if whiten else ""), n, whiten, pca.transform))
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    atomic_write_text(Path(rec.path) / "whitening.csv", df.to_csv(index=False))
    return df
