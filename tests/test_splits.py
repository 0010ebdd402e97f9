"""Validation splits: the person-disjoint split shares no person with training; the pair split leaks."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfwsiamese.data.protocols import ImageRef, Pair, load_pairs
from lfwsiamese.data.splits import (
    Split,
    leakage,
    make_split,
    pair_level_split,
    people_of,
    person_disjoint_split,
)
from lfwsiamese.errors import DataError


@pytest.fixture(scope="module")
def official() -> list[Pair]:
    return load_pairs("pairsDevTrain.txt")


def _assert_partition(pairs: Sequence[Pair], split: Split) -> None:
    """Every pair lands on exactly one side (as a multiset: duplicates are kept, nothing invented)."""
    assert Counter(split.train) + Counter(split.val) == Counter(pairs)
    assert len(split.train) + len(split.val) == len(pairs)


def _assert_person_disjoint(split: Split) -> None:
    assert not people_of(split.val) & people_of(split.train)
    lk = leakage(split)
    assert lk["val_pairs_sharing_a_person"] == 0 and lk["val_pairs_sharing_an_image"] == 0
    assert lk["frac_sharing_a_person"] == 0.0


@st.composite
def pair_sets(draw: st.DrawFn) -> list[Pair]:
    n_people = draw(st.integers(2, 40))
    names = [f"P{k:02d}" for k in range(n_people)]
    n = draw(st.integers(0, 60))
    out = []
    for _ in range(n):
        a = draw(st.sampled_from(names))
        i, j = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        out.append(Pair(ImageRef(a, i), ImageRef(a, j)))
    for _ in range(n):
        a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        out.append(Pair(ImageRef(a, draw(st.integers(1, 5))), ImageRef(b, draw(st.integers(1, 5)))))
    return out


@settings(max_examples=150, deadline=None)
@given(pairs=pair_sets(), frac=st.floats(0.05, 0.5), seed=st.integers(0, 1000))
def test_person_split_properties_on_generated_pairs(pairs: list[Pair], frac: float, seed: int) -> None:
    try:
        split = person_disjoint_split(pairs, frac, seed)
    except DataError as e:  # refused only when one side would be empty
        assert "impossible" in str(e) and f"{len(pairs)} pairs" in str(e)
        return
    assert split.train and split.val
    assert split.kind == "person" and split.seed == seed
    _assert_partition(pairs, split)
    _assert_person_disjoint(split)
    # never (much) more validation than asked, and the same/different balance of the whole file
    n_same = sum(p.same for p in pairs)
    assert len(split.val) <= frac * len(pairs) + 4
    assert sum(p.same for p in split.val) <= frac * n_same + 2
    assert sum(not p.same for p in split.val) <= frac * (len(pairs) - n_same) + 2
    assert person_disjoint_split(pairs, frac, seed) == split  # same seed, same split


@settings(max_examples=100, deadline=None)
@given(pairs=pair_sets(), frac=st.floats(0.05, 0.5), seed=st.integers(0, 1000))
def test_pair_split_properties_on_generated_pairs(pairs: list[Pair], frac: float, seed: int) -> None:
    split = pair_level_split(pairs, frac, seed)
    assert split.kind == "pair"
    _assert_partition(pairs, split)
    assert len(split.val) == round(frac * len(pairs))
    assert pair_level_split(pairs, frac, seed) == split


def test_person_split_keeps_pair_order() -> None:
    pairs = [Pair(ImageRef(f"P{k}", 1), ImageRef(f"P{k}", 2)) for k in range(20)]
    split = person_disjoint_split(pairs, 0.25, 0)
    assert len(split.val) == 5
    assert list(split.train) == [p for p in pairs if p not in split.val]
    assert list(split.val) == [p for p in pairs if p in split.val]


def test_connected_people_stay_together() -> None:
    # A-B-C are chained by different pairs; all their pairs must land on one side
    chain = [Pair(ImageRef("A", 1), ImageRef("A", 2)), Pair(ImageRef("A", 1), ImageRef("B", 1)),
             Pair(ImageRef("B", 1), ImageRef("C", 1)), Pair(ImageRef("C", 1), ImageRef("C", 2))]
    others = [Pair(ImageRef(f"Q{k}", 1), ImageRef(f"Q{k}", 2)) for k in range(30)]
    for seed in range(20):
        split = person_disjoint_split(chain + others, 0.3, seed)
        sides = {p in split.val for p in chain}
        assert len(sides) == 1
        _assert_person_disjoint(split)


def test_impossible_person_split_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="0 pairs is impossible"):
        person_disjoint_split([], 0.2, 0)
    # everyone linked into one group: nothing can be held out without sharing a person
    ring = [Pair(ImageRef(f"P{k}", 1), ImageRef(f"P{(k + 1) % 10}", 1)) for k in range(10)]
    with pytest.raises(DataError, match="10 pairs is impossible.*data.validation=pair"):
        person_disjoint_split(ring, 0.2, 0)
    assert len(pair_level_split(ring, 0.2, 0).val) == 2  # the pair split still works


@pytest.mark.parametrize("frac", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_person_split_on_the_official_file(official: list[Pair], frac: float, seed: int) -> None:
    split = person_disjoint_split(official, frac, seed)
    _assert_partition(official, split)
    _assert_person_disjoint(split)
    assert abs(len(split.val) / len(official) - frac) < 0.02
    n_same = sum(p.same for p in split.val)
    assert abs(n_same - (len(split.val) - n_same)) <= 0.05 * len(split.val)


def test_seeds_decide_the_split(official: list[Pair]) -> None:
    a, b, c = (person_disjoint_split(official, 0.2, s) for s in (0, 0, 1))
    assert a == b
    assert set(a.val) != set(c.val)
    p0, p1 = pair_level_split(official, 0.2, 0), pair_level_split(official, 0.2, 1)
    assert p0 == pair_level_split(official, 0.2, 0) and set(p0.val) != set(p1.val)


def test_pair_split_leaks_people_and_person_split_does_not(official: list[Pair]) -> None:
    pair = leakage(pair_level_split(official, 0.2, 0))
    assert pair["val_pairs"] == 440 and pair["train_pairs"] == 1760
    assert pair["frac_sharing_a_person"] > 0.5
    assert pair["frac_sharing_an_image"] > 0.3
    assert pair["val_same"] + pair["val_different"] == 440
    person = leakage(person_disjoint_split(official, 0.2, 0))
    assert person["frac_sharing_a_person"] == 0.0 and person["frac_sharing_an_image"] == 0.0


def test_make_split_dispatches_and_refuses_unknown_kinds(official: list[Pair]) -> None:
    assert make_split(official, "person", 0.2, 3) == person_disjoint_split(official, 0.2, 3)
    assert make_split(official, "pair", 0.2, 3) == pair_level_split(official, 0.2, 3)
    with pytest.raises(DataError, match="'random'.*'person' and 'pair'"):
        make_split(official, "random", 0.2, 0)
