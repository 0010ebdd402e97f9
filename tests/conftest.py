"""Shared fixtures: a generated LFW-shaped folder, a private image cache, and the real data when CI has it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfwsiamese.data.protocols import (
    ImageRef,
    Pair,
    PeopleSet,
    format_pairs,
    format_people,
)

#: Fake people and their image counts; the first five are View 1 training people, the last three test people.
TINY_COUNTS: dict[str, int] = {
    "Ada_Alpha": 4, "Bob_Bravo": 3, "Cy_Charlie": 2, "Di_Delta": 1, "Ed_Echo": 2,
    "Flo_Foxtrot": 4, "Gus_Golf": 3, "Hal_Hotel": 1,
}
TINY_TRAIN_PEOPLE = list(TINY_COUNTS)[:5]
TINY_TEST_PEOPLE = list(TINY_COUNTS)[5:]


def _tiny_pairs(people: list[str], n: int) -> list[Pair]:
    """n same pairs (people with >= 2 images) then n different pairs, indices within each person's count."""
    multi = [p for p in people if TINY_COUNTS[p] >= 2]
    same = []
    for k in range(n):
        p = multi[k % len(multi)]
        c = TINY_COUNTS[p]
        i = 1 + k % c
        j = 1 + (i % c)  # a different index of the same person
        same.append(Pair(ImageRef(p, i), ImageRef(p, j)))
    diff = []
    for k in range(n):
        a, b = people[k % len(people)], people[(k + 1) % len(people)]
        diff.append(Pair(ImageRef(a, 1 + k % TINY_COUNTS[a]), ImageRef(b, 1 + (k + 1) % TINY_COUNTS[b])))
    return same + diff


def write_tiny_lfw(root: Path, seed: int = 0) -> Path:
    """lfw2/<Name>/<Name>_NNNN.jpg (random 250x250 grayscale JPEGs) and View 1 protocol files in splits/."""
    rng = np.random.default_rng(seed)
    for name, count in TINY_COUNTS.items():
        d = root / "lfw2" / name
        d.mkdir(parents=True)
        for i in range(1, count + 1):
            pixels = rng.integers(0, 256, (250, 250), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(d / f"{name}_{i:04d}.jpg", quality=85)
    splits = root / "splits"
    splits.mkdir()
    (splits / "pairsDevTrain.txt").write_text(format_pairs(_tiny_pairs(TINY_TRAIN_PEOPLE, 4)))
    (splits / "pairsDevTest.txt").write_text(format_pairs(_tiny_pairs(TINY_TEST_PEOPLE, 2)))
    for fname, people in (("peopleDevTrain.txt", TINY_TRAIN_PEOPLE), ("peopleDevTest.txt", TINY_TEST_PEOPLE)):
        (splits / fname).write_text(format_people([PeopleSet(tuple((p, TINY_COUNTS[p]) for p in people))]))
    return root


@pytest.fixture
def tiny_lfw(tmp_path: Path) -> Path:
    """A generated LFW-shaped data folder (8 people, 20 images) with View 1 pairs and people files."""
    return write_tiny_lfw(tmp_path / "lfwa")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own image cache, never the user's."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The full LFW-a (with splits/) from $LFWSIAMESE_DATA; CI sets it, elsewhere these tests are skipped."""
    env = os.environ.get("LFWSIAMESE_DATA")
    if not env or not (Path(env) / "lfw2").is_dir():
        pytest.skip("LFWSIAMESE_DATA not set")
    return Path(env)
