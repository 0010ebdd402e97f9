"""A small LFW-shaped dataset generated on the fly for training tests (no images are committed).

Each fake person has a distinct base pattern plus noise, so a tiny network can learn something.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfwsiamese.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lfwsiamese.data.protocols import (
    ImageRef,
    Pair,
    PeopleSet,
    format_pairs,
    format_people,
)
from lfwsiamese.records.store import Record


def make_dataset(root: Path, n_people: int = 40, per_person: int = 3, n_pairs: int = 24, seed: int = 0,
                 singles: int = 0) -> Path:
    """n_people people with per_person images each (first half View 1 training, second half test), plus
    `singles` extra one-image training people; pairsDev* and peopleDev* files in splits/."""
    rng = np.random.default_rng(seed)
    names = [f"Person_{chr(65 + k // 26)}{chr(65 + k % 26)}" for k in range(n_people)]
    single_names = [f"Single_{chr(65 + k // 26)}{chr(65 + k % 26)}" for k in range(singles)]
    counts = {**{n: per_person for n in names}, **{n: 1 for n in single_names}}
    for name, count in counts.items():
        base = rng.integers(0, 256, (8, 8)).astype(np.float64)
        d = root / "lfw2" / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(1, count + 1):
            img = np.pad(np.kron(base, np.ones((32, 32))), ((0, 0), (0, 0)), mode="edge")[:250, :250]
            img = np.pad(img, ((0, 250 - img.shape[0]), (0, 250 - img.shape[1])), mode="edge")
            img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img, "L").save(d / f"{name}_{i:04d}.jpg", quality=90)
    splits = root / "splits"
    splits.mkdir(exist_ok=True)
    half = n_people // 2

    def pairs_for(people: list[str], n: int) -> list[Pair]:
        same = [Pair(ImageRef(p, 1 + k % per_person), ImageRef(p, 1 + (k + 1) % per_person))
                for k, p in zip(range(n), (people * 10)[:n])]
        diff = []  # disjoint couples (0-1, 2-3, ...) so that person-disjoint validation is possible
        for k in range(n):
            c = (2 * k) % (len(people) - len(people) % 2)
            a, b = people[c], people[c + 1]
            diff.append(Pair(ImageRef(a, 1 + k % per_person), ImageRef(b, 1 + (k + 2) % per_person)))
        return same + diff

    (splits / "pairsDevTrain.txt").write_text(format_pairs(pairs_for(names[:half], n_pairs)))
    (splits / "pairsDevTest.txt").write_text(format_pairs(pairs_for(names[half:], n_pairs // 2)))
    for fname, people in (("peopleDevTrain.txt", names[:half] + single_names), ("peopleDevTest.txt", names[half:])):
        (splits / fname).write_text(format_people([PeopleSet(tuple((n, counts[n]) for n in people))]))
    return root


def tiny_config(seed: int = 0, **train: object) -> ExperimentConfig:
    """A network small enough to train in seconds on 2 cores."""
    return ExperimentConfig(
        name="tiny", seed=seed,
        data=DataConfig(size=32, pixel_scale=1 / 255),
        model=ModelConfig(filters=(4, 8), kernels=(3, 3), pools=(1, 1), dense_units=16, conv_l2=1e-4, dense_l2=1e-4,
                          kernel_init="glorot_uniform", bias_init="zeros", dense_init="glorot_uniform", dropout=0.1),
        train=TrainConfig(**{"learning_rate": 1e-3, "batch_size": 8, "epochs": 2, "precision": "float32", **train}),
    ).validate()


def add_view2(root: Path, n_folds: int = 10, per_fold: int = 4) -> Path:
    """people.txt and pairs.txt over the people make_dataset made: n_folds disjoint sets of people, each fold's
    pairs among its own people (as in LFW), `per_fold` same and `per_fold` different pairs per fold."""
    names = sorted(d.name for d in (root / "lfw2").iterdir() if d.name.startswith("Person_"))
    counts = {n: len(list((root / "lfw2" / n).glob("*.jpg"))) for n in names}
    size = len(names) // n_folds
    sets, pairs = [], []
    for f in range(n_folds):
        people = names[f * size:(f + 1) * size]
        sets.append(PeopleSet(tuple((n, counts[n]) for n in people), f))
        same = [Pair(ImageRef(people[k % size], 1), ImageRef(people[k % size], 2), f) for k in range(per_fold)]
        couples = [(people[c], people[c + 1]) for c in range(0, size - 1, 2)]  # small linked groups, as in LFW
        diff = [Pair(ImageRef(a, 1), ImageRef(b, 2), f) for a, b in (couples * per_fold)[:per_fold]]
        pairs += same + diff
    (root / "splits" / "people.txt").write_text(format_people(sets))
    (root / "splits" / "pairs.txt").write_text(format_pairs(pairs, folds=n_folds))
    return root


def trained_record(tmp_path_factory: pytest.TempPathFactory, **train: object) -> tuple[Record, Path, Path]:
    """A 1-epoch tiny run on a fresh synthetic dataset, with its own image cache and results folder (never the
    user's): (record, data folder, results folder), for module-scoped fixtures of tests that need a trained run."""
    from lfwsiamese.training.run import train_run  # here: importing synth must not load Keras
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFWSIAMESE_CACHE", str(tmp_path_factory.mktemp("cache")))
        data = make_dataset(tmp_path_factory.mktemp("synth"))
        results = tmp_path_factory.mktemp("results")
        rec = train_run(tiny_config(epochs=1, **train), data=str(data), results=results, progress=False)
    return rec, data, results


def scores_right_where(right: np.ndarray, keys: dict, wrong: tuple[float, float] = (0.1, 0.9)):
    """A scores.csv frame right exactly where `right` is 1 at the threshold 0.5: the first half same-person pairs
    (scored 0.9 when right, wrong[0] when not), the rest different-person pairs (0.1 when right, wrong[1])."""
    import pandas as pd
    n = len(right)
    labels = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    score = np.where(right == 1, np.where(labels == 1, 0.9, 0.1), np.where(labels == 1, *wrong))
    return pd.DataFrame({**keys, "label": labels, "score": score})
