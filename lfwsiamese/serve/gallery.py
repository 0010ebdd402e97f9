"""Identification, the paper's one-shot task for users: who in a gallery is this face?

A gallery folder holds one sub-folder per person (any number of images, searched recursively) and/or single images
named after the person (`Ada_Lovelace.jpg`). The query is scored against every gallery image as a verification pair;
a person's score is the best of their images' scores (`combine="best"`, the default: one good photo is enough) or
their mean (`"mean"`). People are ranked by it, and the top one is reported as "unknown" when their score is not above
the model's validation threshold. Gallery embeddings are cached per file (relative path, size, modification time).
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.paths import cache_dir
from ..errors import DataError, LfwSiameseError
from ..files import atomic_write_bytes
from .inputs import IMAGE_SUFFIXES, describe, find_images
from .scorer import Scorer
from .verify import embed_images, prepared_or_raise

COMBINE = ("best", "mean")
UNKNOWN = "unknown"


def scan_gallery(gallery: str | os.PathLike) -> list[tuple[str, Path]]:
    """(person, image path) for every gallery image: sub-folder name, or the file's stem for top-level images."""
    root = Path(gallery).expanduser()
    if not root.is_dir():
        raise LfwSiameseError(f"--gallery {root}: no such folder; expected one sub-folder per person, or one image per "
                              f"person named after them")
    out = []
    for p in find_images(root):
        rel = p.relative_to(root)
        out.append((rel.parts[0] if len(rel.parts) > 1 else p.stem, p))
    if not out:
        raise LfwSiameseError(f"--gallery {root}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return out


@dataclass
class Candidate:
    person: str
    score: float
    n_images: int
    best_image: str


@dataclass
class Identification:
    query: str
    person: str  # the top candidate, or "unknown" when their score is not above the threshold
    score: float
    threshold: float
    model: str
    combine: str
    candidates: list[Candidate]
    n_people: int
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cached_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cache_file(root: Path, scorer: Scorer, align: str) -> Path:
    key = hashlib.sha256(f"{root.resolve()}|{scorer.model_id}|{scorer.pre.key}|{scorer.views}|{align}|{scorer.landmarks}|v1".encode())
    return cache_dir() / "gallery" / f"{key.hexdigest()[:20]}.npz"


def gallery_embeddings(scorer: Scorer, gallery: str | os.PathLike, align: str = "auto", use_cache: bool = True
                       ) -> tuple[list[str], list[str], np.ndarray, list[str], int]:
    """(people, relative paths, per-view embeddings, skipped images with reasons, how many came from the cache)."""
    root = Path(gallery).expanduser()
    found = scan_gallery(root)
    rels = [p.relative_to(root).as_posix() for _, p in found]
    stats = [(p.stat().st_size, p.stat().st_mtime_ns) for _, p in found]
    cfile = _cache_file(root, scorer, align)
    cached: dict[str, tuple[int, int, np.ndarray | None, str]] = {}
    if use_cache and cfile.is_file():
        try:
            with np.load(cfile, allow_pickle=False) as z:
                for r, s, m, e, err in zip(z["rel"].tolist(), z["size"], z["mtime"], z["emb"], z["error"].tolist()):
                    cached[r] = (int(s), int(m), None if err else e, err)
        except (OSError, ValueError, KeyError, EOFError):
            cached = {}  # a damaged cache is rebuilt
    emb = np.zeros((len(found), scorer.views, scorer.dim), np.float32)
    errors = [""] * len(found)
    todo = []
    for k, (r, st) in enumerate(zip(rels, stats)):
        hit = cached.get(r)
        if hit is not None and hit[:2] == st:
            if hit[2] is not None:
                emb[k] = hit[2]
            errors[k] = hit[3]
        else:
            todo.append(k)
    if todo:
        new, preps = embed_images(scorer, [found[k][1] for k in todo], align, sources=[rels[k] for k in todo])
        for k, e, p in zip(todo, new, preps):
            emb[k], errors[k] = e, p.error or ""
    if use_cache and (todo or len(cached) != len(found)):
        try:
            bio = io.BytesIO()
            np.savez(bio, rel=np.array(rels, dtype=str), size=np.array([s for s, _ in stats], np.int64),
                     mtime=np.array([m for _, m in stats], np.int64), emb=emb, error=np.array(errors, dtype=str))
            atomic_write_bytes(cfile, bio.getvalue())
        except OSError:
            pass  # a read-only cache folder only costs speed
    keep = [k for k in range(len(found)) if not errors[k]]
    skipped = [errors[k] for k in range(len(found)) if errors[k]]
    return ([found[k][0] for k in keep], [rels[k] for k in keep], emb[keep], skipped, len(found) - len(todo))


def identify(scorer: Scorer, query: Any, gallery: str | os.PathLike, top: int = 5, combine: str = "best",
             align: str = "auto", use_cache: bool = True) -> Identification:
    """Rank the gallery's people for a query image; "unknown" when the best is not above the threshold."""
    if combine not in COMBINE:
        raise LfwSiameseError(f"--combine {combine!r}: expected one of {', '.join(COMBINE)}")
    if top < 1:
        raise LfwSiameseError(f"--top {top}: must be >= 1")
    source = describe(query)
    qv, preps = embed_images(scorer, [query], align, sources=[source])
    prepared_or_raise(preps[0])
    people, rels, gv, skipped, n_cached = gallery_embeddings(scorer, gallery, align, use_cache)
    if not people:
        raise DataError(f"--gallery {gallery}: none of its images could be used ({'; '.join(skipped[:3])})")
    s = scorer.score(np.repeat(qv, len(gv), axis=0), gv)
    per: dict[str, list[int]] = {}
    for k, who in enumerate(people):
        per.setdefault(who, []).append(k)
    cands = []
    for who, ks in per.items():
        best = max(ks, key=lambda k: s[k])
        score = float(s[best]) if combine == "best" else float(np.mean(s[ks]))
        cands.append(Candidate(who, score, len(ks), rels[best]))
    cands.sort(key=lambda c: (-c.score, c.person))
    first = cands[0]
    person = first.person if first.score > scorer.threshold else UNKNOWN
    return Identification(source, person, first.score, scorer.threshold, scorer.name, combine, cands[:top], len(cands),
                          skipped, preps[0].notes, n_cached)
