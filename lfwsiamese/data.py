"""LFW-a on disk: where it is, whether it is the right data, images as uint8 arrays, and honest splits."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import protocols as P
from .errors import DataError
from .protocols import ImageRef, Pair

N_PEOPLE = 5749
N_IMAGES = 13233
FRAME = 250
ENV_DATA = "LFWSIAMESE_DATA"
ENV_CACHE = "LFWSIAMESE_CACHE"
IMAGE_RE = re.compile(r"^(?P<name>[^/]+)/(?P=name)_(?P<index>\d{4})\.jpg$")


# ----------------------------------------------------------------------------------------- where


def project_root() -> Path:
    """The checkout that holds this package (editable install), else the current directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def resolve_data_dir(data: str | os.PathLike | None = None) -> Path:
    """The one rule: explicit argument, else $LFWSIAMESE_DATA, else data/lfwa under the project root."""
    if data:
        return Path(data).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return project_root() / "data" / "lfwa"


def cache_dir() -> Path:
    """Writable cache: $LFWSIAMESE_CACHE, else the user's cache folder. Never the (read-only) data folder."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lfwsiamese"


def images_dir(data_dir: Path) -> Path:
    """The folder of person folders: <data>/lfw2, or <data> itself if it already is one."""
    if (data_dir / "lfw2").is_dir():
        return data_dir / "lfw2"
    return data_dir


def require_data_dir(data: str | os.PathLike | None = None) -> Path:
    d = resolve_data_dir(data)
    if not d.is_dir():
        raise DataError(
            f"LFW-a not found at {d} (from {'--data' if data else ENV_DATA if os.environ.get(ENV_DATA) else 'the default data/lfwa'}). "
            f"Point --data or {ENV_DATA} at a folder holding lfw2/<Name>/<Name>_NNNN.jpg, "
            f"or run `lfwsiamese data fetch` to download it."
        )
    return d


def splits_dir(data_dir: Path) -> Path | None:
    s = data_dir / "splits"
    return s if s.is_dir() else None


def manifest() -> dict[str, str]:
    """relpath (Name/Name_NNNN.jpg) -> sha256, for every LFW-a image (shipped in the package)."""
    raw = gzip.decompress(P.packaged_path("lfw2.sha256.gz").read_bytes()).decode()
    out = {}
    for line in raw.splitlines():
        digest, path = line.split(maxsplit=1)
        out[path.removeprefix("lfw2/")] = digest
    return out


def list_images(data_dir: Path) -> list[str]:
    """Relative paths of every image that follows LFW naming, sorted."""
    root = images_dir(data_dir)
    out = []
    for person in sorted(os.listdir(root)):
        pdir = root / person
        if not pdir.is_dir():
            continue
        for f in sorted(os.listdir(pdir)):
            rel = f"{person}/{f}"
            if IMAGE_RE.match(rel):
                out.append(rel)
    return out


# ----------------------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    """What `data check` found: counts per split and every problem, one line each."""

    data_dir: Path
    n_people: int = 0
    n_images: int = 0
    table: list[tuple[str, int, int, int]] | None = None  # split, pairs/people, people, images
    problems: list[str] | None = None
    notes: list[str] | None = None  # worth knowing, not wrong (e.g. protocols taken from the package)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_data(data_dir: Path, deep: bool = False, progress: bool = True,
               expected_people: int = N_PEOPLE, expected_images: int = N_IMAGES) -> CheckReport:
    """Verify layout, counts, protocol checksums, that every protocol image exists; `deep` hashes every image."""
    rep = CheckReport(data_dir, table=[], problems=[], notes=[])
    root = images_dir(data_dir)
    if not root.is_dir():
        rep.problems.append(f"{data_dir}: no such folder; expected {data_dir}/lfw2/<Name>/<Name>_NNNN.jpg")
        return rep
    images = list_images(data_dir)
    people = {r.split("/")[0] for r in images}
    rep.n_people, rep.n_images = len(people), len(images)
    if rep.n_people != expected_people:
        rep.problems.append(f"{root}: {rep.n_people} people with images, expected {expected_people}")
    if rep.n_images != expected_images:
        rep.problems.append(f"{root}: {rep.n_images} images, expected {expected_images}")
    have = set(images)
    sdir = splits_dir(data_dir)
    if sdir is None:
        rep.notes.append(f"{data_dir}/splits: missing; the protocol files shipped in the package are used "
                         f"(`lfwsiamese data fetch --from {data_dir}` writes them)")
    for fname, digest in P.OFFICIAL_SHA256.items():
        candidates = [fname] + [a for a, o in P.ALIASES.items() if o == fname]
        for cand in candidates:
            f = sdir / cand if sdir else None
            if f is not None and f.is_file():
                got = P.sha256_file(f)
                if got != digest:
                    rep.problems.append(f"{f}: sha256 {got[:12]}... differs from the official {digest[:12]}... (edited or wrong file)")
    # every image referenced by every protocol exists
    for fname in P.PAIR_FILES:
        try:
            pairs = P.load_pairs(fname, sdir)
        except P.ProtocolError as e:
            rep.problems.append(str(e))
            continue
        refs = {r.relpath for p in pairs for r in (p.a, p.b)}
        missing = sorted(refs - have)
        for m in missing[:10]:
            rep.problems.append(f"{root / m}: missing, referenced by {fname}")
        if len(missing) > 10:
            rep.problems.append(f"... and {len(missing) - 10} more images referenced by {fname} are missing")
        ppl = {r.name for p in pairs for r in (p.a, p.b)}
        if fname == "pairs.txt":
            for f in sorted({p.fold for p in pairs}):
                fp = [p for p in pairs if p.fold == f]
                rep.table.append((f"View 2 fold {f + 1}", len(fp), len({n for p in fp for n in p.people}), len({r.relpath for p in fp for r in (p.a, p.b)})))
        else:
            rep.table.append((fname, len(pairs), len(ppl), len(refs)))
    for fname in P.PEOPLE_FILES:
        try:
            sets = P.load_people(fname, sdir)
        except P.ProtocolError as e:
            rep.problems.append(str(e))
            continue
        for s in sets:
            for name, count in s.counts:
                n_have = sum(1 for i in range(1, count + 1) if f"{name}/{name}_{i:04d}.jpg" in have)
                if n_have != count:
                    rep.problems.append(f"{fname}: {name} should have {count} images, found {n_have} in {root / name}")
        if fname != "people.txt":
            rep.table.append((fname, sum(len(s.counts) for s in sets), sum(len(s.counts) for s in sets), sum(s.n_images for s in sets)))
    if deep:
        man = manifest()
        extra = sorted(have - set(man))
        for e in extra[:10]:
            rep.problems.append(f"{root / e}: not part of LFW-a (not in the manifest)")
        it = sorted(have & set(man))
        try:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="hashing images", unit="img", disable=not progress)
        except ImportError:  # pragma: no cover
            pass
        for rel in it:
            path = root / rel
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != man[rel]:
                rep.problems.append(f"{path}: sha256 differs from the manifest (corrupt or replaced)")
                continue
            try:
                Image.open(io.BytesIO(data)).load()
            except Exception as e:  # noqa: BLE001 - any decoder failure is a data problem
                rep.problems.append(f"{path}: does not decode ({e})")
    return rep


# ---------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Preprocess:
    """Crop box in the 250x250 frame (or none), output side. Part of the cache key."""

    crop: tuple[int, ...] = ()
    size: int = 105

    @property
    def key(self) -> str:
        c = "full" if not self.crop else "c" + "-".join(map(str, self.crop))
        return f"{c}_s{self.size}"


def preprocess_image(img: Image.Image, pre: Preprocess, source: str = "<image>", warn: bool = True) -> np.ndarray:
    """Any PIL image -> uint8 (size, size) grayscale, as in training: L mode, crop, Pillow's default resize."""
    if img.mode not in ("L",):
        if warn:
            warnings.warn(f"{source}: mode {img.mode} converted to 8-bit grayscale (LFW-a is grayscale)", stacklevel=2)
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            hi = arr.max() if arr.size and arr.max() > 0 else 1.0
            img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
        elif img.mode in ("P", "PA", "LA", "RGBA", "1", "CMYK", "YCbCr", "RGB", "F", "HSV", "LAB"):
            if img.mode in ("P", "PA"):
                img = img.convert("RGBA")
            img = img.convert("L")
        else:
            img = img.convert("L")
    if img.size != (FRAME, FRAME):
        if warn:
            warnings.warn(f"{source}: size {img.size[0]}x{img.size[1]} is not an aligned 250x250 LFW-a face; resized to 250x250", stacklevel=2)
        img = img.resize((FRAME, FRAME))
    if pre.crop:
        img = img.crop(tuple(pre.crop))
    if img.size != (pre.size, pre.size):
        img = img.resize((pre.size, pre.size))
    return np.asarray(img, dtype=np.uint8)


def load_image(path: str | os.PathLike, pre: Preprocess = Preprocess(), warn: bool = True) -> np.ndarray:
    """One image file -> preprocessed uint8 array; a missing, empty or corrupt file names its path."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); re-fetch it with `lfwsiamese data fetch`")
    try:
        with Image.open(path) as img:
            img.load()
            return preprocess_image(img, pre, str(path), warn=warn)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (JPEG or PNG expected)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: corrupt or truncated image ({e})") from None


def _load_chunk(args: tuple[str, list[str], Preprocess]) -> np.ndarray:
    root, rels, pre = args
    out = np.empty((len(rels), pre.size, pre.size), np.uint8)
    for k, rel in enumerate(rels):
        out[k] = load_image(Path(root) / rel, pre, warn=False)
    return out


@dataclass
class ImageStore:
    """All images of a data folder as one uint8 array, with a relpath -> row index."""

    paths: list[str]
    array: np.ndarray  # (N, size, size) uint8
    pre: Preprocess

    def __post_init__(self) -> None:
        self.index = {p: i for i, p in enumerate(self.paths)}

    def row(self, ref: ImageRef) -> int:
        try:
            return self.index[ref.relpath]
        except KeyError:
            raise DataError(f"image {ref.relpath} is not in the data folder; check it with `lfwsiamese data check`") from None

    def rows(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = np.fromiter((self.row(p.a) for p in pairs), np.int32, len(pairs))
        b = np.fromiter((self.row(p.b) for p in pairs), np.int32, len(pairs))
        y = np.fromiter((p.label for p in pairs), np.float32, len(pairs))
        return a, b, y

    def get(self, ref: ImageRef) -> np.ndarray:
        return self.array[self.row(ref)]


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_images(data: str | os.PathLike | None = None, pre: Preprocess = Preprocess(), workers: int | None = None,
                progress: bool = True, use_cache: bool = True) -> ImageStore:
    """Every image, preprocessed, as uint8. The first load decodes on all cores; later loads read the cache."""
    data_dir = require_data_dir(data)
    root = images_dir(data_dir)
    paths = list_images(data_dir)
    if not paths:
        raise DataError(f"{root}: no images named <Name>/<Name>_NNNN.jpg found")
    stats = hashlib.sha256()
    for rel in paths:
        st = (root / rel).stat()
        stats.update(f"{rel}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    key = hashlib.sha256(f"{root.resolve()}|{stats.hexdigest()}|{pre.key}|v1".encode()).hexdigest()[:16]
    cfile = cache_dir() / f"images-{pre.key}-{key}.npy"
    if use_cache and cfile.is_file():
        try:
            arr = np.load(cfile, allow_pickle=False)
            if arr.shape == (len(paths), pre.size, pre.size) and arr.dtype == np.uint8:
                return ImageStore(paths, arr, pre)
        except (OSError, ValueError, EOFError):  # np.load raises EOFError on an empty file
            pass  # a damaged cache is rebuilt below
    workers = workers or min(os.cpu_count() or 1, 8)
    chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
    parts: list[np.ndarray] = []
    from tqdm.auto import tqdm
    bar = tqdm(total=len(paths), desc=f"decoding images ({pre.key})", unit="img", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as ex:
            for part in ex.map(_load_chunk, [(str(root), c, pre) for c in chunks]):
                parts.append(part)
                bar.update(len(part))
    else:
        for c in chunks:
            parts.append(_load_chunk((str(root), c, pre)))
            bar.update(len(c))
    bar.close()
    arr = np.concatenate(parts)
    if use_cache:
        try:
            _atomic_save_npy(cfile, arr)
        except OSError as e:
            warnings.warn(f"could not write the image cache {cfile} ({e}); set {ENV_CACHE} to a writable folder", stacklevel=2)
    return ImageStore(paths, arr, pre)


# ---------------------------------------------------------------------------------------- splits


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


def dump_pairs_json(pairs: Sequence[Pair]) -> str:
    return json.dumps([[p.a.name, p.a.index, p.b.name, p.b.index] for p in pairs])


# ------------------------------------------------------------------------------ identity sampling
#
# View 1's unrestricted protocol: training may use every image of the peopleDevTrain people (never a
# peopleDevTest person). Validation holds out whole training people; training pairs are drawn afresh each
# epoch from the others. Every draw depends only on (seed, purpose[, epoch]), so runs and resumed runs repeat.

_RNG_PEOPLE, _RNG_VAL, _RNG_EPOCH, _RNG_NPAIR, _RNG_CALIB = 1, 2, 3, 4, 5  # separate random streams per purpose


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
    rng = np.random.default_rng([seed, _RNG_PEOPLE])
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
    rng = np.random.default_rng([seed, _RNG_VAL])
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


def identity_groups(store: ImageStore, people: Sequence[tuple[str, int]]) -> list[np.ndarray]:
    """Per person, the store rows of all their images (a missing image is a DataError naming it)."""
    return [np.array([store.row(ImageRef(n, i)) for i in range(1, c + 1)], np.int32) for n, c in people]


def sample_pairs(groups: Sequence[np.ndarray], n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n_pairs/2 same-person and n_pairs/2 different-person pairs of rows, shuffled: (a, b, label).

    People are drawn uniformly (not images), so the few people with hundreds of images do not dominate;
    same pairs come from people with >= 2 images, two distinct images each.
    """
    sizes = np.array([len(g) for g in groups], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(groups).astype(np.int32)
    multi = np.flatnonzero(sizes >= 2)
    if len(multi) == 0 or len(groups) < 2:
        raise DataError(f"identity sampling needs >= 1 person with >= 2 images and >= 2 people; got {len(multi)} and {len(groups)}")
    n_same, n_diff = n_pairs // 2, n_pairs - n_pairs // 2
    p = multi[rng.integers(len(multi), size=n_same)]
    i = (rng.random(n_same) * sizes[p]).astype(np.int64)
    j = (rng.random(n_same) * (sizes[p] - 1)).astype(np.int64)
    j += j >= i  # a second, different image
    pa = rng.integers(len(groups), size=n_diff)
    pb = rng.integers(len(groups) - 1, size=n_diff)
    pb += pb >= pa  # a different person
    ia = (rng.random(n_diff) * sizes[pa]).astype(np.int64)
    ib = (rng.random(n_diff) * sizes[pb]).astype(np.int64)
    a = np.concatenate([flat[offsets[p] + i], flat[offsets[pa] + ia]])
    b = np.concatenate([flat[offsets[p] + j], flat[offsets[pb] + ib]])
    y = np.concatenate([np.ones(n_same, np.float32), np.zeros(n_diff, np.float32)])
    order = rng.permutation(n_pairs)
    return a[order], b[order], y[order]


def epoch_pairs(groups: Sequence[np.ndarray], n_pairs: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch `epoch`'s training pairs: a function of (seed, epoch) alone, so a resumed run draws the same."""
    return sample_pairs(groups, n_pairs, np.random.default_rng([seed, _RNG_EPOCH, epoch]))


def sample_positive_batches(groups: Sequence[np.ndarray], n_pairs: int, batch_size: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n_pairs same-person pairs in consecutive batches of batch_size pairs from distinct people: (a, b, ones).

    For the N-pair loss, where the other pairs of a batch are each pair's negatives: two pairs of one person in a
    batch would make a true match count as a mistake. People are drawn uniformly among those with >= 2 images.
    """
    sizes = np.array([len(g) for g in groups], np.int64)
    multi = np.flatnonzero(sizes >= 2)
    if n_pairs % batch_size:
        raise DataError(f"{n_pairs} pairs do not fill batches of {batch_size}: make data.pairs_per_epoch a multiple "
                        f"of train.batch_size")
    if len(multi) < batch_size:
        raise DataError(f"a batch of {batch_size} pairs of distinct people needs >= {batch_size} people with >= 2 "
                        f"images; there are {len(multi)}: lower train.batch_size")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(groups).astype(np.int32)
    p = np.concatenate([rng.choice(multi, size=batch_size, replace=False) for _ in range(n_pairs // batch_size)])
    i = (rng.random(n_pairs) * sizes[p]).astype(np.int64)
    j = (rng.random(n_pairs) * (sizes[p] - 1)).astype(np.int64)
    j += j >= i
    return flat[offsets[p] + i], flat[offsets[p] + j], np.ones(n_pairs, np.float32)


def epoch_positive_batches(groups: Sequence[np.ndarray], n_pairs: int, batch_size: int, seed: int,
                           epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch `epoch`'s N-pair batches, a function of (seed, epoch) alone (a resumed run draws the same)."""
    return sample_positive_batches(groups, n_pairs, batch_size, np.random.default_rng([seed, _RNG_NPAIR, epoch]))


def calibration_pairs(groups: Sequence[np.ndarray], n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, balanced set of training people's pairs on which an N-pair model's head is fitted (never validation)."""
    return sample_pairs(groups, n_pairs, np.random.default_rng([seed, _RNG_CALIB]))


def epoch_pair_arrays(groups: Sequence[np.ndarray], n_pairs: int, seed: int, first_epoch: int,
                      epochs: int, positive_batch: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs first_epoch..epochs-1 stacked: (a, b, y), each of shape (epochs - first_epoch, n_pairs).

    positive_batch > 0: same-person pairs only, batched for the N-pair loss (`sample_positive_batches`).
    """
    if positive_batch:
        per = [epoch_positive_batches(groups, n_pairs, positive_batch, seed, e) for e in range(first_epoch, epochs)]
    else:
        per = [epoch_pairs(groups, n_pairs, seed, e) for e in range(first_epoch, epochs)]
    if not per:
        return tuple(np.zeros((0, n_pairs), t) for t in (np.int32, np.int32, np.float32))  # type: ignore[return-value]
    return tuple(np.stack(v) for v in zip(*per))  # type: ignore[return-value]
