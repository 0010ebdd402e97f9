"""The improved model's groundwork: identity sampling, the ResNet tower, schedules, weight decay, flip averaging."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lfwsiamese.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    with_overrides,
)
from lfwsiamese.data import protocols as P
from lfwsiamese.data.images import ImageStore, Preprocess
from lfwsiamese.data.pipeline import epoch_pairs_dataset
from lfwsiamese.data.sampling import epoch_pair_arrays, epoch_pairs, identity_groups
from lfwsiamese.data.splits import identity_split, split_people, validation_pairs
from lfwsiamese.errors import ConfigError, DataError
from lfwsiamese.models.towers import build_siamese, load_model, tower_flops
from lfwsiamese.recipes import get_config
from lfwsiamese.records import store as E
from lfwsiamese.training.optim import learning_rate, make_optimizer
from lfwsiamese.training.run import train_run, view1_data
from lfwsiamese.training.scoring import predict_pairs
from tests.synth import make_dataset


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> str:
    # 20 training people with 4 images, 6 one-image training people, 20 test people
    return str(make_dataset(tmp_path_factory.mktemp("synth"), n_people=40, per_person=4, singles=6))


def tiny_improved(seed: int = 0, **train: object) -> ExperimentConfig:
    """The improved recipe at toy scale: identities, crop, ResNet, cosine head, AdamW + cosine schedule, flip TTA."""
    return ExperimentConfig(
        name="tiny-improved", seed=seed,
        data=DataConfig(crop=(25, 25, 225, 225), size=32, pixel_scale=1 / 255, sampling="identities",
                        pairs_per_epoch=48, val_pairs=20, val_fraction=0.25, augment="flip,shift,brightness,contrast"),
        model=ModelConfig(arch="resnet", filters=(4, 8), blocks=(1, 1), dense_units=16, dense_activation="linear",
                          embedding_bn=True, head="cosine", conv_l2=0.0, dense_l2=0.0, dropout=0.0,
                          kernel_init="he_normal", bias_init="zeros", dense_init="glorot_uniform"),
        train=TrainConfig(**{"learning_rate": 1e-3, "weight_decay": 0.05, "lr_schedule": "cosine", "warmup_epochs": 1,
                             "batch_size": 16, "epochs": 3, "early_stopping": False, "tta_flip": True,
                             "precision": "float32", **train}),
    ).validate()


def _sha(items: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def _people(data: str, fname: str) -> list[tuple[str, int]]:
    return [c for s in P.load_people(fname, Path(data) / "splits") for c in s.counts]


# ------------------------------------------------------------------------------------------- config


def test_improved_config_is_the_unrestricted_recipe() -> None:
    cfg = get_config("improved")
    assert cfg.data.sampling == "identities" and cfg.data.crop and cfg.data.pixel_scale == pytest.approx(1 / 255)
    assert cfg.model.arch == "resnet" and cfg.model.head == "cosine" and cfg.model.dense_activation == "linear"
    assert cfg.train.lr_schedule == "cosine" and cfg.train.weight_decay > 0 and cfg.train.tta_flip
    assert not cfg.train.early_stopping and cfg.model.conv_l2 == cfg.model.dense_l2 == 0
    assert not cfg.model.kernel_init.startswith("normal:")
    keras.mixed_precision.set_global_policy("float32")
    assert tower_flops(build_siamese(cfg.model, cfg.data.size)) <= 0.3e9  # light enough for a 2-core CPU


def test_existing_run_names_are_unchanged() -> None:
    assert get_config("reference").run_name == "reference-s0-1a5b2eea44"
    assert get_config("reference", seed=1).run_name == "reference-s1-8993e8fadf"
    assert get_config("reference-pairval").run_name == "reference-pairval-s0-f79826fe64"


@pytest.mark.parametrize(("key", "value", "named"), [
    ("sampling", "people", "sampling"),
    ("pairs_per_epoch", "7", "pairs_per_epoch"),
    ("val_pairs", "0", "val_pairs"),
    ("arch", "vgg", "arch"),
    ("blocks", "1,1", "blocks"),
    ("blocks", "1,0,1,1", "blocks"),
    ("stem_stride", "3", "stem_stride"),
    ("lr_schedule", "step", "lr_schedule"),
    ("warmup_epochs", "10", "warmup_epochs"),
    ("weight_decay", "-0.1", "weight_decay"),
])
def test_bad_new_values_name_their_key(key: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        with_overrides(get_config("reference"), {key: value})


def test_identity_sampling_refuses_pair_level_validation() -> None:
    with pytest.raises(ConfigError, match="validation"):
        with_overrides(get_config("reference"), {"sampling": "identities", "validation": "pair"})


# -------------------------------------------------------------------------------- identity sampling


def test_split_people_holds_out_a_share_of_multi_and_single_image_people() -> None:
    counts = [(f"M{k:03d}", 2 + k % 5) for k in range(100)] + [(f"S{k:03d}", 1) for k in range(60)]
    train, val = split_people(counts, 0.2, seed=3)
    assert sorted(train + val) == sorted(counts) and not {n for n, _ in train} & {n for n, _ in val}
    assert sum(c >= 2 for _, c in val) == 20 and sum(c == 1 for _, c in val) == 12
    assert split_people(list(reversed(counts)), 0.2, seed=3) == (train, val)  # file order does not matter
    assert split_people(counts, 0.2, seed=4) != (train, val)
    with pytest.raises(DataError, match="val_fraction"):
        split_people(counts[:3], 0.2, seed=0)


def test_validation_pairs_are_balanced_distinct_and_among_their_people() -> None:
    people = [(f"P{k}", 1 + k % 4) for k in range(30)]
    pairs = validation_pairs(people, 40, seed=1)
    assert len(pairs) == 40 and sum(p.same for p in pairs) == 20
    keys = [frozenset([(p.a.name, p.a.index), (p.b.name, p.b.index)]) for p in pairs]
    assert len(set(keys)) == 40 and all(len(k) == 2 for k in keys)  # no pair twice, never an image with itself
    counts = dict(people)
    assert all(1 <= r.index <= counts[r.name] for p in pairs for r in (p.a, p.b))
    assert validation_pairs(people, 40, seed=1) == pairs
    with pytest.raises(DataError, match="val_pairs"):
        validation_pairs(people, 2000, seed=1)


def test_identity_split_refuses_a_test_person() -> None:
    counts = [(f"P{k}", 3) for k in range(20)]
    with pytest.raises(DataError, match="P7"):
        identity_split(counts, 0.25, 10, seed=0, test_people={"P7", "Someone_Else"})


def test_training_pairs_never_use_validation_or_test_people(synth_data: str) -> None:
    cfg = tiny_improved()
    store, split, test_pairs = view1_data(cfg, synth_data, progress=False)
    train_names = {n for n, _ in split.train_people}
    val_names = {n for n, _ in split.val_people}
    test_names = {n for n, _ in _people(synth_data, "peopleDevTest.txt")} | {n for p in test_pairs for n in p.people}
    assert train_names | val_names == {n for n, _ in _people(synth_data, "peopleDevTrain.txt")}
    assert not train_names & val_names and not (train_names | val_names) & test_names
    # validation: balanced, only validation people
    assert len(split.val) == cfg.data.val_pairs and sum(p.same for p in split.val) == cfg.data.val_pairs // 2
    assert {n for p in split.val for n in p.people} <= val_names
    # training rows, every epoch: only images of training people; same pairs are one person, two images
    groups = identity_groups(store, split.train_people)
    a, b, y = epoch_pair_arrays(groups, cfg.data.pairs_per_epoch, cfg.seed, 0, cfg.train.epochs)
    assert a.shape == (cfg.train.epochs, cfg.data.pairs_per_epoch)
    person = np.array([p.split("/")[0] for p in store.paths])
    assert set(person[a.ravel()]) | set(person[b.ravel()]) <= train_names
    same = y.ravel() == 1
    assert same.sum() == y.size // 2
    assert (person[a.ravel()][same] == person[b.ravel()][same]).all() and (a.ravel()[same] != b.ravel()[same]).all()
    assert (person[a.ravel()][~same] != person[b.ravel()][~same]).all()


def test_epoch_pairs_depend_only_on_seed_and_epoch() -> None:
    groups = [np.arange(k * 5, k * 5 + 1 + k % 5) for k in range(12)]
    e3 = epoch_pairs(groups, 40, seed=5, epoch=3)
    for x, x2 in zip(e3, epoch_pairs(groups, 40, seed=5, epoch=3)):
        np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(e3[0], epoch_pairs(groups, 40, seed=5, epoch=4)[0])
    assert not np.array_equal(e3[0], epoch_pairs(groups, 40, seed=6, epoch=3)[0])
    full = epoch_pair_arrays(groups, 40, seed=5, first_epoch=0, epochs=6)
    tail = epoch_pair_arrays(groups, 40, seed=5, first_epoch=2, epochs=6)  # what a resumed run computes
    for f, t in zip(full, tail):
        np.testing.assert_array_equal(f[2:], t)
    np.testing.assert_array_equal(full[0][3], e3[0])


def test_epoch_pairs_dataset_resumes_with_the_same_batches() -> None:
    images = np.random.default_rng(0).integers(0, 256, (30, 16, 16), dtype=np.uint8)
    groups = [np.arange(k * 3, k * 3 + 3) for k in range(10)]
    a, b, y = epoch_pair_arrays(groups, 12, seed=1, first_epoch=0, epochs=3)

    def batches(first: int) -> list[np.ndarray]:
        ds = epoch_pairs_dataset(images, a[first:], b[first:], y[first:], 5, seed=1, first_epoch=first, augment="flip,shift")
        return [xa.numpy() for (xa, _), _ in ds]

    full, resumed = batches(0), batches(1)
    assert len(full) == 3 * 3 and [len(x) for x in full[:3]] == [5, 5, 2]  # batches never cross epochs
    for f, r in zip(full[3:], resumed):
        np.testing.assert_array_equal(f, r)


# ------------------------------------------------------------------------------------ model, optimiser


def test_resnet_tower_saves_and_loads_with_safe_mode(tmp_path) -> None:
    keras.mixed_precision.set_global_policy("float32")
    cfg = tiny_improved().model
    m = build_siamese(cfg, 32)
    assert m.get_layer("tower").get_layer("gap") is not None
    x = np.random.default_rng(0).random((4, 32, 32, 1)).astype("float32")
    m.save(tmp_path / "r.keras")
    m2 = load_model(str(tmp_path / "r.keras"))
    np.testing.assert_allclose(m.predict([x, x[::-1]], verbose=0), m2.predict([x, x[::-1]], verbose=0), rtol=1e-6)
    twice = build_siamese(replace(cfg, fused_towers=False), 32)  # the same function, tower called per branch
    twice.set_weights(m.get_weights())
    np.testing.assert_allclose(m.predict([x, x[::-1]], verbose=0), twice.predict([x, x[::-1]], verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="data.size"):
        build_siamese(replace(cfg, filters=(4,) * 6, blocks=()), 16)


def test_cosine_schedule_warms_up_then_decays() -> None:
    cfg = tiny_improved(epochs=4, warmup_epochs=1)
    sched = learning_rate(cfg, steps_per_epoch=10)
    lr = [float(sched(step)) for step in range(40)]
    assert lr[0] == 0.0 and lr[5] == pytest.approx(5e-4) and lr[10] == pytest.approx(1e-3)
    assert all(x > y for x, y in zip(lr[10:], lr[11:])) and lr[39] < 1e-5
    assert learning_rate(tiny_improved(lr_schedule="constant", warmup_epochs=0)) == 1e-3  # the reference's way
    flat = learning_rate(tiny_improved(lr_schedule="constant", warmup_epochs=1), steps_per_epoch=10)
    assert float(flat(5)) == pytest.approx(5e-4) and float(flat(25)) == pytest.approx(1e-3)


def test_weight_decay_spares_biases_and_batch_norm() -> None:
    opt = make_optimizer(tiny_improved(lr_schedule="constant", warmup_epochs=0, learning_rate=0.1, weight_decay=0.5))
    assert isinstance(opt, keras.optimizers.AdamW)
    kernel, bias, gamma = (keras.Variable(np.ones(3, "float32"), name=n) for n in ("kernel", "bias", "gamma"))
    opt.apply_gradients([(np.zeros(3, "float32"), v) for v in (kernel, bias, gamma)])  # Adam's step is 0: only decay acts
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(bias.numpy(), 1.0)
    np.testing.assert_array_equal(gamma.numpy(), 1.0)
    assert type(make_optimizer(tiny_improved(weight_decay=0.0), steps_per_epoch=3)) is keras.optimizers.Adam


def test_flip_averaging_changes_scores_and_stays_a_probability() -> None:
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    imgs = np.random.default_rng(2).integers(0, 256, (6, 32, 32), dtype=np.uint8)
    store = ImageStore([f"P{k}/P{k}_0001.jpg" for k in range(6)], imgs, Preprocess(size=32))
    pairs = [P.Pair(P.ImageRef(f"P{i}", 1), P.ImageRef(f"P{(i + 1) % 6}", 1)) for i in range(6)]
    model = build_siamese(tiny_improved().model, 32)
    plain = predict_pairs(model, store, pairs, 1 / 255)
    tta = predict_pairs(model, store, pairs, 1 / 255, tta_flip=True)
    a, b, _ = store.rows(pairs)
    mirrored = model.predict([imgs[a][:, :, ::-1, None] / 255, imgs[b][:, :, ::-1, None] / 255], verbose=0).ravel()
    np.testing.assert_allclose(tta, (plain + mirrored) / 2, rtol=1e-5)
    assert not np.allclose(tta, plain) and ((tta >= 0) & (tta <= 1)).all()


# -------------------------------------------------------------------------------------------- records


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_tiny_improved_run_records_and_resumes_identically(synth_data: str, tmp_path) -> None:
    cfg = tiny_improved(test_each_epoch=False)
    full = train_run(cfg, data=synth_data, results=tmp_path / "a", progress=False)
    for f in E.RECORD_FILES + ("model.keras",):
        assert (full.path / f).is_file(), f
    m = full.metrics
    assert m["validation"] == m["sampling"] == "identities" and m["epochs_run"] == 3
    assert m["train_pairs"] == cfg.data.pairs_per_epoch and m["val_pairs"] == cfg.data.val_pairs
    # the record's people and images are exactly the training people, recomputed independently
    train, val = split_people(_people(synth_data, "peopleDevTrain.txt"), cfg.data.val_fraction, cfg.seed)
    assert m["train_people_sha256"] == _sha([n for n, _ in train]) and m["train_people_count"] == len(train)
    assert m["val_people_sha256"] == _sha([n for n, _ in val])
    assert m["train_images_sha256"] == _sha([f"{n}/{n}_{i:04d}.jpg" for n, c in train for i in range(1, c + 1)])
    test_names = {n for n, _ in _people(synth_data, "peopleDevTest.txt")}
    assert not {n for n, _ in train} & test_names
    assert set(full.val_scores[["name_a", "name_b"]].stack()) <= {n for n, _ in val}
    assert len(full.scores) == 24 and full.scores["score"].between(0, 1).all()
    lr = full.history["learning_rate_end"].to_numpy()  # warm-up, then the cosine down to 0
    assert lr[0] == pytest.approx(1e-3) and lr[1] < lr[0] and lr[2] == pytest.approx(0.0, abs=1e-9)
    assert len(load_model(str(full.model_path)).get_layer("tower").layers) > 10
    # the same network scored without the mirrored pair: a free ablation row for test-time flipping
    model = load_model(str(full.model_path))
    store, split, test_pairs = view1_data(cfg, synth_data, progress=False)
    plain = predict_pairs(model, store, test_pairs, cfg.data.pixel_scale)
    assert m["without_tta"]["test"]["auc"] == pytest.approx(roc_auc_score(full.scores["label"], plain), abs=1e-6)
    assert not np.allclose(plain, full.scores["score"].to_numpy())  # the recorded scores do average in the mirror
    # an older record without the row gets it from its own weights (`lfwsiamese evaluate RUN --without-tta`)
    from lfwsiamese.errors import RunError
    from lfwsiamese.training.run import add_without_tta
    mpath = full.path / "metrics.json"
    mpath.write_text(json.dumps({k: v for k, v in m.items() if k != "without_tta"}))
    again = add_without_tta(full.path, synth_data, progress=False)
    assert again["test"]["auc"] == pytest.approx(m["without_tta"]["test"]["auc"], abs=1e-9)
    assert E.load_record(full.path).metrics["without_tta"]["val"]["accuracy"] == m["without_tta"]["val"]["accuracy"]
    stored = (full.path / "scores.csv").read_text()
    full.scores.assign(score=1 - full.scores["score"]).to_csv(full.path / "scores.csv", index=False)
    with pytest.raises(RunError, match="does not reproduce the stored test scores"):
        add_without_tta(full.path, synth_data, progress=False)
    (full.path / "scores.csv").write_text(stored)

    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False, extra_callbacks=[_Interrupt()])
    resumed = train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False)
    assert resumed.metrics["resumed"] is True and resumed.metrics["epochs_run"] == 3
    np.testing.assert_array_equal(full.scores["score"].to_numpy(), resumed.scores["score"].to_numpy())
    np.testing.assert_array_equal(full.val_scores["score"].to_numpy(), resumed.val_scores["score"].to_numpy())
    cols = ["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "learning_rate_end"]
    pd.testing.assert_frame_equal(full.history[cols], resumed.history[cols])
