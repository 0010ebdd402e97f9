"""The N-pair loss: its batches, its arithmetic, and a toy run that learns, records and resumes identically."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lfwsiamese.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lfwsiamese.data.sampling import (
    calibration_pairs,
    epoch_positive_batches,
    sample_positive_batches,
)
from lfwsiamese.errors import DataError
from lfwsiamese.models.losses import NPairLoss
from lfwsiamese.training.run import train_run
from tests.synth import make_dataset


def _groups(sizes: list[int]) -> list[np.ndarray]:
    out, start = [], 0
    for n in sizes:
        out.append(np.arange(start, start + n, dtype=np.int32))
        start += n
    return out


def test_batches_hold_distinct_people_and_same_person_pairs() -> None:
    groups = _groups([1, 2, 3, 5, 1, 2, 4, 2, 3, 2])  # two people with one image: never in a pair
    owner = {int(r): k for k, g in enumerate(groups) for r in g}
    a, b, y = sample_positive_batches(groups, 24, 6, np.random.default_rng(0))
    assert a.shape == b.shape == y.shape == (24,) and (y == 1).all()
    assert all(owner[int(i)] == owner[int(j)] and i != j for i, j in zip(a, b))
    for batch in range(4):
        people = [owner[int(i)] for i in a[batch * 6:(batch + 1) * 6]]
        assert len(set(people)) == 6  # a true match never counts as another pair's negative
        assert not {0, 4} & set(people)


def test_batches_are_a_function_of_seed_and_epoch() -> None:
    groups = _groups([3] * 20)
    first = epoch_positive_batches(groups, 40, 8, seed=3, epoch=2)
    again = epoch_positive_batches(groups, 40, 8, seed=3, epoch=2)
    other = epoch_positive_batches(groups, 40, 8, seed=3, epoch=3)
    assert all((x == z).all() for x, z in zip(first, again))
    assert not (first[0] == other[0]).all()
    a, b, y = calibration_pairs(groups, 40, seed=3)
    assert y.sum() == 20  # balanced: half same, half different


def test_batch_larger_than_the_people_is_refused_with_the_fix() -> None:
    with pytest.raises(DataError, match="needs >= 8 people with >= 2 images; there are 3: lower train.batch_size"):
        sample_positive_batches(_groups([2, 2, 2, 1]), 8, 8, np.random.default_rng(0))
    with pytest.raises(DataError, match="multiple of train.batch_size"):
        sample_positive_batches(_groups([2] * 10), 10, 4, np.random.default_rng(0))


def test_loss_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    scale, margin = 8.0, 0.2
    logits = scale * (a @ b.T - margin * np.eye(5))

    def xent(m: np.ndarray) -> np.ndarray:
        m = m - m.max(axis=1, keepdims=True)
        return -(np.diag(m) - np.log(np.exp(m).sum(axis=1)))

    want = np.mean(0.5 * (xent(logits) + xent(logits.T)))
    got = NPairLoss(scale, margin)(np.ones(5), np.concatenate([a, b], axis=1).astype("float32"))
    assert float(keras.ops.convert_to_numpy(got)) == pytest.approx(want, rel=1e-5)
    # a perfect embedding (each a_i equal to b_i, orthogonal to the others) has a small loss; swapped partners a large one
    eye = np.eye(5, dtype="float32")
    good = float(keras.ops.convert_to_numpy(NPairLoss(16.0)(np.ones(5), np.concatenate([eye, eye], 1))))
    bad = float(keras.ops.convert_to_numpy(NPairLoss(16.0)(np.ones(5), np.concatenate([eye, eye[::-1]], 1))))
    assert good < 0.01 < 10 < bad


def tiny_npair(seed: int = 0, **train: object) -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny-npair", seed=seed,
        data=DataConfig(crop=(25, 25, 225, 225), size=32, pixel_scale=1 / 255, sampling="identities",
                        pairs_per_epoch=32, val_pairs=20, val_fraction=0.25, augment="flip"),
        model=ModelConfig(arch="resnet", filters=(4, 8), blocks=(1, 1), dense_units=16, dense_activation="linear",
                          head="cosine", conv_l2=0.0, dense_l2=0.0, dropout=0.0, kernel_init="he_normal",
                          bias_init="zeros", dense_init="glorot_uniform"),
        train=TrainConfig(**{"learning_rate": 3e-3, "lr_schedule": "cosine", "batch_size": 8, "epochs": 3,
                             "early_stopping": False, "tta_flip": True, "precision": "float32", "loss": "npair",
                             "test_each_epoch": False, **train}),
    ).validate()


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_tiny_npair_run_learns_records_and_resumes_identically(tmp_path) -> None:
    data = str(make_dataset(tmp_path / "synth", n_people=40, per_person=4, singles=4))
    cfg = tiny_npair()
    full = train_run(cfg, data=data, results=tmp_path / "a", progress=False)
    h = full.history
    assert {"val_loss", "val_accuracy", "val_auc", "head_scale", "head_offset"} <= set(h.columns)
    assert h["head_scale"].iloc[-1] > 0  # same-person pairs have the larger cosines, so the fitted slope is positive
    assert full.metrics["val"]["auc"] > 0.75  # distinct synthetic people: well above chance (0.5)
    assert full.scores["score"].between(0, 1).all()
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, data=data, results=tmp_path / "b", progress=False, extra_callbacks=[_Interrupt()])
    resumed = train_run(cfg, data=data, results=tmp_path / "b", progress=False)
    assert resumed.metrics["resumed"] is True
    np.testing.assert_allclose(resumed.scores["score"], full.scores["score"], rtol=0, atol=1e-6)
    assert resumed.metrics["test"] == full.metrics["test"]


@pytest.mark.slow
def test_whitening_study_reads_validation_only_and_is_stored(tmp_path) -> None:
    from lfwsiamese.experiments.postprocess import whitening_study
    data = str(make_dataset(tmp_path / "synth", n_people=40, per_person=4, singles=4))
    rec = train_run(tiny_npair(epochs=2), data=data, results=tmp_path / "r", progress=False)
    df = whitening_study(rec.path, dims=(4, 8, 1000), data=data)
    assert df["space"].tolist()[:2] == ["raw cosine", "centred on training people"]
    assert set(df["dims"]) == {16, 4, 8}  # 1000 > the embedding size: skipped
    assert df["val_accuracy"].between(0, 1).all() and df["val_auc"].between(0, 1).all()
    # the raw row is the record's own validation (without the fitted head: a monotone map, same AUC)
    assert df.loc[0, "val_auc"] == pytest.approx(rec.metrics["val"]["auc"], abs=0.02)
    stored = (rec.path / "whitening.csv").read_text()
    assert stored.splitlines()[0] == "space,dims,whiten,val_accuracy,val_auc,val_eer"
