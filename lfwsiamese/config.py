"""Experiment configuration as frozen dataclasses, serialised to JSON and hashed for record names.

Everything a sweep or ablation varies is a field here, so no experiment needs a code change.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
HEADS = ("l1_sigmoid", "cosine")
OPTIMIZERS = ("adam", "sgd")
VALIDATIONS = ("person", "pair")
SAMPLINGS = ("pairs", "identities")
IMAGES = ("lfwa", "mixed")  # as data.photos.IMAGES (config imports nothing of the data layer)
PROTOCOLS = ("view1", "view2")
ARCHS = ("koch", "resnet")
LR_SCHEDULES = ("constant", "cosine")
LOSSES = ("pair_bce", "npair")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "elu", "gelu", "swish")
BACKENDS = ("tensorflow", "jax")  # Keras 3 backends a run can train on


@dataclass(frozen=True)
class DataConfig:
    """How images become tensors, what training sees, and how validation is split off it."""

    crop: tuple[int, ...] = ()  # (left, top, right, bottom) in the 250x250 frame; () = whole image
    size: int = 105  # output side in pixels (the reference resized 250 -> 105)
    pixel_scale: float = 1.0  # the reference fed raw 0..255 values; 1/255 scales to 0..1
    validation: str = "person"  # "person": person-disjoint; "pair": the reference's random 20% of pairs
    val_fraction: float = 0.2
    augment: str = ""  # comma-separated: flip, shift, rotate, brightness, contrast; "" = none
    # "pairs": the 2,200 pairsDevTrain pairs (the reference, View 1 restricted). "identities": every image of
    # the peopleDevTrain people, pairs drawn afresh each epoch (View 1 unrestricted); validation is then a
    # held-out val_fraction of those people with a fixed list of val_pairs pairs among them.
    sampling: str = "pairs"
    pairs_per_epoch: int = 8000  # identities only: balanced same/different training pairs per epoch
    val_pairs: int = 1000  # identities only: balanced validation pairs among the held-out people
    # "view1": train on DevTrain, test on the 1,000 DevTest pairs. "view2": LFW's 10-fold protocol; train on the
    # people (identities) or pairs (pairs) of the nine other folds, test on the 600 pairs of `fold`.
    protocol: str = "view1"
    fold: int = 0  # view2 only: the test fold, 0..9
    # "lfwa": LFW-a's aligned crops. "mixed": train on each image as its crop or, with probability one half, as an
    # ordinary photo aligned by the verifier's own pipeline (`data.photos`); validation and test on those photos.
    images: str = "lfwa"
    # The seed that draws the validation people and their pairs (and, for sampling="pairs", the validation pairs);
    # -1: the run's seed. Runs of several seeds that share it are judged on the same held-out people, none of whom
    # any of them trained on (an ensemble of them, say).
    split_seed: int = -1

    def validate(self) -> None:
        if self.split_seed < -1:
            raise ConfigError(f"data.split_seed={self.split_seed}: a seed >= 0, or -1 for the run's own seed")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"data.protocol={self.protocol!r}: allowed values are {PROTOCOLS}")
        if self.protocol == "view2" and not 0 <= self.fold <= 9:
            raise ConfigError(f"data.fold={self.fold}: View 2 has folds 0..9")
        if self.protocol == "view1" and self.fold != 0:
            raise ConfigError(f"data.fold={self.fold} with data.protocol='view1': folds exist only in View 2; "
                              f"set data.protocol=view2 or leave data.fold at 0")
        if self.crop and (len(self.crop) != 4 or not (0 <= self.crop[0] < self.crop[2] <= 250 and 0 <= self.crop[1] < self.crop[3] <= 250)):
            raise ConfigError(f"data.crop={self.crop!r}: expected (left, top, right, bottom) inside 0..250 with left<right, top<bottom, or () for the whole image")
        if not 8 <= self.size <= 250:
            raise ConfigError(f"data.size={self.size}: expected an integer between 8 and 250")
        if self.pixel_scale <= 0:
            raise ConfigError(f"data.pixel_scale={self.pixel_scale}: must be > 0 (1.0 keeps 0..255, 0.00392156862745098 scales to 0..1)")
        if self.validation not in VALIDATIONS:
            raise ConfigError(f"data.validation={self.validation!r}: allowed values are {VALIDATIONS}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={self.val_fraction}: must be strictly between 0 and 1")
        for a in filter(None, self.augment.split(",")):
            if a not in ("flip", "shift", "rotate", "brightness", "contrast"):
                raise ConfigError(f"data.augment contains {a!r}: allowed are flip, shift, rotate, brightness, contrast")
        if self.images not in IMAGES:
            raise ConfigError(f"data.images={self.images!r}: allowed values are {IMAGES}")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"data.sampling={self.sampling!r}: allowed values are {SAMPLINGS}")
        if self.sampling == "identities" and self.validation != "person":
            raise ConfigError(f"data.validation={self.validation!r} with data.sampling='identities': identity sampling "
                              f"always holds out whole people; set data.validation=person")
        for key in ("pairs_per_epoch", "val_pairs"):
            n = getattr(self, key)
            if n < 2 or n % 2:
                raise ConfigError(f"data.{key}={n}: must be an even number >= 2 (half same, half different pairs)")


@dataclass(frozen=True)
class ModelConfig:
    """The twin tower and the head. Defaults are the reference network."""

    # "koch": conv stack (filters, kernels, pools) + flatten + dense, the reference. "resnet": a 3x3 stem, then one
    # stage of residual blocks per entry of filters/blocks (stride 2 between stages), global average pooling,
    # dense embedding; kernels and pools are unused.
    arch: str = "koch"
    filters: tuple[int, ...] = (64, 128, 128, 256)
    kernels: tuple[int, ...] = (10, 7, 4, 4)
    pools: tuple[int, ...] = (1, 1, 1, 0)  # 1 = max-pool 2x2 after that conv
    batch_norm: bool = True
    activation: str = "relu"
    dense_units: int = 4096
    dense_activation: str = "sigmoid"
    conv_l2: float = 2e-4
    dense_l2: float = 2e-3
    kernel_init: str = "normal:0:0.01"  # "normal:mean:std", or a Keras name: glorot_uniform, he_normal, ...
    bias_init: str = "normal:0.5:0.01"
    dense_init: str = "normal:0:0.01"
    first_conv_bias: bool = True  # the reference's README says none; its parameter count says it had one
    dropout: float = 0.4
    head: str = "l1_sigmoid"
    # One tower call on a batch of 2B images (a's then b's) instead of two calls of B: about 1.5x faster on
    # CPUs. Identical at inference; in training, batch-norm statistics then cover both branches together.
    fused_towers: bool = True
    # Batch norm through TensorFlow's fused kernel (models.FusedBatchNorm): the same layer, 1.6-1.9x faster
    # training in bfloat16 on CPU. Off by default because the reproduction's records used Keras' layer.
    bn_fused: bool = False
    blocks: tuple[int, ...] = ()  # resnet only: residual blocks per stage, one per entry of filters; () = 1 each
    stem_stride: int = 2  # resnet only: stride of the 3x3 stem conv (2 halves the map before the first stage)
    embedding_bn: bool = False  # batch-normalise the embedding (after the dense layer, before the head)

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"model.arch={self.arch!r}: allowed values are {ARCHS}")
        n = len(self.filters)
        if self.arch == "koch" and (n == 0 or len(self.kernels) != n or len(self.pools) != n):
            raise ConfigError(
                f"model.filters, model.kernels and model.pools must have the same non-zero length; got "
                f"{len(self.filters)}, {len(self.kernels)}, {len(self.pools)}"
            )
        if self.arch == "resnet" and n == 0:
            raise ConfigError("model.arch=resnet: model.filters (stage widths) must not be empty")
        if self.blocks and len(self.blocks) != n:
            raise ConfigError(
                f"model.blocks (residual blocks per stage) needs one entry per entry of model.filters (stage widths), or "
                f"() for one block each; got filters={self.filters}, blocks={self.blocks}"
            )
        if any(b < 1 for b in self.blocks):
            raise ConfigError(f"model.blocks={self.blocks}: every stage needs >= 1 residual block")
        if self.stem_stride not in (1, 2):
            raise ConfigError(f"model.stem_stride={self.stem_stride}: allowed values are 1 and 2")
        if any(f < 1 for f in self.filters) or any(k < 1 for k in self.kernels):
            raise ConfigError(f"model.filters={self.filters} and model.kernels={self.kernels} must be positive")
        if self.activation not in ACTIVATIONS or self.dense_activation not in ACTIVATIONS:
            raise ConfigError(f"model.activation / model.dense_activation: allowed values are {ACTIVATIONS}")
        if self.head not in HEADS:
            raise ConfigError(f"model.head={self.head!r}: allowed values are {HEADS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout}: must be in [0, 1)")
        if self.conv_l2 < 0 or self.dense_l2 < 0:
            raise ConfigError("model.conv_l2 and model.dense_l2 must be >= 0")
        if self.dense_units < 1:
            raise ConfigError(f"model.dense_units={self.dense_units}: must be >= 1")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and stopping. Defaults are the reference's (Adam 5e-5, batch 32, 10 epochs)."""

    optimizer: str = "adam"
    learning_rate: float = 5e-5
    batch_size: int = 32
    epochs: int = 10
    early_stopping: bool = True
    es_monitor: str = "val_loss"
    es_min_delta: float = 0.1
    es_patience: int = 5
    restore_best: bool = False
    precision: str = "auto"  # auto = mixed_bfloat16 where the CPU/GPU has fast bf16, else float32
    jit_compile: bool = False
    deterministic: bool = True
    test_each_epoch: bool = True  # recorded for the stopping chapter; never used for any choice
    # "cosine": the learning rate decays from learning_rate to 0 over all epochs x steps; "constant" keeps it. Either
    # starts with a linear warm-up from 0 over warmup_epochs. A function of the optimizer's step count, which a
    # resumed run restores.
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    # Decoupled weight decay: each step w -= learning_rate * weight_decay * w (AdamW as in Keras and PyTorch), so
    # useful values are ~1e-2..1e-1. > 0 turns Adam into AdamW. Never applied to biases, BN or the head's scale.
    weight_decay: float = 0.0
    tta_flip: bool = False  # evaluation scores average (a, b) and (mirror a, mirror b)
    # "pair_bce": one binary cross-entropy term per (same or different) pair, the reference's loss. "npair": every
    # batch holds batch_size same-person pairs of distinct people; each image must pick its partner among all
    # batch_size images of the other side (softmax over scaled cosines, both directions: Sohn's multi-class
    # N-pair loss, as in CLIP's), so a batch of B pairs gives B positive and B*(B-1) negative comparisons for the
    # compute of B pairs. Needs data.sampling=identities and the cosine head, whose scale and offset are then fitted
    # after each epoch by logistic regression on training people's pairs (so scores stay probabilities).
    loss: str = "pair_bce"
    loss_scale: float = 16.0  # npair only: the fixed inverse temperature multiplying the cosines
    loss_margin: float = 0.0  # npair only: subtracted from each positive cosine (an additive, CosFace-style margin)
    # The Keras backend the run trains on (KERAS_BACKEND, set before Keras is imported): part of the record's
    # identity, since other kernels give other numbers. The default keeps every TensorFlow record's name.
    backend: str = "tensorflow"

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer={self.optimizer!r}: allowed values are {OPTIMIZERS}")
        if not self.learning_rate > 0:
            raise ConfigError(f"train.learning_rate={self.learning_rate}: must be > 0 (the reference used 5e-5)")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size={self.batch_size}: must be >= 1 (the reference used 32)")
        if self.epochs < 1:
            raise ConfigError(f"train.epochs={self.epochs}: must be >= 1")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision={self.precision!r}: allowed values are {PRECISIONS}")
        if self.es_patience < 0 or self.es_min_delta < 0:
            raise ConfigError("train.es_patience and train.es_min_delta must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule={self.lr_schedule!r}: allowed values are {LR_SCHEDULES}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"train.warmup_epochs={self.warmup_epochs}: must be >= 0 and below train.epochs={self.epochs}")
        if self.loss not in LOSSES:
            raise ConfigError(f"train.loss={self.loss!r}: allowed values are {LOSSES}")
        if not self.loss_scale > 0:
            raise ConfigError(f"train.loss_scale={self.loss_scale}: must be > 0 (16 to 64 are usual)")
        if not 0 <= self.loss_margin < 1:
            raise ConfigError(f"train.loss_margin={self.loss_margin}: must be in [0, 1) (0.1 to 0.35 are usual)")
        if not self.weight_decay >= 0:
            raise ConfigError(f"train.weight_decay={self.weight_decay}: must be >= 0 (0 = plain Adam/SGD)")
        if self.backend not in BACKENDS:
            raise ConfigError(f"train.backend={self.backend!r}: allowed values are {BACKENDS}")


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run: what is trained, on what, how, with which seed."""

    name: str = "reference"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "ExperimentConfig":
        if not self.name or any(c in self.name for c in "/\\ \t"):
            raise ConfigError(f"name={self.name!r}: use a short name without spaces or slashes")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed}: must be >= 0")
        self.data.validate()
        self.model.validate()
        self.train.validate()
        if self.train.loss == "npair":
            if self.data.sampling != "identities":
                raise ConfigError("train.loss='npair' draws same-person pairs of distinct people per batch: it needs "
                                  "data.sampling=identities")
            if self.model.head != "cosine":
                raise ConfigError(f"train.loss='npair' compares embeddings by cosine: it needs model.head=cosine, "
                                  f"got {self.model.head!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @property
    def hash(self) -> str:
        """Short content hash: identical configs share a record."""
        # Only fields that differ from their defaults enter the hash, so adding a new field (whose default
        # keeps the old behaviour) leaves every stored record's name unchanged.
        canon = json.dumps(_non_defaults(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:10]

    @property
    def validation_seed(self) -> int:
        """The seed of the validation split: `data.split_seed`, or the run's seed where that is -1."""
        return self.data.split_seed if self.data.split_seed >= 0 else self.seed

    @property
    def run_name(self) -> str:
        fold = f"-view2-f{self.data.fold}" if self.data.protocol == "view2" else ""
        return f"{self.name}{fold}-s{self.seed}-{self.hash}"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExperimentConfig":
        return _from_dict(cls, d, "")

    @classmethod
    def from_json(cls, text: str) -> "ExperimentConfig":
        return cls.from_dict(json.loads(text))


def _non_defaults(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            sub = _non_defaults(v)
            if sub:
                out[f.name] = sub
            continue
        if hints[f.name] is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # 1 == 1.0: equal configs must hash alike (JSON would write "1" vs "1.0")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if f.name in ("name", "seed") or v != default:
            out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _from_dict(cls: type, d: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ConfigError(f"unknown configuration key(s) {sorted(prefix + k for k in unknown)}; known: {sorted(prefix + k for k in known)}")
    kwargs = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t):
            kwargs[k] = _from_dict(t, v, f"{prefix}{k}.")
        elif typing.get_origin(t) is tuple:
            kwargs[k] = tuple(v)
        else:
            kwargs[k] = v
    return cls(**kwargs)


def _parse_value(key: str, raw: str, t: Any) -> Any:
    """Parse a --set value for a field of type t; the error names the key and what is allowed."""
    try:
        if t is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if t is int:
            return int(raw)
        if t is float:
            return float(raw)
        if t is str:
            return raw
        if typing.get_origin(t) is tuple:
            raw = raw.strip().strip("()[]")
            return tuple(int(x) for x in raw.split(",") if x.strip())
    except ValueError:
        pass
    tname = {bool: "true/false", int: "an integer", float: "a number", str: "text"}.get(t, "comma-separated integers")
    raise ConfigError(f"--set {key}={raw!r}: expected {tname}")


def field_index() -> dict[str, str]:
    """Every settable key, dotted (train.learning_rate), with unique short names (learning_rate) too."""
    out: dict[str, str] = {"name": "name", "seed": "seed"}
    short: dict[str, list[str]] = {}
    for sect in ("data", "model", "train"):
        cls = typing.get_type_hints(ExperimentConfig)[sect]
        for f in fields(cls):
            dotted = f"{sect}.{f.name}"
            out[dotted] = dotted
            short.setdefault(f.name, []).append(dotted)
    for s, full in short.items():
        if len(full) == 1:
            out.setdefault(s, full[0])
    return out


def with_overrides(cfg: ExperimentConfig, overrides: Mapping[str, str | Any]) -> ExperimentConfig:
    """Apply `key=value` overrides (dotted or unique short keys); strings are parsed by field type."""
    index = field_index()
    for key, value in overrides.items():
        if key not in index:
            raise ConfigError(f"--set {key}=...: unknown key; allowed keys: {', '.join(sorted(k for k in index if '.' in k))}")
        dotted = index[key]
        if "." not in dotted:
            t = typing.get_type_hints(ExperimentConfig)[dotted]
            v = _parse_value(key, value, t) if isinstance(value, str) else value
            cfg = replace(cfg, **{dotted: v})
            continue
        sect, fname = dotted.split(".")
        sub = getattr(cfg, sect)
        t = typing.get_type_hints(type(sub))[fname]
        v = _parse_value(key, value, t) if isinstance(value, str) else value
        cfg = replace(cfg, **{sect: replace(sub, **{fname: v})})
    return cfg.validate()  # a bad value is refused here, naming its key, not later in training


def parse_set_args(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.learning_rate=1e-4")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
