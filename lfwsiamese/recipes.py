"""Named configurations (recipes): the reference network and the models that go beyond it.

`get_config(name)` is how the command line, the plans and the chapters name a recipe; each recipe is one frozen
`ExperimentConfig`, so its record name (a hash of its fields) identifies it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from .config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    with_overrides,
)
from .errors import ConfigError


def _reference() -> ExperimentConfig:
    return ExperimentConfig(name="reference")


def _improved() -> ExperimentConfig:
    """The improved model under View 1's unrestricted protocol.

    Starting values, to be tuned on the (person-disjoint) validation people, never on DevTest: identity
    sampling, a face crop, a small ResNet with a 256-d linear embedding and a cosine head, AdamW with a cosine
    schedule, augmentation and mirrored test-time scores. The epoch count is a budget: the cosine schedule
    reaches zero at its end and the last epoch is the model (no early stopping); validation accuracy per epoch
    is in the history to show whether a shorter budget would do.
    """
    return ExperimentConfig(
        name="improved",
        # crop: LFW-a faces sit centred, slightly below the middle; this 130x130 box keeps brows to chin
        data=DataConfig(crop=(60, 68, 190, 198), size=96, pixel_scale=1 / 255, sampling="identities",
                        pairs_per_epoch=8000, val_pairs=1000, augment="flip,shift,brightness,contrast"),
        model=ModelConfig(arch="resnet", filters=(32, 64, 128, 256), blocks=(1, 1, 1, 1), stem_stride=2,
                          dense_units=256, dense_activation="linear", embedding_bn=False, head="cosine",
                          conv_l2=0.0, dense_l2=0.0, dropout=0.0, kernel_init="he_normal", bias_init="zeros",
                          dense_init="glorot_uniform", bn_fused=True),
        train=TrainConfig(optimizer="adam", learning_rate=1e-3, weight_decay=0.05, lr_schedule="cosine",
                          warmup_epochs=1, batch_size=64, epochs=25, early_stopping=False, tta_flip=True),
    )


def _npair() -> ExperimentConfig:
    """The improved model trained with the N-pair loss: the recipe the accuracy search chose on validation.

    Candidate 1 of `runs.plans.SEARCH_CANDIDATES` (improved + `train.loss=npair`), the best validation accuracy of
    the candidates trained; its own name so that its records (fresh seeds, View 2) are never the search's.
    """
    return replace(with_overrides(_improved(), {"train.loss": "npair"}), name="npair")


#: Regions of LFW-a's aligned frame, (left, top, right, bottom), for the region ensemble (issue #33): each is
#: cut from the 250x250 frame and resized to 56x56 (several times cheaper than the 96-px face). Drawn from the
#: frame's geometry on training images; which ones earn a place is decided on validation people (`sweep regions`).
REGIONS: dict[str, tuple[int, int, int, int]] = {
    "face": (60, 68, 190, 198),  # the improved model's face crop, at a lower resolution
    "eyes": (62, 80, 188, 140),  # brows and eyes
    "nose-mouth": (80, 120, 170, 200),  # nose, mouth and chin
    "left": (60, 68, 130, 198),  # the face's left half as the image shows it
    "right": (120, 68, 190, 198),
    "wide": (35, 35, 215, 225),  # face with hair and outline
}
REGION_SIZE = 56


def _region(name: str) -> ExperimentConfig:
    """The N-pair recipe on one region of the face (see REGIONS)."""
    base = _npair()
    return replace(base, name=f"npair-region-{name}",
                   data=replace(base.data, crop=REGIONS[name], size=REGION_SIZE))


def _smoke() -> ExperimentConfig:
    """The reference recipe shrunk to seconds, for tests and for checking a cluster (`lfwsiamese sweep smoke`).

    The reference's tower (four conv blocks with batch norm, a sigmoid embedding, the L1 head, Adam, BCE) on
    48-pixel images with a quarter of the filters, a few hundred fresh identity pairs per epoch and two epochs,
    so that a run can be killed after its first epoch and resumed. Not a model: its records are never the
    default of `verify` and never in the book.
    """
    return ExperimentConfig(
        name=SMOKE,
        data=DataConfig(size=48, pixel_scale=1 / 255, sampling="identities", pairs_per_epoch=320, val_pairs=200),
        model=ModelConfig(filters=(16, 32, 32, 64), kernels=(5, 5, 3, 3), dense_units=256, conv_l2=1e-4,
                          dense_l2=1e-4, kernel_init="glorot_uniform", bias_init="zeros", dense_init="glorot_uniform",
                          dropout=0.1, bn_fused=True),
        train=TrainConfig(learning_rate=1e-3, batch_size=32, epochs=2, early_stopping=False, test_each_epoch=False),
    )


#: The name of the smoke recipe's records, and the prefix of search trials' (`lfwsiamese tune`): scratch records
#: that are never a model anyone should use by default (see `is_scratch`).
SMOKE = "smoke"
SEARCH_PREFIX = "tune-"


def is_scratch(name: str) -> bool:
    """A config name of the smoke recipe or of a search trial: records that `verify` never picks by default."""
    return name == SMOKE or name.startswith(SEARCH_PREFIX)


#: Named configurations; `get_config(name)` returns a fresh copy.
CONFIGS: dict[str, ExperimentConfig] = {
    "reference": _reference(),
    # The reference's own validation: a random 20% of the training pairs (people leak into it).
    "reference-pairval": ExperimentConfig(name="reference-pairval", data=DataConfig(validation="pair")),
    # The reference computed the reference's way: float32, the tower called once per branch (the speed comparison).
    "reference-fp32": ExperimentConfig(name="reference-fp32", model=ModelConfig(fused_towers=False),
                                       train=TrainConfig(precision="float32")),
    # The reference's own conditions, all at once: float32, the tower called once per branch, Keras' batch norm
    # (TensorFlow's defaults, as the reference ran) and its pair-level validation (the reproduction-gap plan).
    "reference-fp32-pairval": ExperimentConfig(name="reference-fp32-pairval", data=DataConfig(validation="pair"),
                                               model=ModelConfig(fused_towers=False),
                                               train=TrainConfig(precision="float32")),
    # The same network and training as "reference", computed faster: batch norm through the fused kernel.
    "reference-fast": ExperimentConfig(name="reference-fast", model=ModelConfig(bn_fused=True)),
    "improved": _improved(),
    "npair": _npair(),
    **{f"npair-region-{r}": _region(r) for r in REGIONS},
    SMOKE: _smoke(),
}


def get_config(name: str, seed: int | None = None, overrides: Mapping[str, str] | None = None) -> ExperimentConfig:
    if name not in CONFIGS:
        raise ConfigError(f"unknown config {name!r}; available: {', '.join(sorted(CONFIGS))}")
    cfg = CONFIGS[name]
    if seed is not None:
        cfg = replace(cfg, seed=seed)
    if overrides:
        cfg = with_overrides(cfg, overrides)
    return cfg.validate()

