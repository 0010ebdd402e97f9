"""Whether a folder holds the right LFW-a: layout, counts, checksums, the images the protocols name."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from PIL import Image

from . import protocols as P
from .paths import IMAGE_RE, N_IMAGES, N_PEOPLE, images_dir, splits_dir

T = TypeVar("T")


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


def _load_protocol(load: Callable[[str, Path | None], T], fname: str, sdir: Path | None, rep: CheckReport) -> T | None:
    """One protocol file parsed, or None with its problem noted: `data check` lists every broken file, not the first."""
    try:
        return load(fname, sdir)
    except P.ProtocolError as e:
        rep.problems.append(str(e))
        return None


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
        pairs = _load_protocol(P.load_pairs, fname, sdir, rep)
        if pairs is None:
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
        sets = _load_protocol(P.load_people, fname, sdir, rep)
        if sets is None:
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
