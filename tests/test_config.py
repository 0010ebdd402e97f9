"""Configuration: named configs, --set overrides that name the bad key, JSON round trip, and the record hash."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfwsiamese.config import (
    DataConfig,
    ExperimentConfig,
    TrainConfig,
    field_index,
    parse_set_args,
    with_overrides,
)
from lfwsiamese.errors import ConfigError
from lfwsiamese.recipes import CONFIGS, get_config

#: A valid non-default value (as --set text) for every settable key.
ALTERNATIVES: dict[str, str] = {
    "name": "other", "seed": "3",
    "data.crop": "10,20,200,230", "data.size": "64", "data.pixel_scale": "0.00392156862745098",
    "data.validation": "pair", "data.val_fraction": "0.25", "data.augment": "flip,shift",
    "data.sampling": "identities", "data.pairs_per_epoch": "4000", "data.val_pairs": "500", "data.images": "mixed",
    "data.protocol": "view2", "data.fold": "3", "data.split_seed": "4",
    "model.filters": "32,64,64,128", "model.kernels": "9,7,4,4", "model.pools": "1,1,0,0", "model.batch_norm": "false",
    "model.activation": "tanh", "model.dense_units": "1024", "model.dense_activation": "relu",
    "model.conv_l2": "0.001", "model.dense_l2": "0", "model.kernel_init": "he_normal", "model.bias_init": "zeros",
    "model.dense_init": "glorot_uniform", "model.first_conv_bias": "no", "model.dropout": "0", "model.head": "cosine",
    "model.fused_towers": "false", "model.bn_fused": "true",
    "model.arch": "resnet", "model.blocks": "2,2,2,2", "model.stem_stride": "1", "model.embedding_bn": "true",
    "train.optimizer": "sgd", "train.learning_rate": "1e-4", "train.batch_size": "64", "train.epochs": "3",
    "train.early_stopping": "off", "train.es_monitor": "val_accuracy", "train.es_min_delta": "0.01",
    "train.es_patience": "2", "train.restore_best": "true", "train.precision": "float32", "train.jit_compile": "1",
    "train.deterministic": "0", "train.test_each_epoch": "false",
    "train.lr_schedule": "cosine", "train.warmup_epochs": "1", "train.weight_decay": "0.05", "train.tta_flip": "true",
    "train.loss": "npair", "train.loss_scale": "32", "train.loss_margin": "0.2", "train.backend": "jax",
}


def _as_text(v: typing.Any) -> str:
    """A field value as --set text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return repr(v) if isinstance(v, float) else str(v)


def _get(cfg: ExperimentConfig, dotted: str) -> typing.Any:
    obj: typing.Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_alternatives_cover_every_settable_key() -> None:
    assert set(ALTERNATIVES) == {k for k in field_index() if "." in k} | {"name", "seed"}


# ---------------------------------------------------------------------------------------- named configs


def test_unknown_config_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="unknown config 'nope'") as ei:
        get_config("nope")
    for name in CONFIGS:
        assert name in str(ei.value)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_named_configs_are_valid(name: str) -> None:
    cfg = get_config(name, seed=4)
    assert cfg.name == name and cfg.seed == 4
    assert cfg.run_name == f"{name}-s4-{cfg.hash}"
    assert CONFIGS[name].seed == 0  # get_config returns a copy, the registry is untouched


def test_reference_defaults() -> None:
    cfg = get_config("reference")
    assert (cfg.train.optimizer, cfg.train.learning_rate, cfg.train.batch_size, cfg.train.epochs) == ("adam", 5e-5, 32, 10)
    assert cfg.data.size == 105 and cfg.data.validation == "person"
    assert get_config("reference-pairval").data.validation == "pair"
    assert get_config("reference-fp32").train.precision == "float32"


# -------------------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(("key", "value", "named"), [
    ("learning_rate", "-1", "learning_rate"),
    ("train.learning_rate", "0", "learning_rate"),
    ("learning_rate", "nan", "learning_rate"),
    ("batch_size", "0", "batch_size"),
    ("train.batch_size", "1.5", "batch_size"),
    ("epochs", "0", "epochs"),
    ("bogus", "1", "bogus"),
    ("train.bogus", "1", "train.bogus"),
    ("learning_rate", "abc", "learning_rate"),
    ("early_stopping", "maybe", "early_stopping"),
    ("train.deterministic", "2", "deterministic"),
    ("data.size", "7", "data.size"),
    ("crop", "1,2,3", "crop"),
    ("crop", "10,10,5,5", "crop"),
    ("crop", "a,b", "crop"),
    ("validation", "random", "validation"),
    ("val_fraction", "1", "val_fraction"),
    ("augment", "flip,blur", "augment"),
    ("model.filters", "64,128", "model.filters"),
    ("dropout", "1", "dropout"),
    ("head", "dot", "head"),
    ("precision", "fp8", "precision"),
    ("optimizer", "lion", "optimizer"),
    ("seed", "-1", "seed"),
    ("seed", "x", "seed"),
    ("name", "a b", "name"),
])
def test_bad_override_names_its_key(key: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as ei:
        with_overrides(get_config("reference"), {key: value})
    assert named in str(ei.value)
    with pytest.raises(ConfigError) as ei2:  # the same through get_config (the CLI's path)
        get_config("reference", overrides={key: value})
    assert named in str(ei2.value)


@pytest.mark.parametrize(("key", "value", "want"), [
    ("learning_rate", "1e-4", 1e-4),
    ("train.learning_rate", " 0.0001 ", 1e-4),
    ("batch_size", "64", 64),
    ("early_stopping", "OFF", False),
    ("early_stopping", "yes", True),
    ("crop", "(10, 20, 200, 230)", (10, 20, 200, 230)),
    ("crop", "[10,20,200,230]", (10, 20, 200, 230)),
    ("crop", "", ()),
    ("seed", "7", 7),
    ("name", "mine", "mine"),
])
def test_override_values_are_parsed_by_type(key: str, value: str, want: typing.Any) -> None:
    cfg = with_overrides(get_config("reference"), {key: value})
    got = _get(cfg, field_index()[key])
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("key", sorted(ALTERNATIVES))
def test_every_key_can_be_set(key: str) -> None:
    extra = {"data.protocol": "view2"} if key == "data.fold" else {}  # folds exist only in View 2
    base = get_config("improved") if key == "train.loss" else get_config("reference")  # npair needs identities
    cfg = with_overrides(base, {key: ALTERNATIVES[key], **extra})
    assert _get(cfg, key) != _get(base, key)


def test_npair_needs_identities_and_the_cosine_head() -> None:
    with pytest.raises(ConfigError, match="needs data.sampling=identities"):
        with_overrides(get_config("reference"), {"train.loss": "npair"})
    with pytest.raises(ConfigError, match="needs model.head=cosine"):
        with_overrides(get_config("improved"), {"train.loss": "npair", "model.head": "l1_sigmoid"})
    with pytest.raises(ConfigError, match="train.loss='triplet'"):
        with_overrides(get_config("improved"), {"train.loss": "triplet"})


def test_parse_set_args() -> None:
    assert parse_set_args(["train.learning_rate = 1e-4", "crop=1,2,3,4", "name=a=b"]) == {
        "train.learning_rate": "1e-4", "crop": "1,2,3,4", "name": "a=b"}
    assert parse_set_args(None) == {}
    with pytest.raises(ConfigError, match="'learning_rate': expected key=value"):
        parse_set_args(["learning_rate"])


# ------------------------------------------------------------------------------------- JSON and hashing


@pytest.mark.parametrize("cfg", [
    *CONFIGS.values(),
    # every alternative at once, except validation=pair, which identity sampling refuses (reference-pairval has it)
    with_overrides(get_config("reference"), {k: v for k, v in ALTERNATIVES.items() if k != "data.validation"}),
])
def test_json_round_trip(cfg: ExperimentConfig) -> None:
    back = ExperimentConfig.from_json(cfg.to_json())
    assert back == cfg and back.hash == cfg.hash and back.to_json() == cfg.to_json()
    assert isinstance(back.data.crop, tuple) and isinstance(back.model.filters, tuple)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(ALTERNATIVES)), st.just(""), max_size=8))
def test_json_round_trip_of_random_overrides(keys: dict[str, str]) -> None:
    overrides = {k: ALTERNATIVES[k] for k in keys}
    if "model.filters" in overrides or "model.kernels" in overrides or "model.pools" in overrides:
        overrides |= {k: ALTERNATIVES[k] for k in ("model.filters", "model.kernels", "model.pools")}
    if "data.sampling" in overrides:  # identity sampling always holds out people: validation=pair is refused
        overrides.pop("data.validation", None)
    if "data.fold" in overrides:  # folds exist only in View 2
        overrides["data.protocol"] = ALTERNATIVES["data.protocol"]
    if "train.loss" in overrides:  # the N-pair loss needs identities and the cosine head
        overrides |= {"data.sampling": "identities", "model.head": "cosine"}
        overrides.pop("data.validation", None)
    cfg = with_overrides(get_config("reference"), overrides)
    back = ExperimentConfig.from_json(cfg.to_json())
    assert back == cfg and back.hash == cfg.hash
    # an independently built equal config has the same hash; any key left at its default is not in it
    assert with_overrides(get_config("reference"), dict(reversed(overrides.items()))).hash == cfg.hash
    assert (cfg.hash == get_config("reference").hash) == (not overrides)


def test_from_dict_refuses_unknown_keys() -> None:
    d = get_config("reference").to_dict()
    d["train"]["bogus"] = 1
    with pytest.raises(ConfigError, match="train.bogus"):
        ExperimentConfig.from_dict(d)
    with pytest.raises(ConfigError, match="colour"):
        ExperimentConfig.from_dict({"colour": "red"})


def test_equal_configs_have_equal_hashes() -> None:
    a = ExperimentConfig(name="x", seed=1, data=DataConfig(crop=(0, 0, 200, 200)), train=TrainConfig(learning_rate=1e-4))
    b = ExperimentConfig(name="x", seed=1, train=TrainConfig(learning_rate=0.0001), data=DataConfig(crop=(0, 0, 200, 200)))
    assert a == b and a is not b and a.hash == b.hash
    # an integer in a float field is the same configuration
    c = ExperimentConfig(train=TrainConfig(learning_rate=1, es_min_delta=0))
    d = ExperimentConfig(train=TrainConfig(learning_rate=1.0, es_min_delta=0.0))
    assert c == d and c.hash == d.hash
    assert with_overrides(get_config("reference"), {"learning_rate": 1}).hash == with_overrides(
        get_config("reference"), {"learning_rate": "1"}).hash


@pytest.mark.parametrize("key", sorted(ALTERNATIVES))
def test_changing_any_one_field_changes_the_hash(key: str) -> None:
    base = get_config("improved" if key == "train.loss" else "reference")
    if key == "data.fold":  # folds exist only in View 2: compare fold 0 and fold 3 of View 2
        base = with_overrides(base, {"data.protocol": "view2"})
    changed = with_overrides(base, {key: ALTERNATIVES[key]})
    assert changed != base and changed.hash != base.hash


def test_overrides_equal_to_the_defaults_leave_the_hash_alone() -> None:
    base = get_config("reference")
    same = with_overrides(base, {k: _as_text(_get(base, k)) for k in ALTERNATIVES})
    assert same == base and same.hash == base.hash
    assert with_overrides(base, {"learning_rate": "0.00005", "batch_size": "32", "crop": "()"}).hash == base.hash


def test_hash_ignores_fields_left_at_their_default() -> None:
    # a field added later with a default that keeps old behaviour must not rename stored records
    base = get_config("reference")
    stripped = dataclasses.replace(base, train=TrainConfig())
    assert stripped.hash == base.hash
    assert len(base.hash) == 10 and int(base.hash, 16) >= 0


def test_hash_is_the_same_in_other_processes() -> None:
    cfg = with_overrides(get_config("reference"), {"crop": "10,20,200,230", "learning_rate": "1e-4", "augment": "flip"})
    code = ("from lfwsiamese.config import with_overrides; from lfwsiamese.recipes import get_config; "
            "print(with_overrides(get_config('reference'), "
            "{'crop': '10,20,200,230', 'learning_rate': '1e-4', 'augment': 'flip'}).hash)")
    for seed in ("1", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.stdout.strip() == cfg.hash


def test_split_seed_lets_runs_of_two_seeds_share_validation_people() -> None:
    from dataclasses import replace

    from lfwsiamese.data.splits import identity_split
    from lfwsiamese.runs.plans import plan_served
    cfg = get_config("improved", seed=1)
    assert cfg.data.split_seed == -1 and cfg.validation_seed == 1
    shared = replace(cfg, data=replace(cfg.data, split_seed=0))
    assert shared.validation_seed == 0 and shared.run_name != cfg.run_name  # a different run, named apart
    with pytest.raises(ConfigError, match="split_seed=-2"):
        replace(cfg, data=replace(cfg.data, split_seed=-2)).validate()
    served = plan_served()
    assert [c.seed for c in served] == [0, 1] and {c.validation_seed for c in served} == {0}
    assert served[0].run_name == "served-npair-s0-595323cced"  # the shipped record keeps its name
    counts = [(f"person{k}", 1 + k % 3) for k in range(200)]
    splits = [identity_split(counts, 0.2, 40, c.validation_seed) for c in served]
    assert splits[0].val_people == splits[1].val_people
    assert identity_split(counts, 0.2, 40, 1).val_people != splits[0].val_people
