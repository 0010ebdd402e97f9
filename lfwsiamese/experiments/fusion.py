"""The hand-crafted channel (LBP -> whitened PCA -> Joint Bayesian) and its fusion with trained models, per fold.

Everything is fitted on the people of the fold's training set, as the N-pair record of that fold split them:
PCA and Joint Bayesian on its training people; the PCA size, the fusion's logistic regression and every
threshold on its validation people's pairs (the record's val_scores.csv). Test labels are read only to report.
Each system is written as a record like a training run's, so the book's readers and intervals apply unchanged.
"""
from __future__ import annotations

import hashlib
import os
import platform
import resource
import sys
import time
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from ..data import protocols as P
from ..data.paths import require_data_dir, splits_dir
from ..data.splits import IdentitySplit, identity_split
from ..errors import RunError
from ..evaluate import evaluate_scores
from ..records.provenance import capture, cpu_model
from ..records.store import Record, RunOutput, find_record, pairs_from_scores, run_dir_for, run_lock, write_record
from .jointbayes import JointBayes
from .lbp import LbpFeatures, LbpSpec

PCA_CANDIDATES = (100, 200, 300, 400, 500)  # tried per fold, chosen on validation pairs (AUC)
PCA_SAMPLE = 4000  # training images the PCA is fitted on (seeded draw): its cost grows with their square


def sha_lines(items: Sequence[str]) -> str:
    """As training hashes its people and images (training.run._sha_lines)."""
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def fold_split(data: DataConfig, seed: int, data_dir: str | os.PathLike | None = None
               ) -> tuple[IdentitySplit, list[P.Pair]]:
    """The training/validation people and the test pairs that training.run.protocol_data gives a config."""
    sdir = splits_dir(require_data_dir(data_dir))
    if data.protocol == "view2":
        k = data.fold
        test_pairs = [p for p in P.load_pairs("pairs.txt", sdir) if p.fold == k]
        sets = P.load_people("people.txt", sdir)
        train_counts = [c for s in sets if s.fold != k for c in s.counts]
        test_people = set(next(s.names for s in sets if s.fold == k))
    else:
        test_pairs = P.load_pairs("pairsDevTest.txt", sdir)
        train_counts = [c for s in P.load_people("peopleDevTrain.txt", sdir) for c in s.counts]
        test_people = {n for s in P.load_people("peopleDevTest.txt", sdir) for n in s.names}
    test_people |= {n for p in test_pairs for n in p.people}
    return identity_split(train_counts, data.val_fraction, data.val_pairs, seed, test_people), test_pairs


def check_same_split(rec: Record, split: IdentitySplit, test_pairs: Sequence[P.Pair]) -> None:
    """Refuse to fuse with a record whose people or pairs differ from ours."""
    m = rec.metrics
    if sha_lines(split.train_names) != m["train_people_sha256"] or \
            sha_lines([n for n, _ in split.val_people]) != m["val_people_sha256"]:
        raise RunError(f"{rec.path.name}: its training/validation people differ from this split")
    if pairs_from_scores(rec.val_scores) != [replace(p, fold=0) for p in split.val] or \
            pairs_from_scores(rec.scores) != [replace(p, fold=0) for p in test_pairs]:
        raise RunError(f"{rec.path.name}: its validation or test pairs differ from this split's")


def _project(feats: LbpFeatures, rows: np.ndarray, mean: np.ndarray, w: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Rows of the (memory-mapped) features through the PCA, a chunk at a time, read in file order."""
    out = np.empty((len(rows), w.shape[1]), np.float32)
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        order = np.argsort(part)
        out[i + order] = (feats.array[part[order]].astype(np.float32) - mean) @ w
    return out


def whitened_pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, D x dims projection) of a whitened PCA, through the n x n Gram matrix (n << D); centres x in place."""
    mean = x.mean(0)
    xc = x
    xc -= mean
    lam, u = np.linalg.eigh(xc @ xc.T)
    top = np.argsort(lam)[::-1][:dims]
    return mean, (xc.T @ u[:, top]) * (np.sqrt(len(x) - 1) / lam[top]).astype(np.float32)


def lbp_jb_channel(feats: LbpFeatures, split: IdentitySplit, val_pairs: Sequence[P.Pair],
                   test_pairs: Sequence[P.Pair], seed: int = 0) -> dict[str, Any]:
    """Fit PCA + Joint Bayesian on the training people; choose the PCA size on the validation pairs."""
    t0 = time.perf_counter()
    train = split.train_images
    labels = np.array([r.split("/")[0] for r in train])
    tr_rows = feats.rows(train)
    sub = np.sort(np.random.default_rng([seed, 33]).permutation(tr_rows)[:PCA_SAMPLE])
    mean, w = whitened_pca(feats.array[sub].astype(np.float32), max(PCA_CANDIDATES))
    pair_refs = [r.relpath for p in list(val_pairs) + list(test_pairs) for r in (p.a, p.b)]
    z_tr = _project(feats, tr_rows, mean, w)
    z_pairs = _project(feats, feats.rows(pair_refs), mean, w)
    n_val = len(val_pairs)
    za, zb = z_pairs[0::2], z_pairs[1::2]
    t_pca = time.perf_counter() - t0
    y_val = np.array([p.label for p in val_pairs])
    from sklearn.metrics import roc_auc_score
    tried, best = [], None
    for k in PCA_CANDIDATES:
        jb = JointBayes().fit(z_tr[:, :k], labels)
        s = jb.score(za[:, :k], zb[:, :k])
        auc = float(roc_auc_score(y_val, s[:n_val]))
        tried.append({"pca_dims": k, "val_auc": auc, "em_iterations": jb.n_iter_})
        if best is None or auc > best[0]:
            best = (auc, k, s)
    _, k, s = best
    return {"val_scores": s[:n_val], "test_scores": s[n_val:], "pca_dims": k, "candidates": tried,
            "seconds": {"pca": t_pca, "jb": time.perf_counter() - t0 - t_pca},
            "features_seconds": feats.seconds_per_image * (len(train) + len(set(pair_refs))),
            "train_images": train, "train_people": split.train_names}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def fuse(val: Mapping[str, np.ndarray], val_labels: np.ndarray, test: Mapping[str, np.ndarray]
         ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Logistic regression on standardised channel scores, fitted on validation pairs only.

    Returns the weights (per standardised channel, and the intercept) and the fused val and test scores
    (probabilities of "same"). Test labels are not an argument: they cannot enter the fit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    names = list(val)
    xv = np.column_stack([val[n] for n in names])
    xt = np.column_stack([test[n] for n in names])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(xv, np.asarray(val_labels).astype(int))
    lr = model[-1]
    weights = {"channels": names, "weights": [float(c) for c in lr.coef_[0]], "intercept": float(lr.intercept_[0])}
    return weights, model.predict_proba(xv)[:, 1], model.predict_proba(xt)[:, 1]


def env_now() -> dict[str, Any]:
    """The record's env.json, without importing Keras: no network is run here."""
    import datetime as dt
    import sklearn
    prov = capture()
    return {"lfwsiamese": __import__("lfwsiamese").__version__, "python": sys.version.split()[0],
            "numpy": np.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": [], "device": "CPU", "backend": "numpy",
            "threads": os.cpu_count(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": prov.label, "git_commit_taken": "when written", "code_patch": None}


def _metrics(val_pairs: Sequence[P.Pair], val_s: np.ndarray, test_pairs: Sequence[P.Pair], test_s: np.ndarray,
             split: IdentitySplit, fit_seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    yv = np.array([p.label for p in val_pairs])
    yt = np.array([p.label for p in test_pairs])
    val_people = sorted(n for n, _ in split.val_people)
    m = evaluate_scores(yv, val_s, yt, test_s)
    m.update({"fit_seconds": fit_seconds, "val_pairs": len(val_pairs), "test_pairs": len(test_pairs),
              "validation": "identities", "sampling": "identities",
              "train_images_count": len(split.train_images), "train_images_sha256": sha_lines(split.train_images),
              "train_people_count": len(split.train_names), "train_people_sha256": sha_lines(split.train_names),
              "val_people_count": len(val_people), "val_people_sha256": sha_lines(val_people),
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra})
    return m


def _write(cfg: ExperimentConfig, metrics: dict[str, Any], history: pd.DataFrame, val_pairs: Sequence[P.Pair],
           val_s: np.ndarray, test_pairs: Sequence[P.Pair], test_s: np.ndarray, results: Any = None) -> Record:
    d = run_dir_for(cfg, results)
    with run_lock(d):
        return write_record(d, RunOutput(cfg, metrics, history, list(val_pairs), val_s, list(test_pairs), test_s,
                                         env_now()))


#: The hand-crafted channels: record name -> (what its features are, in the record; the features' spec).
CHANNELS: dict[str, tuple[str, LbpSpec]] = {
    "lbp-jb": ("multi-scale uniform LBP at 18 fixed points", LbpSpec()),
    "lbp-lm-jb": ("multi-scale uniform LBP at 18 points of each image's dlib landmarks", LbpSpec(landmarks=True))}


def is_channel(name: str) -> bool:
    """Whether a record is a hand-crafted channel (its scores are JB log-likelihood ratios, not probabilities)."""
    return name in CHANNELS


def channel_configs(base: ExperimentConfig, channel: str = "lbp-jb") -> tuple[ExperimentConfig, ExperimentConfig]:
    """The configs (record names) of a hand-crafted channel and of its fusion with `base`, a trained record's."""
    data = replace(base.data, crop=(), size=250, augment="", pixel_scale=1.0)  # LBP reads the whole frame
    lbp = ExperimentConfig(name=channel, seed=base.seed, data=data, model=ModelConfig(), train=TrainConfig())
    return lbp, replace(base, name=f"fused-{base.name}-{channel}")


def lbp_record(base: Record, features: Callable[[], LbpFeatures], data_dir: str | os.PathLike | None = None,
               results: str | os.PathLike | None = None, channel: str = "lbp-jb") -> Record:
    """A channel's record on `base`'s split (same training, validation and test people), made if missing;
    `features` is called only then (computing them the first time takes minutes)."""
    cfg = channel_configs(base.config, channel)[0]
    rec = find_record(cfg, results)
    if rec is not None:
        return rec
    feats = features()
    split, test_pairs = fold_split(base.config.data, base.config.validation_seed, data_dir)
    check_same_split(base, split, test_pairs)
    ch = lbp_jb_channel(feats, split, split.val, test_pairs, base.config.seed)
    extra = {"channel": {"features": CHANNELS[channel][0], "dims": int(feats.array.shape[1]),
                         "pca_dims": ch["pca_dims"], "pca_sample": PCA_SAMPLE, "pca_candidates": ch["candidates"],
                         "pca_chosen_on": "validation pairs (AUC)"},
             "cost_seconds": {"features": ch["features_seconds"], **ch["seconds"]}}
    fit_s = ch["features_seconds"] + sum(ch["seconds"].values())
    return _write(cfg, _metrics(split.val, ch["val_scores"], test_pairs, ch["test_scores"], split, fit_s, extra),
                  pd.DataFrame(ch["candidates"]), split.val, ch["val_scores"], test_pairs, ch["test_scores"], results)


def _channel_scores(rec: Record) -> tuple[np.ndarray, np.ndarray]:
    """A record's (val, test) scores as fusion inputs: a network's probabilities as log-odds, JB's LLR as is."""
    v, t = rec.val_scores["score"].to_numpy(), rec.scores["score"].to_numpy()
    return (v, t) if is_channel(rec.config.name) else (_logit(v), _logit(t))


def subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of the channels, smallest first."""
    from itertools import combinations
    return [c for k in range(1, len(names) + 1) for c in combinations(names, k)]


def choose_subset(val: Mapping[str, np.ndarray], y: np.ndarray, folds: int = 5) -> tuple[tuple[str, ...], list]:
    """The channel subset whose fusion has the best cross-validated AUC on the validation pairs (seeded folds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    tried = [{"channels": list(c), "cv_auc": float(cross_val_score(
        make_pipeline(StandardScaler(), LogisticRegression()), np.column_stack([val[n] for n in c]), y, cv=cv,
        scoring="roc_auc").mean())} for c in subsets(list(val))]
    best = max(tried, key=lambda t: t["cv_auc"])
    return tuple(best["channels"]), tried


def fuse_records(name: str, records: Sequence[Record], search: bool = False,
                 results: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None) -> Record:
    """The fusion of records that share their split, fitted on validation pairs; `search`: the channel subset too."""
    base = records[0]
    cfg = replace(base.config, name=name)
    rec = find_record(cfg, results)
    if rec is not None:
        return rec
    split, test_pairs = fold_split(base.config.data, base.config.validation_seed, data_dir)
    for r in records:
        check_same_split(r, split, test_pairs)
    t0 = time.perf_counter()
    yv = np.array([p.label for p in split.val])
    scores = {r.config.name: _channel_scores(r) for r in records}
    val = {n: v for n, (v, _) in scores.items()}
    chosen, tried = choose_subset(val, yv) if search else (tuple(val), [])
    w, fv, ft = fuse({n: val[n] for n in chosen}, yv, {n: scores[n][1] for n in chosen})
    fuse_s = time.perf_counter() - t0
    cost = {"fusion": fuse_s}
    for r in records:
        for k, v in r.metrics.get("cost_seconds", {"base_fit": r.metrics["fit_seconds"]}).items():
            cost[k] = cost.get(k, 0.0) + v
    extra = {"fusion": {**w, "model": "logistic regression on standardised scores (networks as log-odds)",
                        "fitted_on": "validation pairs", "candidates_tried": max(len(tried), 1),
                        "search": tried, "chosen_on": "5-fold cross-validated AUC on validation pairs" if search
                        else "fixed: every channel"},
             "sources": [r.path.name for r in records], "cost_seconds": cost}
    if any(is_channel(n) for n in scores):
        extra["channel"] = next(r for r in records if is_channel(r.config.name)).metrics["channel"]
    fit_s = sum(r.metrics["fit_seconds"] for r in records) + fuse_s
    return _write(cfg, _metrics(split.val, fv, test_pairs, ft, split, fit_s, extra),
                  pd.DataFrame([{"channel": c, "weight": v} for c, v in zip(w["channels"], w["weights"])]),
                  split.val, fv, test_pairs, ft, results)


def run_fold(base: Record, features: Callable[[], LbpFeatures], data_dir: str | os.PathLike | None = None,
             results: str | os.PathLike | None = None, channel: str = "lbp-jb") -> tuple[Record, Record]:
    """Both records of one fold (the channel alone, and fused with `base`); finished ones are read, not redone."""
    lbp = lbp_record(base, features, data_dir, results, channel)
    return lbp, fuse_records(channel_configs(base.config, channel)[1].name, [base, lbp], results=results,
                             data_dir=data_dir)


def base_records(name: str, protocol: str = "view2", seed: int = 0,
                 results: str | os.PathLike | None = None) -> list[Record]:
    """The complete records of recipe `name` under `protocol` and `seed`, by fold."""
    import json
    from ..records.store import is_complete, load_record, results_dir
    out = []
    for d in sorted((results_dir(results) / "runs").glob(f"{name}-*")):
        if d.is_dir() and is_complete(d):
            c = json.loads((d / "config.json").read_text())
            if c["name"] == name and c["seed"] == seed and c["data"].get("protocol", "view1") == protocol:
                out.append(load_record(d))
    return sorted(out, key=lambda r: r.config.data.fold)
