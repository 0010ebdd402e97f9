"""The compiled model of a config: optimizer, learning-rate schedule, loss, and the N-pair head fit."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import ExperimentConfig
from ..data.images import ImageStore
from .setup import jit_compile

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
    from ..models.towers import build_siamese
    model = build_siamese(cfg.model, cfg.data.size)
    opt = make_optimizer(cfg, steps_per_epoch)
    if cfg.train.loss == "npair":
        from ..models.losses import NPairLoss, npair_trainer
        trainer = npair_trainer(model)
        trainer.compile(opt, NPairLoss(cfg.train.loss_scale, cfg.train.loss_margin), jit_compile=jit_compile(cfg))
        return trainer, model
    model.compile(opt, "binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile(cfg))
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
