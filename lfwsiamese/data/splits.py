"""Honest validation: person-disjoint splits of pairs or people, and the leakage of a pair-level split."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError
from .protocols import ImageRef, Pair


@dataclass(frozen=True)
class Split:
    """Training and validation pairs, and how they were made."""

    train: tuple[Pair, ...]
    val: tuple[Pair, ...]
    kind: str
    seed: int


def person_disjoint_split(pairs: Sequence[Pair], val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Validation pairs whose people never appear in a training pair.

    People linked by any pair form a connected group; whole groups go to validation (seeded order)
    until the fraction is reached, so no pair is dropped and no person is shared.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = find(p.a.name), find(p.b.name)
        if ra != rb:
            parent[ra] = rb
    groups: dict[str, list[int]] = {}
    for k, p in enumerate(pairs):
        groups.setdefault(find(p.a.name), []).append(k)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = val_fraction * len(pairs)
    n_same_target = val_fraction * sum(p.same for p in pairs)
    val_idx: set[int] = set()
    n_same = n_diff = 0
    for g in keys:
        members = groups[g]
        if len(members) > target / 2:
            continue  # a giant group would unbalance validation; it stays in training
        s = sum(pairs[k].same for k in members)
        d = len(members) - s
        # keep the same/different balance of the whole file
        if n_same + s > n_same_target + 2 or n_diff + d > (target - n_same_target) + 2:
            continue
        val_idx.update(members)
        n_same += s
        n_diff += d
        if n_same + n_diff >= target:
            break
    train = tuple(p for k, p in enumerate(pairs) if k not in val_idx)
    val = tuple(p for k, p in enumerate(pairs) if k in val_idx)
    if not val or not train:
        raise DataError(
            f"a person-disjoint validation split of {len(pairs)} pairs is impossible: the pairs link their people "
            f"into groups too large to hold out {val_fraction:.0%}; use more pairs or data.validation=pair"
        )
    return Split(train, val, "person", seed)


def pair_level_split(pairs: Sequence[Pair], val_fraction: float = 0.2, seed: int = 0) -> Split:
    """The reference's split: a random fraction of pairs, people free to appear on both sides."""
    idx = list(range(len(pairs)))
    random.Random(seed).shuffle(idx)
    n_val = int(round(val_fraction * len(pairs)))
    val_set = set(idx[:n_val])
    return Split(tuple(p for k, p in enumerate(pairs) if k not in val_set),
                 tuple(p for k, p in enumerate(pairs) if k in val_set), "pair", seed)


def make_split(pairs: Sequence[Pair], kind: str, val_fraction: float, seed: int) -> Split:
    if kind == "person":
        return person_disjoint_split(pairs, val_fraction, seed)
    if kind == "pair":
        return pair_level_split(pairs, val_fraction, seed)
    raise DataError(f"validation kind {kind!r}: allowed values are 'person' and 'pair'")


def leakage(split: Split) -> dict[str, float]:
    """How much validation overlaps training: pairs sharing a person, pairs sharing an exact image."""
    train_people = {n for p in split.train for n in p.people}
    train_images = {r for p in split.train for r in (p.a, p.b)}
    n = len(split.val)
    share_person = sum(1 for p in split.val if p.people & train_people)
    share_image = sum(1 for p in split.val if p.a in train_images or p.b in train_images)
    return {
        "val_pairs": n,
        "train_pairs": len(split.train),
        "val_pairs_sharing_a_person": share_person,
        "val_pairs_sharing_an_image": share_image,
        "frac_sharing_a_person": share_person / n if n else 0.0,
        "frac_sharing_an_image": share_image / n if n else 0.0,
        "val_same": sum(p.same for p in split.val),
        "val_different": sum(not p.same for p in split.val),
    }


def people_of(pairs: Iterable[Pair]) -> set[str]:
    return {n for p in pairs for n in p.people}


RNG_PEOPLE, RNG_VAL, RNG_EPOCH, RNG_NPAIR, RNG_CALIB = 1, 2, 3, 4, 5  # separate random streams per purpose


@dataclass(frozen=True)
class IdentitySplit:
    """Training people (all their images) and held-out validation people with a fixed pair list."""

    train_people: tuple[tuple[str, int], ...]  # (name, image count), as in peopleDevTrain.txt
    val_people: tuple[tuple[str, int], ...]
    val: tuple[Pair, ...]
    seed: int
    kind: str = "identities"

    @property
    def train_names(self) -> list[str]:
        return sorted(n for n, _ in self.train_people)

    @property
    def train_images(self) -> list[str]:
        """Every image training may use (relpaths, sorted): what the record's train_images_sha256 covers."""
        return sorted(ImageRef(n, i).relpath for n, c in self.train_people for i in range(1, c + 1))


def split_people(counts: Sequence[tuple[str, int]], val_fraction: float, seed: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(train, val) people: val_fraction of the people with >= 2 images, and the same share of single-image people.

    Multi-image people are split separately so validation gets its share of same-person pairs; the singletons
    only ever appear in different-person pairs. Seeded, and independent of the file's order.
    """
    rng = np.random.default_rng([seed, RNG_PEOPLE])
    multi = sorted((n, c) for n, c in counts if c >= 2)
    single = sorted((n, c) for n, c in counts if c < 2)
    n_val_multi = int(round(val_fraction * len(multi)))
    n_val_single = int(round(val_fraction * len(single)))
    if n_val_multi < 2 or len(multi) - n_val_multi < 2:
        raise DataError(
            f"identity sampling needs >= 2 people with >= 2 images on each side of the validation split; "
            f"{len(multi)} such people with data.val_fraction={val_fraction} give {n_val_multi} for validation and "
            f"{len(multi) - n_val_multi} for training; change data.val_fraction or use data.sampling=pairs"
        )
    val_m = set(rng.permutation(len(multi))[:n_val_multi].tolist())
    val_s = set(rng.permutation(len(single))[:n_val_single].tolist())
    train = [p for k, p in enumerate(multi) if k not in val_m] + [p for k, p in enumerate(single) if k not in val_s]
    val = [p for k, p in enumerate(multi) if k in val_m] + [p for k, p in enumerate(single) if k in val_s]
    return sorted(train), sorted(val)


def validation_pairs(people: Sequence[tuple[str, int]], n_pairs: int, seed: int) -> tuple[Pair, ...]:
    """A fixed list of n_pairs/2 same then n_pairs/2 different pairs among `people`, no pair twice.

    Same pairs go round the (shuffled) people with >= 2 images, one new pair per person per round, so no
    person dominates; different pairs are two distinct people picked uniformly, one image each.
    """
    rng = np.random.default_rng([seed, RNG_VAL])
    n_same, n_diff = n_pairs // 2, n_pairs - n_pairs // 2
    people = sorted(people)
    multi = [(n, c) for n, c in people if c >= 2]
    possible = sum(c * (c - 1) // 2 for _, c in multi)
    if possible < n_same or len(people) < 2:
        raise DataError(
            f"the {len(people)} validation people allow only {possible} distinct same-person pairs, fewer than the "
            f"{n_same} that data.val_pairs={n_pairs} asks for; lower data.val_pairs or raise data.val_fraction"
        )
    same: list[Pair] = []
    used: dict[str, set[tuple[int, int]]] = {n: set() for n, _ in multi}
    while len(same) < n_same:
        for k in rng.permutation(len(multi)):
            name, c = multi[k]
            if len(used[name]) == c * (c - 1) // 2:
                continue  # every pair of this person is taken
            if c <= 32:  # few images: pick among the unused pairs exactly
                free = [(i, j) for i in range(c) for j in range(i + 1, c) if (i, j) not in used[name]]
                i, j = free[int(rng.integers(len(free)))]
            else:  # many: a random pair is almost surely new
                while True:
                    i, j = sorted(rng.choice(c, 2, replace=False).tolist())
                    if (i, j) not in used[name]:
                        break
            used[name].add((i, j))
            same.append(Pair(ImageRef(name, i + 1), ImageRef(name, j + 1)))
            if len(same) == n_same:
                break
    diff: list[Pair] = []
    seen: set[tuple[str, int, str, int]] = set()
    n_images = sum(c for _, c in people)
    possible_diff = (n_images * n_images - sum(c * c for _, c in people)) // 2
    if possible_diff < n_diff:
        raise DataError(f"the {len(people)} validation people allow only {possible_diff} distinct different-person pairs, "
                        f"fewer than the {n_diff} that data.val_pairs={n_pairs} asks for; lower data.val_pairs")
    while len(diff) < n_diff:
        pa, pb = rng.choice(len(people), 2, replace=False).tolist()
        (na, ca), (nb, cb) = people[pa], people[pb]
        ia, ib = int(rng.integers(ca)) + 1, int(rng.integers(cb)) + 1
        key = min((na, ia, nb, ib), (nb, ib, na, ia))
        if key in seen:
            continue
        seen.add(key)
        diff.append(Pair(ImageRef(na, ia), ImageRef(nb, ib)))
    return tuple(same + diff)


def identity_split(train_counts: Sequence[tuple[str, int]], val_fraction: float, val_pairs: int, seed: int,
                   test_people: Iterable[str] = ()) -> IdentitySplit:
    """Hold out validation people of peopleDevTrain and fix their pair list; refuse any DevTest person."""
    leaked = sorted({n for n, _ in train_counts} & set(test_people))
    if leaked:
        raise DataError(
            f"{len(leaked)} people are in both peopleDevTrain and the test people (e.g. {leaked[:3]}); the protocol "
            f"files are not the official ones: check them with `lfwsiamese data check`"
        )
    train, val = split_people(train_counts, val_fraction, seed)
    return IdentitySplit(tuple(train), tuple(val), validation_pairs(val, val_pairs, seed), seed)
