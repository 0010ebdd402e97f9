"""The fixed facts the book types by hand (issue #32: LFW's counts, the protocols' pairs, the frame and input sizes,
the recipes' pairs per epoch), checked against the protocol files, the data folder and the configs, and found in
the chapters' prose: a chapter that types one of these numbers types the value the data and code give."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from lfwsiamese.data import protocols as P
from lfwsiamese.data.paths import FRAME
from lfwsiamese.recipes import get_config

CHAPTERS = Path(__file__).resolve().parent.parent / "book" / "chapters"


def _book() -> str:
    return "\n".join(p.read_text() for p in sorted(CHAPTERS.glob("*.md")))


def _n(x: int) -> str:
    return f"{x:,}"


def _computed() -> dict[str, str]:
    """Each fact as the book types it, from the packaged protocol files and the recipes."""
    counts = P.image_counts()
    dev_train, dev_test, view2 = (P.load_pairs(n) for n in ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt"))
    folds = Counter(p.fold for p in view2)
    ref, imp = get_config("reference"), get_config("improved")
    x0, y0, x1, y1 = imp.data.crop
    return {
        "images": _n(sum(counts.values())),
        "people": _n(len(counts)),
        "DevTrain pairs": _n(len(dev_train)),
        "DevTest pairs": _n(len(dev_test)),
        "DevTest same pairs": _n(sum(p.same for p in dev_test)),
        "View 2 folds": str(len(folds)),
        "pairs per fold": _n(set(folds.values()).pop()) if len(set(folds.values())) == 1 else "uneven",
        "frame": f"{FRAME}×{FRAME}",
        "reference input": f"{ref.data.size}×{ref.data.size}",
        "face box": f"{x1 - x0}×{y1 - y0}",
        "face input": f"{imp.data.size}×{imp.data.size}",
        "pairs per epoch": _n(imp.data.pairs_per_epoch),
        "validation pairs": _n(imp.data.val_pairs),
    }


#: What the book types, with the pattern it types it in.
TYPED = {
    "images": ("13,233", r"13,233 images"),
    "people": ("5,749", r"5,749 people"),
    "DevTrain pairs": ("2,200", r"2,200 (DevTrain )?pairs|2,200 DevTrain"),
    "DevTest pairs": ("1,000", r"1,000 DevTest pairs|1,000 (test )?pairs"),
    "DevTest same pairs": ("500", r"500 same|DevTest holds 500 of each"),
    "View 2 folds": ("10", r"10 folds|ten folds"),
    "pairs per fold": ("600", r"600 pairs"),
    "frame": ("250×250", r"250×250"),
    "reference input": ("105×105", r"105×105"),
    "face box": ("130×130", r"130×130"),
    "face input": ("96×96", r"96×96"),
    "pairs per epoch": ("8,000", r"8,000 (fresh )?(balanced )?pairs"),
    "validation pairs": ("1,000", r"1,000 validation pairs|1,000 pairs of validation"),
}


@pytest.mark.parametrize("fact", sorted(TYPED))
def test_the_typed_fact_is_what_the_data_and_configs_say(fact: str) -> None:
    assert _computed()[fact] == TYPED[fact][0], f"the book types {TYPED[fact][0]} for {fact}"


@pytest.mark.parametrize("fact", sorted(TYPED))
def test_the_book_types_the_fact(fact: str) -> None:
    assert re.search(TYPED[fact][1], _book()), f"no chapter types {fact} as {TYPED[fact][1]!r}"


def test_no_chapter_types_a_wrong_count_of_images_or_people() -> None:
    book = _book()
    images = set(re.findall(r"([\d,]{5,}) images of ([\d,]{4,}) people", book))
    assert images <= {("13,233", "5,749")}, images


def test_the_image_count_matches_the_data_folder(real_data: Path) -> None:
    files = sum(1 for _ in (real_data / "lfw2").rglob("*.jpg"))
    people = sum(1 for p in (real_data / "lfw2").iterdir() if p.is_dir())
    assert (_n(files), _n(people)) == (TYPED["images"][0], TYPED["people"][0])
