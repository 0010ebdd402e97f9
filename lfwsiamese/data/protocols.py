"""Typed parsers for LFW's protocol files (pairs and people), strict about every line.

The official files are tiny, so they also ship inside the package: the protocols are known even
when a user's data folder holds only images.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import ProtocolError

#: Official file name -> sha256 of the copy shipped in the package (and on the LFW site).
OFFICIAL_SHA256: dict[str, str] = {
    "pairsDevTrain.txt": "1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
    "pairsDevTest.txt": "7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
    "peopleDevTrain.txt": "2e58df13ba4cc143189336e001cc2c195f1dfa5b29a6475c02857be353c2a2fa",
    "peopleDevTest.txt": "c3ed1f90499473401542101a56c14c1d82396bb8218c67a356d7460601047555",
    "pairs.txt": "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
    "people.txt": "bc8fa2b7f25c895cf7efb6de4f4fc27ca8b8d1cfa63350ad8b96eae2b198d365",
    "lfw-names.txt": "403cd39411ee297f99f69241959bd8f0496b44377711913a76ccdd8562874164",
}
#: The reference named the View 1 pair files train.txt and test.txt; same bytes.
ALIASES: dict[str, str] = {"train.txt": "pairsDevTrain.txt", "test.txt": "pairsDevTest.txt"}

PAIR_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")
PEOPLE_FILES = ("peopleDevTrain.txt", "peopleDevTest.txt", "people.txt")


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image: a person and the 1-based index in LFW's file naming."""

    name: str
    index: int

    @property
    def relpath(self) -> str:
        return f"{self.name}/{self.name}_{self.index:04d}.jpg"


@dataclass(frozen=True)
class Pair:
    """A verification pair; `same` is the label (1 = same person)."""

    a: ImageRef
    b: ImageRef
    fold: int = 0

    @property
    def same(self) -> bool:
        return self.a.name == self.b.name

    @property
    def label(self) -> int:
        return int(self.same)

    @property
    def people(self) -> frozenset[str]:
        return frozenset((self.a.name, self.b.name))

    def to_line(self) -> str:
        if self.same:
            return f"{self.a.name}\t{self.a.index}\t{self.b.index}"
        return f"{self.a.name}\t{self.a.index}\t{self.b.name}\t{self.b.index}"


@dataclass(frozen=True)
class PeopleSet:
    """A set of people with their image counts (one fold of people.txt, or a whole peopleDev file)."""

    counts: tuple[tuple[str, int], ...]
    fold: int = 0

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n for n, _ in self.counts)

    @property
    def n_images(self) -> int:
        return sum(c for _, c in self.counts)


def _lines(text: str) -> list[str]:
    # Windows line endings and a missing final newline are both fine; blank trailing lines are ignored.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and lines[-1].strip() == "":
        lines.pop()
    return lines


def _int(field: str, source: str, line_no: int, line: str, what: str, minimum: int = 1) -> int:
    try:
        value = int(field)
    except ValueError:
        raise ProtocolError(source, line_no, line, f"{what} must be an integer, got {field!r}") from None
    if value < minimum:
        raise ProtocolError(source, line_no, line, f"{what} must be >= {minimum}, got {value}")
    return value


def _parse_pair_line(line: str, source: str, line_no: int, fold: int) -> Pair:
    fields = line.split("\t") if "\t" in line else line.split()
    if len(fields) == 3:
        name, i, j = fields
        if not name:
            raise ProtocolError(source, line_no, line, "an empty person name")
        return Pair(
            ImageRef(name, _int(i, source, line_no, line, "image index")),
            ImageRef(name, _int(j, source, line_no, line, "image index")),
            fold,
        )
    if len(fields) == 4:
        na, i, nb, j = fields
        if not na or not nb:
            raise ProtocolError(source, line_no, line, "an empty person name")
        if na == nb:
            raise ProtocolError(
                source, line_no, line,
                "a different-person pair names the same person twice; write it as `Name<TAB>i<TAB>j`",
            )
        return Pair(
            ImageRef(na, _int(i, source, line_no, line, "image index")),
            ImageRef(nb, _int(j, source, line_no, line, "image index")),
            fold,
        )
    raise ProtocolError(
        source, line_no, line,
        f"expected 3 fields (Name, i, j) for a same pair or 4 (NameA, i, NameB, j) for a different pair, "
        f"got {len(fields)}",
    )


def parse_pairs(text: str, source: str = "<pairs>") -> list[Pair]:
    """Parse a pairs file: header `N` (View 1) or `folds<TAB>N` (View 2), then per fold N same + N different."""
    lines = _lines(text)
    if not lines:
        raise ProtocolError(source, None, None, "the file is empty; expected a header line `N` or `folds<TAB>N`")
    header = lines[0].split()
    if len(header) == 1:
        folds, n = 1, _int(header[0], source, 1, lines[0], "the pair count in the header")
    elif len(header) == 2:
        folds = _int(header[0], source, 1, lines[0], "the fold count in the header")
        n = _int(header[1], source, 1, lines[0], "the pair count in the header")
    else:
        raise ProtocolError(source, 1, lines[0], "expected a header `N` or `folds<TAB>N`")
    body = lines[1:]
    expected = folds * 2 * n
    if len(body) != expected:
        raise ProtocolError(
            source, 1, lines[0],
            f"the header promises {folds} fold(s) x (2 x {n}) = {expected} pairs, but the file has {len(body)} pair lines",
        )
    pairs: list[Pair] = []
    for k, line in enumerate(body):
        line_no = k + 2
        fold, pos = divmod(k, 2 * n)
        pair = _parse_pair_line(line, source, line_no, fold)
        want_same = pos < n
        if pair.same != want_same:
            kind = "same-person (3 fields)" if want_same else "different-person (4 fields)"
            raise ProtocolError(
                source, line_no, line,
                f"line {pos + 1} of fold {fold + 1} should be a {kind} pair: each fold lists {n} same then {n} different pairs",
            )
        pairs.append(pair)
    return pairs


def format_pairs(pairs: Sequence[Pair], folds: int = 1) -> str:
    """Write pairs in the official format (inverse of `parse_pairs`)."""
    if folds < 1 or len(pairs) % (2 * folds):
        raise ValueError(f"{len(pairs)} pairs cannot form {folds} fold(s) of equal same/different halves")
    n = len(pairs) // (2 * folds)
    head = f"{n}" if folds == 1 else f"{folds}\t{n}"
    return "\n".join([head] + [p.to_line() for p in pairs]) + "\n"


def parse_people(text: str, source: str = "<people>") -> list[PeopleSet]:
    """Parse a people file: `N` then N `Name<TAB>count` lines (View 1), or `folds` then that per fold (View 2)."""
    lines = _lines(text)
    if not lines:
        raise ProtocolError(source, None, None, "the file is empty; expected a header line with a count")
    first = _int(lines[0].strip(), source, 1, lines[0], "the header count")
    # View 2 people.txt: "10" then, per fold, a size line. View 1: the count then name lines.
    second = lines[1].split() if len(lines) > 1 else []
    # (a single non-integer field is a View 1 name line missing its count, reported as such below)
    multi = len(second) == 1 and second[0].isascii() and second[0].isdigit()
    sets: list[PeopleSet] = []
    pos = 1
    n_sets = first if multi else 1
    for fold in range(n_sets):
        if multi:
            if pos >= len(lines):
                raise ProtocolError(source, pos, None, f"the header promises {n_sets} sets but the file ends after {fold}")
            size = _int(lines[pos].strip(), source, pos + 1, lines[pos], f"the size of set {fold + 1}")
            pos += 1
        else:
            size = first
        counts: list[tuple[str, int]] = []
        for _ in range(size):
            if pos >= len(lines):
                raise ProtocolError(source, pos, None, f"set {fold + 1} promises {size} people but the file ends early")
            line = lines[pos]
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) != 2 or not fields[0]:
                raise ProtocolError(source, pos + 1, line, f"expected 2 fields (Name, image count), got {len(fields)}")
            counts.append((fields[0], _int(fields[1], source, pos + 1, line, "the image count")))
            pos += 1
        sets.append(PeopleSet(tuple(counts), fold))
    if pos != len(lines):
        raise ProtocolError(source, pos + 1, lines[pos], "more lines than the header counts promise")
    return sets


def format_people(sets: Sequence[PeopleSet]) -> str:
    """Write people sets in the official format (inverse of `parse_people`)."""
    if len(sets) == 1:
        out = [str(len(sets[0].counts))]
    else:
        out = [str(len(sets))]
    for s in sets:
        if len(sets) > 1:
            out.append(str(len(s.counts)))
        out += [f"{n}\t{c}" for n, c in s.counts]
    return "\n".join(out) + "\n"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(str(path), None, None, "file not found") from None
    except UnicodeDecodeError as e:
        raise ProtocolError(str(path), None, None, f"not UTF-8 text ({e.reason})") from None


def read_pairs(path: str | Path) -> list[Pair]:
    path = Path(path)
    return parse_pairs(_read_text(path), str(path))


def read_people(path: str | Path) -> list[PeopleSet]:
    path = Path(path)
    return parse_people(_read_text(path), str(path))


def packaged_path(name: str) -> Path:
    """Path of a protocol file shipped in the package (official name or a View 1 alias)."""
    name = ALIASES.get(name, name)
    if name not in OFFICIAL_SHA256 and name != "lfw2.sha256.gz":
        raise ProtocolError(name, None, None, f"unknown protocol file; known: {sorted(OFFICIAL_SHA256)}")
    return Path(str(resources.files("lfwsiamese.data") / "protocols" / name))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_pairs(name: str, splits_dir: Path | None = None) -> list[Pair]:
    """Official pairs by name, from `splits_dir` when it has the file, else the packaged copy."""
    return read_pairs(_locate(name, splits_dir))


def load_people(name: str, splits_dir: Path | None = None) -> list[PeopleSet]:
    return read_people(_locate(name, splits_dir))


def _locate(name: str, splits_dir: Path | None) -> Path:
    if splits_dir is not None:
        for cand in (name, ALIASES.get(name, name)) + tuple(k for k, v in ALIASES.items() if v == name):
            p = splits_dir / cand
            if p.is_file():
                return p
    return packaged_path(name)


def image_counts() -> dict[str, int]:
    """Every LFW person and their number of images (from the packaged lfw-names.txt)."""
    out: dict[str, int] = {}
    for line in _lines(packaged_path("lfw-names.txt").read_text()):
        name, count = line.split("\t")
        out[name] = int(count)
    return out


def validate_pairs(pairs: Iterable[Pair], counts: Mapping[str, int], source: str = "<pairs>") -> None:
    """Check that every person exists and every index is within that person's image count."""
    for k, p in enumerate(pairs):
        for ref in (p.a, p.b):
            if ref.name not in counts:
                raise ProtocolError(source, None, p.to_line(), f"pair {k + 1}: unknown person {ref.name!r}")
            if not 1 <= ref.index <= counts[ref.name]:
                raise ProtocolError(
                    source, None, p.to_line(),
                    f"pair {k + 1}: image index {ref.index} out of range for {ref.name!r}, who has {counts[ref.name]} image(s)",
                )
