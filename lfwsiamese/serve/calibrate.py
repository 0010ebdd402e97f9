"""The shipped model's score as a probability of "same person", for photos as the pipeline prepares them.

The head's score was trained with the N-pair loss on LFW-a crops: it separates people well but is no probability
(the validation threshold that maximises accuracy is about 0.04). Here the validation people's pairs of the shipped
record (its `val_scores.csv`: DevTrain people held out of training) are rendered as ordinary photos
(`data.unaligned.PHOTO`), detected and aligned by the pipeline, scored by the shipped runtime, and Platt's logistic
regression on the head's logit is fitted to their labels; decisions are then made at 0.5. The DevTest pairs are
rendered the same way (another seed) and, with the LFW-a crops themselves, measure the result: accuracy, true
accept and reject rates at 0.5, TAR at FAR 1% and 0.1%, and the expected calibration error. Nothing on DevTest is
fitted or chosen.

The alignment is chosen here too, on the same validation photos: the Haar cascades alone, or the cascades followed by
dlib's landmark points (`data.align.align_face`); the one whose photos the head separates better (AUC) is shipped,
and the card names it, so the verifier aligns users' photos as the calibration saw them.

No TensorFlow: everything runs through the shipped ONNX model (`lfwsiamese ship-model --calibrate`), or right after
an export (`ship-model --run`). Per-pair scores go to results/calibration/ for the book.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..data import protocols as P
from ..data.paths import cache_dir, require_data_dir, splits_dir
from ..data.unaligned import PHOTO, Render, render_pairs
from ..errors import RunError
from ..evaluate import auc_difference, metrics
from ..files import atomic_write_text
from ..records.schema import SCORE_COLUMNS
from ..records.store import results_dir
from .scorer import ALIGNMENT_LANDMARKS, ALIGNMENTS, SHIPPABLE_ALIGNMENTS, Calibration, Scorer
from .shipped import read_card
from .verify import verify_pairs

VAL_SEED, TEST_SEED = 1, 2  # render seeds: validation photos (the fit), DevTest photos (the measurement)
THRESHOLD = 0.5
ECE_BINS = 10
SPLITS = {"val": "validation people's pairs (the shipped record's val_scores.csv)", "test": "pairsDevTest"}
CONDITIONS = {"crops": "LFW-a's aligned crops (--align auto leaves them as they are)",
              "photos": "the same pairs rendered as ordinary photos, detected and aligned (--align auto)"}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def fit_platt(labels: np.ndarray, raw: np.ndarray) -> dict[str, Any]:
    """Platt scaling: P(same) = sigmoid(a * logit(raw) + b), by maximum likelihood (no penalty)."""
    from sklearn.linear_model import LogisticRegression
    y = np.asarray(labels, int)
    if len(np.unique(y)) != 2:
        raise RunError("calibration needs pairs of both kinds (same and different people)")
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw)[:, None], y)
    return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0]), "threshold": THRESHOLD}


def reliability(labels: np.ndarray, prob: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Equal-width probability bins: pairs, mean predicted probability, fraction of same-person pairs (empty bins
    dropped)."""
    y, p = np.asarray(labels, float), np.asarray(prob, float)
    k = np.minimum((p * bins).astype(int), bins - 1)
    rows = [{"low": b / bins, "high": (b + 1) / bins, "pairs": int((k == b).sum()), "predicted": float(p[k == b].mean()),
             "observed": float(y[k == b].mean())} for b in range(bins) if (k == b).any()]
    return pd.DataFrame(rows, columns=["low", "high", "pairs", "predicted", "observed"])


def expected_calibration_error(labels: np.ndarray, prob: np.ndarray, bins: int = ECE_BINS) -> float:
    """The pair-weighted mean gap between predicted probability and observed frequency over equal-width bins."""
    r = reliability(labels, prob, bins)
    return float((r["pairs"] * (r["predicted"] - r["observed"]).abs()).sum() / r["pairs"].sum())


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Metrics of one split and condition at the calibrated threshold. A pair whose face was not found counts as a
    wrong decision in accuracy, TPR and TNR (the user gets an error, not an answer); threshold-free metrics and the
    calibration error are over the pairs scored."""
    ok = df["found"].to_numpy(bool)
    y, p = df["label"].to_numpy(int), df["probability"].to_numpy(float)
    decided = np.where(ok, p > THRESHOLD, ~y.astype(bool))  # not found: the wrong decision
    m = metrics(y[ok], p[ok], THRESHOLD)
    return {"n_pairs": int(len(df)), "pairs_scored": int(ok.sum()), "accuracy": float(np.mean(decided == y)),
            "tpr": float(np.mean(decided[y == 1])), "tnr": float(np.mean(~decided[y == 0])), "auc": m.get("auc"),
            "tar_at_far_1e-2": m.get("tar_at_far_1e-2"), "tar_at_far_1e-3": m.get("tar_at_far_1e-3"),
            "ece": expected_calibration_error(y[ok], p[ok])}


def score_pairs(scorer: Scorer, pairs: Sequence[P.Pair], data: str | os.PathLike, seed: int, work: Path,
                render: Render = PHOTO, progress: bool = False,
                alignments: Sequence[str] = ("landmarks",)) -> pd.DataFrame:
    """The head's scores of `pairs` as LFW-a crops and as rendered photos aligned by the pipeline (once per alignment
    of `ALIGNMENTS` asked for); one row per pair, condition and alignment, with whether both faces were found and how
    many distinct images were. The crops are left as they are (`--align auto`), so their alignment is "none"."""
    crops_csv, photos_csv = render_pairs(pairs, work, data, seed, render)
    frames = []
    runs = [("crops", crops_csv, "none")] + [("photos", photos_csv, a) for a in alignments]
    default = scorer.landmarks
    for cond, csv_file, alignment in runs:
        if alignment not in ALIGNMENTS + ("none",):
            raise RunError(f"alignment {alignment!r}: expected one of {ALIGNMENTS}")
        scorer.landmarks = ALIGNMENT_LANDMARKS[alignment] if alignment != "none" else default
        try:
            res = verify_pairs(scorer, csv_file, align="auto", progress=progress)
        finally:
            scorer.landmarks = default
        frames.append(pd.DataFrame({
            "condition": cond, "alignment": alignment, "name_a": [p.a.name for p in pairs],
            "index_a": [p.a.index for p in pairs], "name_b": [p.b.name for p in pairs],
            "index_b": [p.b.index for p in pairs], "label": [p.label for p in pairs],
            "found": [r.error is None for r in res.rows],
            "raw_score": [np.nan if r.raw_score is None else r.raw_score for r in res.rows],
            "images": res.n_images, "images_found": res.n_images - res.n_failed_images, "seconds": res.seconds}))
    return pd.concat(frames, ignore_index=True)


def scores_path(card: dict[str, Any], results: str | os.PathLike | None = None) -> Path:
    """Where the per-pair scores of the calibration and its measurement are stored (by the shipped file's checksum)."""
    return results_dir(results) / "calibration" / f"{card['run']}-{card['sha256'][:12]}.csv"


def choose_alignment(val_photos: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """The alignment whose validation photos the head separates best (AUC over the pairs scored, a pair whose face
    was not found counted as a wrong decision in the accuracy after each alignment's own Platt fit); ties go to the
    first of `ALIGNMENTS`. Only `SHIPPABLE_ALIGNMENTS` are chosen from; the others are measured beside them.
    Returns (choice, each candidate's numbers)."""
    cands: dict[str, Any] = {}
    for alignment in ALIGNMENTS:
        g = val_photos[val_photos["alignment"] == alignment]
        if g.empty:
            continue
        ok = g[g["found"]]
        spec = fit_platt(ok["label"].to_numpy(), ok["raw_score"].to_numpy())
        prob = np.where(g["found"], Calibration(spec)(g["raw_score"].fillna(0.5).to_numpy()), np.nan)
        m = summary(g.assign(probability=prob))
        cands[alignment] = {"auc": m["auc"], "accuracy": m["accuracy"], "pairs_scored": m["pairs_scored"]}
    allowed = [a for a in cands if a in SHIPPABLE_ALIGNMENTS]
    if not allowed:
        raise RunError(f"no validation photos were scored with an alignment that may ship ({SHIPPABLE_ALIGNMENTS}): "
                       f"nothing to choose the alignment on")
    best = max(allowed, key=lambda a: (cands[a]["auc"], -ALIGNMENTS.index(a)))
    return best, cands


def calibrate(scorer: Scorer, card: dict[str, Any], val_pairs: Sequence[P.Pair], data: str | os.PathLike | None = None,
              results: str | os.PathLike | None = None, progress: bool = True,
              test_pairs: Sequence[P.Pair] | None = None) -> dict[str, Any]:
    """Choose the alignment (`choose_alignment`) and fit the calibration on `val_pairs` (the shipped record's
    validation pairs) as photos; measure both on DevTest (`test_pairs`: all of pairsDevTest unless given) as photos
    and crops; returns the card's new entries (`calibration`, `evaluation`) and writes the per-pair scores
    (`scores_path`). Nothing is chosen or fitted on DevTest."""
    data_dir = require_data_dir(data)
    if test_pairs is None:
        test_pairs = P.load_pairs("pairsDevTest.txt", splits_dir(data_dir))
    t0 = time.perf_counter()

    def scored(split: str, pairs: Sequence[P.Pair], seed: int, alignments: Sequence[str]) -> pd.DataFrame:
        work = cache_dir() / f"photos-{split}-s{seed}-n{len(pairs)}"
        return score_pairs(scorer, pairs, data_dir, seed, work, PHOTO, progress, alignments).assign(split=split)

    val = scored("val", list(val_pairs), VAL_SEED, ALIGNMENTS)
    alignment, candidates = choose_alignment(val[val["condition"] == "photos"])
    df = pd.concat([val, scored("test", list(test_pairs), TEST_SEED, (alignment,))], ignore_index=True)
    fit = df[(df["split"] == "val") & (df["condition"] == "photos") & (df["alignment"] == alignment) & df["found"]]
    spec = fit_platt(fit["label"].to_numpy(), fit["raw_score"].to_numpy())
    df["probability"] = np.where(df["found"], Calibration(spec)(df["raw_score"].fillna(0.5).to_numpy()), np.nan)
    evaluation: dict[str, Any] = {}
    served = df[df["alignment"].isin((alignment, "none"))]
    for (split, cond), g in served.groupby(["split", "condition"], sort=False):
        evaluation.setdefault(split, {})[cond] = {**summary(g), "images": int(g["images"].iloc[0]),
                                                  "images_found": int(g["images_found"].iloc[0]),
                                                  "pairs_per_second": float(len(g) / g["seconds"].iloc[0])}
    spec.update({"fitted_on": "validation people's pairs rendered as photos and aligned by the pipeline",
                 "alignment": alignment, "alignment_candidates": candidates, "n_pairs": int(len(fit)),
                 "render": asdict(PHOTO), "val_seed": VAL_SEED, "test_seed": TEST_SEED, "bins": ECE_BINS,
                 "seconds": time.perf_counter() - t0})
    out = scores_path(card, results)
    cols = ["split", "condition", "alignment", "name_a", "index_a", "name_b", "index_b", "label", "found",
            "raw_score", "probability"]
    atomic_write_text(out, df[cols].to_csv(index=False, float_format="%.6g"))
    return {"calibration": spec, "evaluation": evaluation}


def read_scores(card: dict[str, Any], results: str | os.PathLike | None = None, served: bool = True) -> pd.DataFrame:
    """The stored per-pair scores of the shipped model's calibration (`calibrate` wrote them); `served`: only the
    crops and the photos as the shipped alignment prepares them (not the validation photos of the other one)."""
    f = scores_path(card, results)
    if not f.is_file():
        raise RunError(f"{f}: missing; run `lfwsiamese ship-model --calibrate` (about 20 minutes on 2 cores)")
    df = pd.read_csv(f)
    if served and "alignment" in df:
        df = df[df["alignment"].isin((card["calibration"]["alignment"], "none"))].reset_index(drop=True)
    return df


def candidate_card(run: str, results: str | os.PathLike | None = None) -> dict[str, Any]:
    """The card of a model exported for the verifier but not shipped, written by `lfwsiamese ship-model --run
    results/runs/RUN --out results/candidates/RUN` (its ONNX file stays out of git; its scores are kept)."""
    return read_card(results_dir(results) / "candidates" / run)


def photo_auc_difference(new: dict[str, Any], old: dict[str, Any], results: str | os.PathLike | None = None,
                         resamples: int = 2000, split: str = "val") -> dict[str, float]:
    """AUC(new) - AUC(old) on the validation photo pairs (each model's own alignment), with a paired bootstrap
    interval over the pairs both scored: how two models compare for photos without looking at DevTest. `split="test"`
    measures the same on DevTest's photos, for after a choice."""
    if split not in SPLITS:
        raise RunError(f"split {split!r}: expected one of {', '.join(SPLITS)}")

    def val_photos(card: dict[str, Any]) -> pd.DataFrame:
        df = read_scores(card, results)
        return df[(df["split"] == split) & (df["condition"] == "photos")]

    a, b = val_photos(new), val_photos(old)
    keys = [c for c in SCORE_COLUMNS if c != "score"]  # the pair and its label
    both = a.merge(b, on=keys, suffixes=("_new", "_old"))
    if not len(both) == len(a) == len(b):
        raise RunError(f"{new['run']} and {old['run']} were calibrated on different validation pairs ({len(a)} "
                       f"and {len(b)}, {len(both)} shared): compare them on the same pairs")
    both = both[both["found_new"] & both["found_old"]]
    return auc_difference(both["label"], both["raw_score_new"], both["raw_score_old"], resamples=resamples)
