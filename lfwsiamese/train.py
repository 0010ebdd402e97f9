"""Train a Siamese network from a config and write its complete record.

Resumable: an interrupted run (Ctrl-C, SIGTERM, a kill) continues from its last finished epoch.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import protocols as P
from .config import ExperimentConfig
from .data import (IdentitySplit, ImageStore, Preprocess, Split, calibration_pairs, epoch_pair_arrays, identity_groups, identity_split,
                   load_images, make_split, require_data_dir, splits_dir)
from .errors import DataError, RunError
from .evaluate import evaluate_scores, metrics
from .experiments import (Record, atomic_write_json, atomic_write_text, environment, load_record, rss_mib,
                          run_dir_for, run_lock)


def has_fast_bf16() -> bool:
    """AMX/AVX512-BF16 CPUs and Ampere-or-newer GPUs run bfloat16 matrix work natively."""
    import tensorflow as tf
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability", (0, 0)) >= (8, 0):
            return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if has_fast_bf16() else "float32"


def setup(cfg: ExperimentConfig) -> str:
    """Seeds, determinism, precision policy. Returns the policy actually used."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


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
    store = load_images(data_dir, Preprocess(tuple(cfg.data.crop), cfg.data.size), progress=progress)
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
        split = identity_split(train_counts, cfg.data.val_fraction, cfg.data.val_pairs, cfg.seed, test_people)
    else:
        leaked = sorted({n for p in train_pairs for n in p.people} & test_people)
        if leaked:
            raise DataError(f"{len(leaked)} test people appear in the training pairs (e.g. {leaked[:3]}); the protocol "
                            f"files are not the official ones: check them with `lfwsiamese data check`")
        split = make_split(train_pairs, cfg.data.validation, cfg.data.val_fraction, cfg.seed)
    return store, split, test_pairs


view1_data = protocol_data  # the name earlier code and notebooks used


def predict_pairs(model: Any, store: ImageStore, pairs: Any, pixel_scale: float, batch_size: int = 128,
                  tta_flip: bool = False, mirrored: bool = False) -> np.ndarray:
    """P(same) per pair; with `tta_flip` the mean of the scores of (a, b) and of (mirrored a, mirrored b);
    `mirrored` alone scores the mirrored pair only."""
    from .pipeline import pair_dataset
    a, b, y = store.rows(pairs)
    ds = pair_dataset(store.array, a, b, y, batch_size, pixel_scale=pixel_scale, flip=mirrored)
    s = model.predict(ds, verbose=0).astype(np.float64).ravel()
    if tta_flip:
        s = 0.5 * (s + predict_pairs(model, store, pairs, pixel_scale, batch_size, mirrored=not mirrored))
    return s


def _scores_frame(pairs: Any, scores: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "name_a": [p.a.name for p in pairs], "index_a": [p.a.index for p in pairs],
        "name_b": [p.b.name for p in pairs], "index_b": [p.b.index for p in pairs],
        "label": [p.label for p in pairs], "score": scores,
    })


def _sha_lines(items: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


#: Variables weight decay never shrinks: biases, batch-norm scale/shift, the cosine head's scale and offset.
NO_DECAY = ("bias", "gamma", "beta", "scale", "offset")


def learning_rate(cfg: ExperimentConfig, steps_per_epoch: int | None = None) -> Any:
    """A float (constant, no warm-up: the reference), else a schedule of the optimizer's step count.

    The step count is optimizer state, which BackupAndRestore restores, so a resumed run continues the schedule.
    """
    lr = cfg.train.learning_rate
    if cfg.train.lr_schedule == "constant" and not cfg.train.warmup_epochs:
        return lr
    if not steps_per_epoch:
        raise ValueError("a learning-rate schedule or warm-up needs steps_per_epoch to span all steps")
    import keras
    total = cfg.train.epochs * steps_per_epoch
    warmup = cfg.train.warmup_epochs * steps_per_epoch
    alpha = 1.0 if cfg.train.lr_schedule == "constant" else 0.0  # alpha=1: the "decay" keeps lr
    if warmup:  # linear 0 -> lr over the warm-up, then cosine lr -> 0 (or constant lr)
        return keras.optimizers.schedules.CosineDecay(0.0, total - warmup, alpha=alpha, warmup_target=lr, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(lr, total, alpha=alpha)


def make_optimizer(cfg: ExperimentConfig, steps_per_epoch: int | None = None) -> Any:
    """Adam (AdamW when train.weight_decay > 0) or SGD, at the configured learning rate or schedule."""
    import keras
    lr = learning_rate(cfg, steps_per_epoch)
    wd = cfg.train.weight_decay
    if cfg.train.optimizer == "adam":
        opt = keras.optimizers.AdamW(lr, weight_decay=wd) if wd else keras.optimizers.Adam(lr)
    else:
        opt = keras.optimizers.SGD(lr, momentum=0.5, weight_decay=wd or None)
    if wd:
        opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt


def build_compiled(cfg: ExperimentConfig, steps_per_epoch: int | None = None) -> Any:
    """The model, compiled; a learning-rate schedule needs `steps_per_epoch`."""
    return build_models(cfg, steps_per_epoch)[0]


def build_models(cfg: ExperimentConfig, steps_per_epoch: int | None = None) -> tuple[Any, Any]:
    """(the compiled model that is trained, the Siamese model that scores pairs): one and the same for the pair
    loss; for the N-pair loss a trainer over the Siamese model's own tower (shared variables)."""
    from .models import build_siamese
    model = build_siamese(cfg.model, cfg.data.size)
    opt = make_optimizer(cfg, steps_per_epoch)
    if cfg.train.loss == "npair":
        from .losses import NPairLoss, npair_trainer
        trainer = npair_trainer(model)
        trainer.compile(opt, NPairLoss(cfg.train.loss_scale, cfg.train.loss_margin), jit_compile=cfg.train.jit_compile)
        return trainer, model
    model.compile(opt, "binary_crossentropy", metrics=["accuracy"], jit_compile=cfg.train.jit_compile)
    return model, model


def fit_cosine_head(model: Any, store: ImageStore, a: np.ndarray, b: np.ndarray, y: np.ndarray,
                    pixel_scale: float) -> tuple[float, float]:
    """Set the cosine head's scale and offset by logistic regression of the labels on the pairs' cosines.

    An N-pair model learns the embedding only; this turns its cosines into calibrated P(same). Fitted on training
    people's pairs, so validation still chooses the threshold on people it has not seen.
    """
    from sklearn.linear_model import LogisticRegression
    tower = model.get_layer("tower")
    x = store.array[np.concatenate([a, b])].astype(np.float32)[..., None] * pixel_scale
    e = np.asarray(tower.predict(x, batch_size=256, verbose=0), np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-6
    cos = np.sum(e[: len(a)] * e[len(a):], axis=1, keepdims=True)
    lr = LogisticRegression(C=1e4).fit(cos, y)  # (almost) unregularised: two parameters, thousands of pairs
    head = model.get_layer("scaled_cosine")
    scale, offset = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    head.scale.assign(scale)
    head.offset.assign(offset)
    return scale, offset


def _backup_epoch(run_dir: Path) -> int:
    """The number of epochs a previous, interrupted process finished (0 for a fresh run)."""
    meta = run_dir / "_backup" / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"]) if meta.is_file() else 0
    except (ValueError, KeyError, OSError):
        return 0


def _seed_generators(model: Any) -> list:
    out = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        out.extend(getattr(layer, "_seed_generators", []) or [])
    return out


def _callbacks(cfg: ExperimentConfig, run_dir: Path, model: Any, store: ImageStore, test_pairs: Any, progress: bool,
               scorer: Any = None, calibration: tuple | None = None, val: tuple | None = None) -> list:
    """`scorer` is the Siamese model that scores pairs (`model` itself for the pair loss); for the N-pair loss
    `calibration` (a, b, y rows of training pairs) fits its head and `val` (a, b, y rows) is scored after each epoch."""
    import keras
    scorer = model if scorer is None else scorer

    class NPairValidation(keras.callbacks.Callback):
        """The N-pair trainer has no pair output: fit the head, then log the validation pairs' loss, accuracy at
        0.5 and AUC as Keras' own validation would for the pair loss."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            logs["head_scale"], logs["head_offset"] = fit_cosine_head(scorer, store, *calibration, cfg.data.pixel_scale)
            va, vb, vy = val
            from .pipeline import pair_dataset
            s = scorer.predict(pair_dataset(store.array, va, vb, vy, 128, pixel_scale=cfg.data.pixel_scale),
                               verbose=0).astype(np.float64).ravel()
            m = metrics(s, vy, 0.5)
            eps = 1e-7
            logs["val_loss"] = float(-np.mean(vy * np.log(np.clip(s, eps, 1)) + (1 - vy) * np.log(np.clip(1 - s, eps, 1))))
            logs["val_accuracy"] = m["accuracy_at_0.5"]
            logs["val_auc"] = m["auc"]

    class EpochExtras(keras.callbacks.Callback):
        """Epoch time, the L2 part of the loss, and (never used for choices) test metrics."""

        def __init__(self) -> None:
            super().__init__()
            self.rss_seen: list[float] = []  # resident memory after each epoch of this run

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            logs["epoch_seconds"] = time.perf_counter() - self._t
            self.rss_seen.append(rss_mib())
            logs["l2_penalty"] = float(sum(float(keras.ops.convert_to_numpy(l)) for l in self.model.losses)) if self.model.losses else 0.0
            if cfg.train.lr_schedule != "constant" or cfg.train.warmup_epochs:  # (so the reference's columns stay)
                logs["learning_rate_end"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            if cfg.train.test_each_epoch:
                s = predict_pairs(scorer, store, test_pairs, cfg.data.pixel_scale, tta_flip=cfg.train.tta_flip)
                y = np.array([p.label for p in test_pairs])
                m = metrics(s, y, 0.5)
                eps = 1e-7
                logs["test_loss_unused_for_choices"] = float(-np.mean(y * np.log(np.clip(s, eps, 1)) + (1 - y) * np.log(np.clip(1 - s, eps, 1))))
                logs["test_accuracy_unused_for_choices"] = m["accuracy_at_0.5"]
                logs["test_auc_unused_for_choices"] = m["auc"]

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping whose counters are rebuilt from the CSV log when a run resumes."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            log = run_dir / "history.csv"
            if log.is_file():
                try:
                    hist = pd.read_csv(log)
                except (pd.errors.EmptyDataError, pd.errors.ParserError):
                    return
                if self.monitor_op is None:
                    self._set_monitor_op()
                for _, row in hist.iterrows():
                    cur = float(row[self.monitor])
                    if self.best is None or self._is_improvement(cur, self.best):
                        self.best, self.wait, self.best_epoch = cur, 0, int(row["epoch"])
                    else:
                        self.wait += 1

    class EpochSeeds(keras.callbacks.Callback):
        """Dropout's random stream restarts from (seed, epoch) each epoch, so a resumed run matches."""

        def on_epoch_begin(self, epoch, logs=None):
            for k, sg in enumerate(_seed_generators(self.model)):
                sg.state.assign(np.array([cfg.seed * 1009 + k, epoch * 1_000_000], dtype=sg.state.dtype))

    cbs: list = [EpochSeeds()] + ([NPairValidation()] if calibration is not None else []) + [EpochExtras()]
    if cfg.train.early_stopping:
        cbs.append(ResumableEarlyStopping(monitor=cfg.train.es_monitor, min_delta=cfg.train.es_min_delta,
                                          patience=cfg.train.es_patience, restore_best_weights=cfg.train.restore_best,
                                          verbose=1 if progress else 0))
    cbs += [
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), histogram_freq=0, write_graph=False),
        keras.callbacks.BackupAndRestore(str(run_dir / "_backup"), delete_checkpoint=False),
    ]
    return cbs


def train_run(cfg: ExperimentConfig, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
              progress: bool = True, save_model: bool = True, extra_callbacks: Sequence[Any] = ()) -> Record:
    """Train `cfg` on View 1 (person-disjoint validation by default), evaluate, and store the record."""
    cfg.validate()
    run_dir = run_dir_for(cfg, results)
    with run_lock(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        if (run_dir / "metrics.json").is_file():
            return load_record(run_dir)
        import gc

        import keras
        keras.backend.clear_session()  # a sweep trains many runs in one process: start each from a clean graph
        gc.collect()
        policy = setup(cfg)
        store, split, test_pairs = protocol_data(cfg, data, progress)
        from .pipeline import epoch_pairs_dataset, pair_dataset, steps_per_epoch, training_dataset
        va, vb, vy = store.rows(split.val)
        first_epoch = _backup_epoch(run_dir)
        resumed = first_epoch > 0
        log = run_dir / "history.csv"
        if not resumed:  # leftovers of a run that never finished an epoch
            shutil.rmtree(run_dir / "_backup", ignore_errors=True)
            log.unlink(missing_ok=True)
        elif log.is_file():  # keep exactly the epochs the backup holds (a kill may fall between log and backup)
            atomic_write_text(log, pd.read_csv(log).iloc[:first_epoch].to_csv(index=False))
        if isinstance(split, IdentitySplit):  # fresh pairs per epoch, from (seed, epoch) alone
            n_train = cfg.data.pairs_per_epoch
            groups = identity_groups(store, split.train_people)
            npair = cfg.train.batch_size if cfg.train.loss == "npair" else 0
            ea, eb, ey = epoch_pair_arrays(groups, n_train, cfg.seed, first_epoch, cfg.train.epochs, positive_batch=npair)
            train_ds = epoch_pairs_dataset(store.array, ea, eb, ey, cfg.train.batch_size, seed=cfg.seed,
                                           first_epoch=first_epoch, pixel_scale=cfg.data.pixel_scale,
                                           augment=cfg.data.augment)
            train_images, train_people = split.train_images, split.train_names
        else:
            ta, tb, ty = store.rows(split.train)
            n_train = len(ta)
            train_ds = training_dataset(store.array, ta, tb, ty, cfg.train.batch_size, seed=cfg.seed, first_epoch=first_epoch,
                                        epochs=cfg.train.epochs, pixel_scale=cfg.data.pixel_scale, augment=cfg.data.augment)
            train_images = sorted({r.relpath for p in split.train for r in (p.a, p.b)})
            train_people = sorted({n for p in split.train for n in p.people})
        val_ds = pair_dataset(store.array, va, vb, vy, 128, pixel_scale=cfg.data.pixel_scale)
        steps = steps_per_epoch(n_train, cfg.train.batch_size)
        model, scorer = build_models(cfg, steps)
        calibration = None
        if cfg.train.loss == "npair":
            calibration = calibration_pairs(groups, 2000, cfg.seed)
        from .models import weight_histograms, weight_snapshot
        initial_weights = weight_snapshot(scorer)  # (a resumed run rebuilds the same init from the seed)
        atomic_write_text(run_dir / "config.json", cfg.to_json() + "\n")
        t0 = time.perf_counter()
        callbacks = _callbacks(cfg, run_dir, model, store, test_pairs, progress, scorer, calibration, (va, vb, vy))
        extras = next(c for c in callbacks if hasattr(c, "rss_seen"))
        model.fit(train_ds, validation_data=None if calibration else val_ds, epochs=cfg.train.epochs,
                  shuffle=False,  # order: see pipeline
                  steps_per_epoch=steps,
                  callbacks=callbacks + list(extra_callbacks),
                  verbose=(1 if sys.stdout.isatty() else 2) if progress else 0)
        fit_seconds = time.perf_counter() - t0
        hist = pd.read_csv(run_dir / "history.csv")
        if hist.empty:
            raise RunError(f"{run_dir}: training logged no epoch")
        hist = hist.drop_duplicates("epoch", keep="last").reset_index(drop=True)
        if calibration is not None:  # (already so after the last epoch; again for a resume that trained none)
            fit_cosine_head(scorer, store, *calibration, cfg.data.pixel_scale)
        model = scorer  # from here on: scoring pairs
        t1 = time.perf_counter()
        ty_test = np.array([p.label for p in test_pairs])
        val_s = predict_pairs(model, store, split.val, cfg.data.pixel_scale)
        test_s = predict_pairs(model, store, test_pairs, cfg.data.pixel_scale)
        plain = evaluate_scores(val_s, vy, test_s, ty_test) if cfg.train.tta_flip else None
        if cfg.train.tta_flip:  # the mirrored pair's score averaged in; the plain metrics kept for the ablation
            val_s = 0.5 * (val_s + predict_pairs(model, store, split.val, cfg.data.pixel_scale, mirrored=True))
            test_s = 0.5 * (test_s + predict_pairs(model, store, test_pairs, cfg.data.pixel_scale, mirrored=True))
        predict_seconds = time.perf_counter() - t1
        res = evaluate_scores(val_s, vy, test_s, ty_test)
        if plain is not None:
            res["without_tta"] = plain
        epoch_time_total = float(hist["epoch_seconds"].sum())
        res.update({
            "epochs_run": int(len(hist)),
            "fit_seconds": epoch_time_total,
            "fit_seconds_this_process": fit_seconds,
            "resumed": resumed,
            "train_pairs": n_train, "val_pairs": len(split.val), "test_pairs": len(test_pairs),
            "train_pairs_per_second": n_train * len(hist) / epoch_time_total if epoch_time_total else None,
            "predict_seconds_val_and_test": predict_seconds,
            "predict_pairs_per_second": (len(split.val) + len(test_pairs)) / predict_seconds,
            # the process's peak (what a single `lfwsiamese train` needs); in a sweep it also covers earlier runs,
            # so the largest resident size seen during this run is recorded too
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "max_rss_mib_this_run": max(extras.rss_seen + [rss_mib()]),
            "validation": split.kind,
            "train_images_count": len(train_images), "train_images_sha256": _sha_lines(train_images),
            "train_people_count": len(train_people), "train_people_sha256": _sha_lines(train_people),
            "final_train_loss": float(hist["loss"].iloc[-1]), "final_val_loss": float(hist["val_loss"].iloc[-1]),
            "final_l2_penalty": float(hist["l2_penalty"].iloc[-1]),
        })
        if isinstance(split, IdentitySplit):  # train_pairs is then per epoch, each epoch drawing new ones
            val_people = sorted(n for n, _ in split.val_people)
            res.update({"sampling": "identities", "val_people_count": len(val_people),
                        "val_people_sha256": _sha_lines(val_people)})
        atomic_write_text(run_dir / "history.csv", hist.to_csv(index=False))
        atomic_write_text(run_dir / "scores.csv", _scores_frame(test_pairs, test_s).to_csv(index=False))
        atomic_write_text(run_dir / "val_scores.csv", _scores_frame(split.val, val_s).to_csv(index=False))
        atomic_write_json(run_dir / "env.json", environment(policy, cfg.train.jit_compile))
        atomic_write_json(run_dir / "weights.json", weight_histograms(initial_weights, weight_snapshot(model)))
        del initial_weights
        if save_model:  # an uncompiled copy: no optimizer state, a third of the size
            from .models import build_siamese
            clean = build_siamese(cfg.model, cfg.data.size)
            clean.set_weights(model.get_weights())
            tmp = run_dir / ".model.tmp.keras"
            clean.save(tmp)
            os.replace(tmp, run_dir / "model.keras")
        atomic_write_json(run_dir / "metrics.json", res)  # last: its presence marks the record complete
        shutil.rmtree(run_dir / "_backup", ignore_errors=True)
        return load_record(run_dir)


def add_without_tta(run_dir: str | os.PathLike, data: str | os.PathLike | None = None,
                    progress: bool = True, tolerance: float = 2e-3) -> dict[str, Any]:
    """Score a flip-averaged record's pairs again without the mirrored pass and store the metrics as
    `without_tta` in its metrics.json: the test-time-augmentation row of the ablation, from the same weights.

    Records trained before `without_tta` was recorded need this once; newer ones carry it already. The
    flip-averaged scores are recomputed first and must match the stored ones (within `tolerance`, for
    bfloat16 arithmetic), so the weights are proven to be the record's own.
    """
    from .experiments import load_run_model
    rec = load_record(run_dir)
    if not rec.config.train.tta_flip:
        raise RunError(f"{rec.path}: trained with train.tta_flip=False, its scores already have no flip averaging")
    setup(rec.config)
    model = load_run_model(run_dir)
    store = load_images(require_data_dir(data), Preprocess(tuple(rec.config.data.crop), rec.config.data.size),
                        progress=progress)
    scale = rec.config.data.pixel_scale
    plain, averaged, labels = {}, {}, {}
    for split, df in (("val", rec.val_scores), ("test", rec.scores)):
        pairs = [P.Pair(P.ImageRef(r.name_a, int(r.index_a)), P.ImageRef(r.name_b, int(r.index_b))) for r in df.itertuples()]
        plain[split] = predict_pairs(model, store, pairs, scale)
        averaged[split] = 0.5 * (plain[split] + predict_pairs(model, store, pairs, scale, mirrored=True))
        labels[split] = df["label"].to_numpy()
        gap = float(np.max(np.abs(averaged[split] - df["score"].to_numpy())))
        if gap > tolerance:
            raise RunError(f"{rec.path}: model.keras does not reproduce the stored {split} scores (max difference "
                           f"{gap:.4f} > {tolerance}); the weights are not this record's: retrain it")
    res = evaluate_scores(plain["val"], labels["val"], plain["test"], labels["test"])
    metrics_ = dict(rec.metrics, without_tta=res)
    atomic_write_json(Path(rec.path) / "metrics.json", metrics_)
    return res
