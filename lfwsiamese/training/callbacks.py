"""Callbacks that make a run resumable and its history complete."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ExperimentConfig
from ..data.images import ImageStore
from ..evaluate import metrics
from ..records.provenance import rss_mib
from .checkpoint import checkpoint_callback, history_logger, latest_checkpoint
from .optim import fit_cosine_head
from .scoring import predict_pairs


def pair_log_loss(labels: np.ndarray, scores: np.ndarray, eps: float = 1e-7) -> float:
    """Binary cross-entropy of P(same) scores, clipped away from 0 and 1 (scikit-learn's log loss)."""
    from sklearn.metrics import log_loss
    return float(log_loss(labels, np.clip(scores, eps, 1 - eps), labels=[0, 1]))

def backup_epoch(run_dir: Path) -> int:
    """The number of epochs a previous, interrupted process finished (0 for a fresh run)."""
    ck = latest_checkpoint(run_dir)
    return ck.epoch if ck is not None else 0


def seed_generators(model: Any) -> list:
    out = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        out.extend(getattr(layer, "_seed_generators", []) or [])
    return out


def make_callbacks(cfg: ExperimentConfig, run_dir: Path, model: Any, store: ImageStore, test_pairs: Any, progress: bool,
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
            from ..data.pipeline import pair_dataset
            s = scorer.predict(pair_dataset(store.array, va, vb, vy, 128, pixel_scale=cfg.data.pixel_scale),
                               verbose=0).astype(np.float64).ravel()
            m = metrics(vy, s, 0.5)
            logs["val_loss"] = pair_log_loss(vy, s)
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
                m = metrics(y, s, 0.5)
                logs["test_loss_unused_for_choices"] = pair_log_loss(y, s)
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
            for k, sg in enumerate(seed_generators(self.model)):
                sg.state.assign(np.array([cfg.seed * 1009 + k, epoch * 1_000_000], dtype=sg.state.dtype))

    cbs: list = [EpochSeeds()] + ([NPairValidation()] if calibration is not None else []) + [EpochExtras()]
    if cfg.train.early_stopping:
        cbs.append(ResumableEarlyStopping(monitor=cfg.train.es_monitor, min_delta=cfg.train.es_min_delta,
                                          patience=cfg.train.es_patience, restore_best_weights=cfg.train.restore_best,
                                          verbose=1 if progress else 0))
    cbs += [
        history_logger(run_dir / "history.csv"),  # before the checkpoint: a resumed run keeps exactly its rows
        checkpoint_callback(run_dir),  # last: it records whether early stopping ended training at this epoch
    ]
    if keras.backend.backend() == "tensorflow":  # (Keras writes TensorBoard logs through TensorFlow)
        cbs.insert(-1, keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), histogram_freq=0, write_graph=False))
    return cbs
