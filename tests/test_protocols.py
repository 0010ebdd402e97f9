"""Protocol file parsers: valid View 1 / View 2 text, every malformed line named by file:line, and properties."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfwsiamese.data.protocols import (
    ImageRef,
    Pair,
    PeopleSet,
    format_pairs,
    format_people,
    load_pairs,
    load_people,
    parse_pairs,
    parse_people,
    validate_pairs,
)
from lfwsiamese.errors import DataError, ProtocolError

VIEW1_PAIRS = "2\nAda\t1\t2\nBob\t3\t1\nAda\t1\tBob\t2\nCy\t4\tAda\t3\n"
VIEW2_PAIRS = (
    "2\t1\n"
    "Ada\t1\t2\nAda\t1\tBob\t1\n"
    "Bob\t1\t2\nCy\t1\tDi\t2\n"
)
VIEW1_PEOPLE = "3\nAda\t4\nBob\t1\nCy\t2\n"
VIEW2_PEOPLE = "2\n2\nAda\t4\nBob\t1\n1\nCy\t2\n"


def _raises(text: str, parser, source: str, line_no: int | None, *words: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as ei:
        parser(text, source)
    msg = str(ei.value)
    assert (f"{source}:{line_no}" if line_no is not None else source) in msg, msg
    for w in words:
        assert w in msg, msg
    assert isinstance(ei.value, DataError)  # the CLI prints it as a user error
    return ei.value


# ------------------------------------------------------------------------------------------- valid


def test_view1_pairs() -> None:
    pairs = parse_pairs(VIEW1_PAIRS)
    assert pairs == [
        Pair(ImageRef("Ada", 1), ImageRef("Ada", 2)),
        Pair(ImageRef("Bob", 3), ImageRef("Bob", 1)),
        Pair(ImageRef("Ada", 1), ImageRef("Bob", 2)),
        Pair(ImageRef("Cy", 4), ImageRef("Ada", 3)),
    ]
    assert [p.label for p in pairs] == [1, 1, 0, 0]
    assert {p.fold for p in pairs} == {0}
    assert pairs[0].a.relpath == "Ada/Ada_0001.jpg"


def test_view2_pairs_have_folds() -> None:
    pairs = parse_pairs(VIEW2_PAIRS)
    assert [p.fold for p in pairs] == [0, 0, 1, 1]
    assert [p.same for p in pairs] == [True, False, True, False]
    assert pairs[3].people == frozenset({"Cy", "Di"})


def test_space_separated_lines_are_accepted() -> None:
    assert parse_pairs(VIEW1_PAIRS.replace("\t", " ")) == parse_pairs(VIEW1_PAIRS)


def test_view1_and_view2_people() -> None:
    (s,) = parse_people(VIEW1_PEOPLE)
    assert s.counts == (("Ada", 4), ("Bob", 1), ("Cy", 2)) and s.n_images == 7 and s.fold == 0
    sets = parse_people(VIEW2_PEOPLE)
    assert [s.fold for s in sets] == [0, 1]
    assert [s.names for s in sets] == [frozenset({"Ada", "Bob"}), frozenset({"Cy"})]


@pytest.mark.parametrize("text", [VIEW1_PAIRS, VIEW2_PAIRS, VIEW1_PEOPLE, VIEW2_PEOPLE])
def test_crlf_and_missing_final_newline_give_identical_results(text: str) -> None:
    parser = parse_people if text in (VIEW1_PEOPLE, VIEW2_PEOPLE) else parse_pairs
    want = parser(text)
    assert parser(text.replace("\n", "\r\n")) == want
    assert parser(text.rstrip("\n")) == want
    assert parser(text.rstrip("\n").replace("\n", "\r\n")) == want


def test_packaged_official_files_parse() -> None:
    train, test, view2 = load_pairs("pairsDevTrain.txt"), load_pairs("pairsDevTest.txt"), load_pairs("pairs.txt")
    assert (len(train), len(test), len(view2)) == (2200, 1000, 6000)
    assert load_pairs("train.txt") == train  # the reference's name for the same file
    assert sum(len(s.counts) for s in load_people("people.txt")) == 5749
    assert len(load_people("people.txt")) == 10


# --------------------------------------------------------------------------------------- malformed


def test_wrong_field_count() -> None:
    e = _raises("1\nAda\t1\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 2, "expected 3 fields", "got 2")
    assert e.line_no == 2 and e.line == "Ada\t1"
    _raises("1\nAda\t1\t2\nAda\t1\tBob\t2\t9\n", parse_pairs, "p.txt", 3, "got 5")
    _raises("2\nAda\t1\nBob\n", parse_people, "pe.txt", 3, "expected 2 fields (Name, image count), got 1")
    # a missing count on the first name line is not mistaken for a View 2 set size
    _raises("2\nAda\nBob\t2\n", parse_people, "pe.txt", 2, "expected 2 fields (Name, image count), got 1")
    _raises("1\nAda\t1\t2\n", parse_people, "pe.txt", 2, "expected 2 fields", "got 3")


def test_non_integer_index() -> None:
    _raises("1\nAda\t1\tx\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 2, "image index must be an integer", "'x'")
    _raises("1\nAda\t1\t2\nAda\t1.5\tBob\t2\n", parse_pairs, "p.txt", 3, "must be an integer", "'1.5'")
    _raises("1\nAda\tmany\n", parse_people, "pe.txt", 2, "image count must be an integer")
    _raises("one\nAda\t1\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 1, "pair count in the header must be an integer")


def test_zero_index() -> None:
    _raises("1\nAda\t0\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 2, "image index must be >= 1", "got 0")
    _raises("1\nAda\t1\t2\nAda\t1\tBob\t0\n", parse_pairs, "p.txt", 3, ">= 1")
    _raises("1\nAda\t0\n", parse_people, "pe.txt", 2, "image count must be >= 1")


def test_header_count_disagrees_with_body() -> None:
    _raises("2\nAda\t1\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 1, "promises 1 fold(s) x (2 x 2) = 4 pairs", "has 2")
    _raises("2\t1\nAda\t1\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 1, "= 4 pairs", "has 2")
    _raises("1\nAda\t1\t2\n", parse_pairs, "p.txt", 1, "= 2 pairs", "has 1")
    _raises("3\nAda\t1\nBob\t1\n", parse_people, "pe.txt", 3, "promises 3 people", "ends early")
    _raises("1\nAda\t1\nBob\t1\n", parse_people, "pe.txt", 3, "more lines than the header")
    _raises("3\n1\nAda\t1\n", parse_people, "pe.txt", 3, "promises 3 sets")


@pytest.mark.parametrize("text", ["", "\n", "\n\n  \n", "\r\n"])
def test_empty_file(text: str) -> None:
    _raises(text, parse_pairs, "p.txt", None, "empty", "header")
    _raises(text, parse_people, "pe.txt", None, "empty", "header")


def test_different_pair_naming_the_same_person_twice() -> None:
    _raises("1\nAda\t1\t2\nBob\t1\tBob\t2\n", parse_pairs, "p.txt", 3, "names the same person twice", "Name<TAB>i<TAB>j")


def test_same_pair_in_the_different_half() -> None:
    _raises("1\nAda\t1\t2\nBob\t1\t2\n", parse_pairs, "p.txt", 3, "should be a different-person (4 fields) pair")
    _raises("1\nAda\t1\tBob\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 2, "should be a same-person (3 fields) pair")
    # View 2: the second fold restarts with same pairs
    _raises("2\t1\nAda\t1\t2\nAda\t1\tBob\t1\nAda\t1\tBob\t1\nCy\t1\tDi\t2\n", parse_pairs, "p.txt", 4, "fold 2")


def test_empty_person_name() -> None:
    _raises("1\n\t1\t2\nAda\t1\tBob\t2\n", parse_pairs, "p.txt", 2, "empty person name")


def test_validate_pairs_names_unknown_person_and_bad_index() -> None:
    counts = {"Ada": 2, "Bob": 1}
    validate_pairs([Pair(ImageRef("Ada", 1), ImageRef("Ada", 2)), Pair(ImageRef("Ada", 2), ImageRef("Bob", 1))], counts)
    with pytest.raises(ProtocolError, match=r"pair 2: unknown person 'Zed'") as ei:
        validate_pairs([Pair(ImageRef("Ada", 1), ImageRef("Ada", 2)), Pair(ImageRef("Ada", 1), ImageRef("Zed", 1))],
                       counts, "pairsX.txt")
    assert str(ei.value).startswith("pairsX.txt")
    with pytest.raises(ProtocolError, match=r"image index 3 out of range for 'Ada', who has 2 image\(s\)"):
        validate_pairs([Pair(ImageRef("Ada", 1), ImageRef("Ada", 3))], counts)
    with pytest.raises(ProtocolError, match=r"image index 2 out of range for 'Bob'"):
        validate_pairs([Pair(ImageRef("Ada", 1), ImageRef("Bob", 2))], counts)


def test_official_pairs_are_valid_against_the_official_counts() -> None:
    from lfwsiamese.data.protocols import image_counts
    counts = image_counts()
    assert len(counts) == 5749 and sum(counts.values()) == 13233
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt"):
        validate_pairs(load_pairs(name), counts, name)  # raises on any problem


# -------------------------------------------------------------------------------------- properties

NAMES = st.text(alphabet="ABCDEFGHabcdefgh_-", min_size=1, max_size=6)
INDEX = st.integers(1, 20)


@st.composite
def pair_lists(draw: st.DrawFn) -> tuple[list[Pair], int]:
    folds = draw(st.integers(1, 3))
    n = draw(st.integers(1, 5))
    out: list[Pair] = []
    for fold in range(folds):
        for _ in range(n):
            name = draw(NAMES)
            out.append(Pair(ImageRef(name, draw(INDEX)), ImageRef(name, draw(INDEX)), fold))
        for _ in range(n):
            a, b = draw(st.lists(NAMES, min_size=2, max_size=2, unique=True))
            out.append(Pair(ImageRef(a, draw(INDEX)), ImageRef(b, draw(INDEX)), fold))
    return out, folds


@st.composite
def people_lists(draw: st.DrawFn) -> list[PeopleSet]:
    n_sets = draw(st.integers(1, 4))
    return [PeopleSet(tuple(draw(st.lists(st.tuples(NAMES, st.integers(1, 600)), min_size=1, max_size=6))), fold)
            for fold in range(n_sets)]


@settings(max_examples=200, deadline=None)
@given(pair_lists())
def test_pairs_round_trip(data: tuple[list[Pair], int]) -> None:
    pairs, folds = data
    text = format_pairs(pairs, folds)
    assert parse_pairs(text) == pairs
    assert parse_pairs(text.replace("\n", "\r\n").rstrip("\r\n")) == pairs


@settings(max_examples=200, deadline=None)
@given(people_lists())
def test_people_round_trip(sets: list[PeopleSet]) -> None:
    text = format_people(sets)
    assert parse_people(text) == sets
    assert parse_people(text.replace("\n", "\r\n").rstrip("\r\n")) == sets


LINES = st.lists(
    st.lists(st.one_of(st.text(max_size=5), st.integers(-3, 30).map(str), st.sampled_from(["Ada", "Bob", "", " "])),
             max_size=5).map("\t".join),
    max_size=8,
)


def _parse_or_protocol_error(text: str) -> None:
    for parser in (parse_pairs, parse_people):
        try:
            result = parser(text, "fuzz.txt")
        except ProtocolError as e:
            assert str(e).startswith("fuzz.txt"), str(e)
            assert re.match(r"fuzz\.txt(:\d+)?: ", str(e)), str(e)
        else:
            assert isinstance(result, list)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_parses_or_raises_protocol_error(text: str) -> None:
    _parse_or_protocol_error(text)


@settings(max_examples=200, deadline=None)
@given(LINES, st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["1", "2", "2\t1", "1\t2", "3", ""]))
def test_arbitrary_lines_parse_or_raise_protocol_error(lines: list[str], sep: str, header: str) -> None:
    _parse_or_protocol_error(sep.join([header] + lines))
