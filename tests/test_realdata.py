"""The real LFW-a (from $LFWSIAMESE_DATA): protocol counts, person disjointness and `data check`. No decoding."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lfwsiamese.data.check import check_data, list_images
from lfwsiamese.data.paths import splits_dir
from lfwsiamese.data.protocols import (
    OFFICIAL_SHA256,
    Pair,
    load_pairs,
    load_people,
    packaged_path,
    sha256_file,
)
from lfwsiamese.data.splits import people_of, person_disjoint_split

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def view1(real_data: Path) -> tuple[list[Pair], list[Pair]]:
    sdir = splits_dir(real_data)
    assert sdir is not None, f"{real_data}/splits is missing"
    return load_pairs("pairsDevTrain.txt", sdir), load_pairs("pairsDevTest.txt", sdir)


def test_splits_are_the_official_files(real_data: Path) -> None:
    sdir = real_data / "splits"
    for fname, digest in OFFICIAL_SHA256.items():
        assert sha256_file(sdir / fname) == digest, fname
        assert sha256_file(packaged_path(fname)) == digest, fname
    for alias, official in (("train.txt", "pairsDevTrain.txt"), ("test.txt", "pairsDevTest.txt")):
        if (sdir / alias).is_file():
            assert sha256_file(sdir / alias) == OFFICIAL_SHA256[official]


def test_view1_pair_counts(view1: tuple[list[Pair], list[Pair]]) -> None:
    train, test = view1
    assert len(train) == 2200 and sum(p.same for p in train) == 1100
    assert len(test) == 1000 and sum(p.same for p in test) == 500
    assert len(people_of(train)) == 2132 and len(people_of(test)) == 963
    assert not people_of(train) & people_of(test)


def test_view1_people_files(real_data: Path, view1: tuple[list[Pair], list[Pair]]) -> None:
    (tr,), (te,) = load_people("peopleDevTrain.txt", real_data / "splits"), load_people("peopleDevTest.txt", real_data / "splits")
    assert (len(tr.counts), tr.n_images, len(te.counts), te.n_images) == (4038, 9525, 1711, 3708)
    assert not tr.names & te.names
    assert people_of(view1[0]) <= tr.names and people_of(view1[1]) <= te.names


def test_person_disjoint_validation_on_real_training_pairs(view1: tuple[list[Pair], list[Pair]]) -> None:
    train, test = view1
    split = person_disjoint_split(train, 0.2, 0)
    assert len(split.train) + len(split.val) == 2200
    assert not people_of(split.train) & people_of(split.val)
    assert not people_of(split.val) & people_of(test)


def test_view2_folds(real_data: Path) -> None:
    pairs = load_pairs("pairs.txt", real_data / "splits")
    assert len(pairs) == 6000
    sets = load_people("people.txt", real_data / "splits")
    assert len(sets) == 10 and sum(len(s.counts) for s in sets) == 5749 and sum(s.n_images for s in sets) == 13233
    for k in range(10):
        fold = [p for p in pairs if p.fold == k]
        assert len(fold) == 600 and sum(p.same for p in fold) == 300
        assert people_of(fold) <= sets[k].names
        for j in range(k):
            assert not sets[j].names & sets[k].names


def test_data_check_passes(real_data: Path) -> None:
    rep = check_data(real_data, progress=False)
    assert rep.ok, rep.problems
    assert (rep.n_people, rep.n_images) == (5749, 13233)
    assert len(list_images(real_data)) == 13233


def test_edited_copy_of_the_real_splits_is_named(real_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "lfwa"
    copy.mkdir()
    (copy / "lfw2").symlink_to((real_data / "lfw2").resolve())  # the images are read-only: link, not copy
    shutil.copytree(real_data / "splits", copy / "splits")
    f = copy / "splits" / "pairsDevTrain.txt"
    f.write_text(f.read_text().replace("\n", "\r\n"))  # same pairs, different bytes
    assert load_pairs("pairsDevTrain.txt", copy / "splits") == load_pairs("pairsDevTrain.txt")
    rep = check_data(copy, progress=False)
    assert len(rep.problems) == 1 and rep.problems[0].startswith(f"{f}: sha256")
