"""One training run: the protocol's data, fit, scores, and the record handed to `records`."""
from __future__ import annotations

import hashlib
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import ExperimentConfig
from ..data import protocols as P
from ..data.images import ImageStore, Preprocess
from ..data.photos import MixedStore, load_store
from ..data.paths import require_data_dir, splits_dir
from ..data.sampling import calibration_pairs, epoch_pair_arrays, identity_groups
from ..data.splits import IdentitySplit, Split, identity_split, make_split
from ..errors import DataError, RunError
from ..evaluate import evaluate_scores
from ..files import (
    atomic_write_json,
    atomic_write_text,
    check_writable_file,
    write_errors,
)
from ..models.towers import build_siamese
from ..models.weights import weight_histograms, weight_snapshot
from ..records.provenance import Provenance, capture, environment, rss_mib
from ..records.schema import RunMetrics
from ..records.store import (
    RESUME_HINT,
    Record,
    RunOutput,
    load_record,
    load_run_model,
    pairs_from_scores,
    require_results_dir,
    run_dir_for,
    run_lock,
    start_record,
    write_record,
)
from .callbacks import make_callbacks
from .checkpoint import FITTED, Checkpoint, latest_checkpoint, save_checkpoint
from .optim import build_models, fit_cosine_head
from .scoring import predict_pairs
from .setup import check_backend, jit_compile, precision_policy, setup


def protocol_data(cfg: ExperimentConfig, data: str | os.PathLike | None,
                  progress: bool = True) -> tuple[ImageStore, Split | IdentitySplit, list[P.Pair]]:
    """Images, the training/validation split `cfg.data.sampling` asks for, and the test pairs of the protocol.

    View 1: test = the 1,000 pairsDevTest pairs; training = the 2,200 pairsDevTrain pairs ("pairs", restricted)
    or every image of the peopleDevTrain people ("identities", unrestricted).
    View 2, fold k: test = the 600 pairs of fold k of pairs.txt; training = the pairs of the nine other folds
    ("pairs") or the people of the nine other sets of people.txt ("identities").
    Validation is always made of training people held out from training; any test person in training is refused.
    """
    data_dir = require_data_dir(data)
    sdir = splits_dir(data_dir)
    store = load_store(cfg.data.images, data_dir, Preprocess.of(cfg.data), progress=progress)
    if cfg.data.protocol == "view2":
        k = cfg.data.fold
        all_pairs = P.load_pairs("pairs.txt", sdir)
        test_pairs = [p for p in all_pairs if p.fold == k]
        sets = P.load_people("people.txt", sdir)
        train_counts = [c for s in sets if s.fold != k for c in s.counts]
        test_people = set(next(s.names for s in sets if s.fold == k))
        train_pairs = [p for p in all_pairs if p.fold != k]
    else:
        test_pairs = P.load_pairs("pairsDevTest.txt", sdir)
        train_counts = [c for s in P.load_people("peopleDevTrain.txt", sdir) for c in s.counts]
        test_people = {n for s in P.load_people("peopleDevTest.txt", sdir) for n in s.names}
        train_pairs = P.load_pairs("pairsDevTrain.txt", sdir)
    test_people |= {n for p in test_pairs for n in p.people}
    split: Split | IdentitySplit
    if cfg.data.sampling == "identities":
        split = identity_split(train_counts, cfg.data.val_fraction, cfg.data.val_pairs, cfg.validation_seed,
                               test_people)
    else:
        leaked = sorted({n for p in train_pairs for n in p.people} & test_people)
        if leaked:
            raise DataError(f"{len(leaked)} test people appear in the training pairs (e.g. {leaked[:3]}); the protocol "
                            f"files are not the official ones: check them with `lfwsiamese data check`")
        split = make_split(train_pairs, cfg.data.validation, cfg.data.val_fraction, cfg.validation_seed)
    return store, split, test_pairs


view1_data = protocol_data  # the name earlier code and notebooks used


def _sha_lines(items: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


@dataclass
class Prepared:
    """A run ready to fit: data, the epochs' batches (from its first unfinished epoch on) and the models."""

    cfg: ExperimentConfig
    run_dir: Path
    store: ImageStore
    split: Split | IdentitySplit
    test_pairs: list[P.Pair]
    train_ds: Any
    val_ds: Any
    steps: int  # per epoch
    n_train: int  # training pairs per epoch
    train_images: list[str]
    train_people: list[str]
    first_epoch: int
    checkpoint: Checkpoint | None  # what this process resumes from
    model: Any  # what is fitted
    scorer: Any  # the Siamese model that scores pairs (`model` itself for the pair loss)
    calibration: tuple | None  # N-pair loss: training pairs on which the head is fitted
    policy: str
    provenance: Provenance


@dataclass
class Fitted:
    history: pd.DataFrame
    fit_seconds_this_process: float
    rss_seen: list[float]
    initial_weights: dict[str, np.ndarray]


def prepare(cfg: ExperimentConfig, run_dir: Path, data: str | os.PathLike | None, progress: bool) -> Prepared:
    """Seeds and precision, the protocol's data and split, this run's epochs of pairs, and the compiled models.

    A folder with a backup resumes from its last finished epoch; anything a run that never finished an epoch left is
    removed. The provenance (commit and code patch) is taken here, at the start, with the config.
    """
    import gc

    import keras
    keras.backend.clear_session()  # a sweep trains many runs in one process: start each from a clean graph
    gc.collect()
    check_backend(cfg)
    provenance = capture()
    policy = setup(cfg)
    store, split, test_pairs = protocol_data(cfg, data, progress)
    from ..data.pipeline import (
        epoch_pairs_dataset,
        pair_dataset,
        steps_per_epoch,
        training_dataset,
    )
    checkpoint = latest_checkpoint(run_dir)
    first_epoch = checkpoint.epoch if checkpoint is not None else 0
    log = run_dir / "history.csv"
    if not first_epoch:  # leftovers of a run that never finished an epoch
        shutil.rmtree(run_dir / "_backup", ignore_errors=True)
        log.unlink(missing_ok=True)
    elif log.is_file():  # keep exactly the epochs the backup holds (a kill may fall between log and backup)
        with write_errors(log, RESUME_HINT):
            atomic_write_text(log, pd.read_csv(log).iloc[:first_epoch].to_csv(index=False))
    calibration = None
    if isinstance(split, IdentitySplit):  # fresh pairs per epoch, from (seed, epoch) alone
        n_train = cfg.data.pairs_per_epoch
        groups = identity_groups(store, split.train_people)
        npair = cfg.train.batch_size if cfg.train.loss == "npair" else 0
        ea, eb, ey = epoch_pair_arrays(groups, n_train, cfg.seed, first_epoch, cfg.train.epochs, positive_batch=npair)
        if isinstance(store, MixedStore):  # each side its crop or its photo (the N-pair batches keep their people)
            ea, eb = store.mix(ea, cfg.seed, first_epoch), store.mix(eb, cfg.seed + 1, first_epoch)
        train_ds = epoch_pairs_dataset(store.array, ea, eb, ey, cfg.train.batch_size, seed=cfg.seed,
                                       first_epoch=first_epoch, pixel_scale=cfg.data.pixel_scale,
                                       augment=cfg.data.augment)
        train_images, train_people = split.train_images, split.train_names
        if npair:
            calibration = calibration_pairs(groups, 2000, cfg.seed)
    else:
        ta, tb, ty = store.rows(split.train)
        if isinstance(store, MixedStore):  # one draw for all epochs (this sampling repeats its pairs)
            ta, tb = store.mix(ta, cfg.seed), store.mix(tb, cfg.seed + 1)
        n_train = len(ta)
        train_ds = training_dataset(store.array, ta, tb, ty, cfg.train.batch_size, seed=cfg.seed, first_epoch=first_epoch,
                                    epochs=cfg.train.epochs, pixel_scale=cfg.data.pixel_scale, augment=cfg.data.augment)
        train_images = sorted({r.relpath for p in split.train for r in (p.a, p.b)})
        train_people = sorted({n for p in split.train for n in p.people})
    va, vb, vy = store.rows(split.val)
    val_ds = pair_dataset(store.array, va, vb, vy, 128, pixel_scale=cfg.data.pixel_scale)
    steps = steps_per_epoch(n_train, cfg.train.batch_size)
    model, scorer = build_models(cfg, steps)
    start_record(run_dir, cfg, provenance)
    return Prepared(cfg, run_dir, store, split, test_pairs, train_ds, val_ds, steps, n_train, train_images,
                    train_people, first_epoch, checkpoint, model, scorer, calibration, policy, provenance)


def fit(prep: Prepared, progress: bool = True, extra_callbacks: Sequence[Any] = ()) -> Fitted:
    """Train the remaining epochs; the history is the CSV log, which covers earlier processes of a resumed run.

    The fitted weights are then checkpointed (`_backup/fitted`), so a run that stops before its record is whole
    (a full disk) is scored again from them; a run whose checkpoint says training ended trains no further epoch.
    """
    cfg, run_dir = prep.cfg, prep.run_dir
    finished = prep.checkpoint is not None and prep.checkpoint.finished
    initial_weights = weight_snapshot(prep.scorer)  # (a resumed run rebuilds the same init from the seed)
    va, vb, vy = prep.store.rows(prep.split.val)
    callbacks = make_callbacks(cfg, run_dir, prep.model, prep.store, prep.test_pairs, progress, prep.scorer,
                               prep.calibration, (va, vb, vy))
    extras = next(c for c in callbacks if hasattr(c, "rss_seen"))
    t0 = time.perf_counter()
    prep.model.fit(prep.train_ds, validation_data=None if prep.calibration else prep.val_ds,
                   epochs=prep.first_epoch if finished else cfg.train.epochs,  # (none left: the checkpoint is loaded)
                   shuffle=False,  # order: see pipeline
                   steps_per_epoch=prep.steps, callbacks=callbacks + list(extra_callbacks),
                   verbose=(1 if sys.stdout.isatty() else 2) if progress else 0)
    fit_seconds = time.perf_counter() - t0
    hist = pd.read_csv(run_dir / "history.csv")
    if hist.empty:
        raise RunError(f"{run_dir}: training logged no epoch")
    hist = hist.drop_duplicates("epoch", keep="last").reset_index(drop=True)
    if prep.calibration is not None:  # (already so after the last epoch; again for a resume that trained none)
        fit_cosine_head(prep.scorer, prep.store, *prep.calibration, cfg.data.pixel_scale)
    if not (prep.checkpoint is not None and prep.checkpoint.path.name == FITTED):
        save_checkpoint(prep.model, run_dir, len(hist), finished=True)
    return Fitted(hist, fit_seconds, list(extras.rss_seen), initial_weights)


def score(prep: Prepared, fitted: Fitted, save_model: bool = True) -> RunOutput:
    """Validation and test scores (flip-averaged if the config says so), the threshold chosen on validation, and
    every metric of the record."""
    cfg, split, test_pairs, model, store = prep.cfg, prep.split, prep.test_pairs, prep.scorer, prep.store
    hist = fitted.history
    vy = np.array([p.label for p in split.val])
    ty = np.array([p.label for p in test_pairs])
    t1 = time.perf_counter()
    val_s = predict_pairs(model, store, split.val, cfg.data.pixel_scale)
    test_s = predict_pairs(model, store, test_pairs, cfg.data.pixel_scale)
    plain = evaluate_scores(vy, val_s, ty, test_s) if cfg.train.tta_flip else None
    if cfg.train.tta_flip:  # the mirrored pair's score averaged in; the plain metrics kept for the ablation
        val_s = 0.5 * (val_s + predict_pairs(model, store, split.val, cfg.data.pixel_scale, mirrored=True))
        test_s = 0.5 * (test_s + predict_pairs(model, store, test_pairs, cfg.data.pixel_scale, mirrored=True))
    predict_seconds = time.perf_counter() - t1
    res: RunMetrics = evaluate_scores(vy, val_s, ty, test_s)  # type: ignore[assignment]
    if plain is not None:
        res["without_tta"] = plain  # type: ignore[typeddict-item]
    epoch_time_total = float(hist["epoch_seconds"].sum())
    res.update({
        "epochs_run": int(len(hist)),
        "fit_seconds": epoch_time_total,
        "fit_seconds_this_process": fitted.fit_seconds_this_process,
        "resumed": prep.first_epoch > 0,
        "train_pairs": prep.n_train, "val_pairs": len(split.val), "test_pairs": len(test_pairs),
        "train_pairs_per_second": prep.n_train * len(hist) / epoch_time_total if epoch_time_total else None,
        "predict_seconds_val_and_test": predict_seconds,
        "predict_pairs_per_second": (len(split.val) + len(test_pairs)) / predict_seconds,
        # the process's peak (what a single `lfwsiamese train` needs); in a sweep it also covers earlier runs,
        # so the largest resident size seen during this run is recorded too
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "max_rss_mib_this_run": max(fitted.rss_seen + [rss_mib()]),
        "validation": split.kind,
        "train_images_count": len(prep.train_images), "train_images_sha256": _sha_lines(prep.train_images),
        "train_people_count": len(prep.train_people), "train_people_sha256": _sha_lines(prep.train_people),
        "final_train_loss": float(hist["loss"].iloc[-1]), "final_val_loss": float(hist["val_loss"].iloc[-1]),
        "final_l2_penalty": float(hist["l2_penalty"].iloc[-1]),
    })
    if isinstance(split, IdentitySplit):  # train_pairs is then per epoch, each epoch drawing new ones
        val_people = sorted(n for n, _ in split.val_people)
        res.update({"sampling": "identities", "val_people_count": len(val_people),
                    "val_people_sha256": _sha_lines(val_people)})

    def save(path: Path) -> None:  # an uncompiled copy: no optimizer state, a third of the size
        clean = build_siamese(cfg.model, cfg.data.size)
        clean.set_weights(model.get_weights())
        clean.save(path)

    return RunOutput(cfg, res, hist, split.val, val_s, test_pairs, test_s,
                     environment(prep.policy, jit_compile(cfg), prep.provenance),
                     weight_histograms(fitted.initial_weights, weight_snapshot(model)), save if save_model else None)


def train_run(cfg: ExperimentConfig, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
              progress: bool = True, save_model: bool = True, extra_callbacks: Sequence[Any] = ()) -> Record:
    """Train `cfg` under its protocol (View 1, or one View 2 fold), score it, and store its record.

    prepare -> fit -> score -> `records.write_record`, under the run's lock; a complete record is returned as
    stored, an interrupted one resumes from its last finished epoch.
    """
    cfg.validate()
    require_results_dir(results)  # before the data are loaded: a results path that is a file, say
    run_dir = run_dir_for(cfg, results)
    with run_lock(run_dir):
        with write_errors(run_dir, RESUME_HINT):
            run_dir.mkdir(parents=True, exist_ok=True)
        if (run_dir / "metrics.json").is_file():
            return load_record(run_dir)
        with precision_policy():  # the run's policy (`setup`) for the run only
            prep = prepare(cfg, run_dir, data, progress)
            fitted = fit(prep, progress, extra_callbacks)
            return write_record(run_dir, score(prep, fitted, save_model))


def add_without_tta(run_dir: str | os.PathLike, data: str | os.PathLike | None = None,
                    progress: bool = True, tolerance: float = 2e-3) -> dict[str, Any]:
    """Score a flip-averaged record's pairs again without the mirrored pass and store the metrics as
    `without_tta` in its metrics.json: the test-time-augmentation row of the ablation, from the same weights.

    Records trained before `without_tta` was recorded need this once; newer ones carry it already. The
    flip-averaged scores are recomputed first and must match the stored ones (within `tolerance`, for
    bfloat16 arithmetic), so the weights are proven to be the record's own.
    """
    rec = load_record(run_dir)
    if not rec.config.train.tta_flip:
        raise RunError(f"{rec.path}: trained with train.tta_flip=False, its scores already have no flip averaging")
    target = Path(rec.path) / "metrics.json"
    check_writable_file(target, f"run folder {rec.path}", "make it writable, or copy the run folder somewhere writable "
                        "and pass that RUN_DIR")
    with precision_policy():  # the record's policy for this function only
        return _add_without_tta(rec, target, data, progress, tolerance)


def _add_without_tta(rec: Record, target: Path, data: str | os.PathLike | None, progress: bool,
                     tolerance: float) -> dict[str, Any]:
    setup(rec.config)
    model = load_run_model(rec.path)
    store = load_store(rec.config.data.images, require_data_dir(data), Preprocess.of(rec.config.data),
                       progress=progress)
    scale = rec.config.data.pixel_scale
    plain, averaged, labels = {}, {}, {}
    for split, df in (("val", rec.val_scores), ("test", rec.scores)):
        pairs = pairs_from_scores(df)
        plain[split] = predict_pairs(model, store, pairs, scale)
        averaged[split] = 0.5 * (plain[split] + predict_pairs(model, store, pairs, scale, mirrored=True))
        labels[split] = df["label"].to_numpy()
        gap = float(np.max(np.abs(averaged[split] - df["score"].to_numpy())))
        if gap > tolerance:
            raise RunError(f"{rec.path}: model.keras does not reproduce the stored {split} scores (max difference "
                           f"{gap:.4f} > {tolerance}); the weights are not this record's: retrain it")
    res = evaluate_scores(labels["val"], plain["val"], labels["test"], plain["test"])
    metrics_ = dict(rec.metrics, without_tta=res)
    with write_errors(target, "metrics.json is as it was (written atomically); free space on that disk and rerun"):
        atomic_write_json(target, metrics_)
    return res
