"""LFW-a's images read out of a zip, a tar or a folder, refusing hostile member names, hashing as they go."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator, Mapping

from tqdm.auto import tqdm

from ..errors import DataError
from .download import CHUNK, READ_ERRORS, BrokenDownload
from .paths import IMAGE_RE

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _components(name: str) -> list[str]:
    return [c for c in re.split(r"[/\\]", name) if c not in ("", ".")]


def _image_relpath(name: str) -> str | None:
    """`Name/Name_NNNN.jpg` when the last two components of a member path follow LFW naming, else None."""
    parts = _components(name)
    if len(parts) < 2:
        return None
    rel = f"{parts[-2]}/{parts[-1]}"
    return rel if IMAGE_RE.match(rel) else None


def _refuse(archive: Path, member: str, why: str) -> DataError:
    return DataError(
        f"{archive}: member {member!r} {why}; refusing the whole archive (nothing was written). "
        f"Use an unmodified LFW-a archive, e.g. the default download"
    )


def _check_member_name(archive: Path, name: str) -> None:
    """Reject names that could point outside the extraction folder, even though only images are written."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _refuse(archive, name, "has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise _refuse(archive, name, "has a '..' path component")


class Collector:
    """Copies images into a staging folder (or only hashes them, root=None), hashing as it writes.

    When a relpath occurs twice (duplicate members, a second copy in another folder) the copy whose
    digest matches the manifest wins, so a stray duplicate cannot shadow a good image.
    """

    def __init__(self, root: Path | None, manifest: Mapping[str, str]) -> None:
        self.root = root
        self.manifest = manifest
        self.digests: dict[str, str] = {}

    def wants(self, rel: str) -> bool:
        got = self.digests.get(rel)
        return got is None or got != self.manifest.get(rel)

    def add(self, rel: str, read: Callable[[int], bytes]) -> None:
        h = hashlib.sha256()
        out = None
        if self.root is not None:
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            out = open(dest, "wb")
        try:
            while True:
                try:
                    chunk = read(CHUNK)
                except READ_ERRORS as e:
                    raise BrokenDownload(f"reading {rel}: {e}") from e
                if not chunk:
                    break
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
        finally:
            if out is not None:
                out.close()
        self.digests[rel] = h.hexdigest()


def read_zip(path: Path, col: Collector, progress: bool) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except READ_ERRORS as e:
        raise BrokenDownload(e) from e
    with zf:
        infos = zf.infolist()
        for info in infos:  # the central directory lists everything: refuse before writing a byte
            _check_member_name(path, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(path, info.filename, "is a symbolic link")
        images = [(i, rel) for i in infos if not i.is_dir() and (rel := _image_relpath(i.filename))]
        for info, rel in tqdm(images, desc=f"extracting {path.name}", unit="img", disable=not progress):
            if col.wants(rel):
                try:
                    f = zf.open(info)
                except READ_ERRORS as e:
                    raise BrokenDownload(f"{info.filename}: {e}") from e
                with f:
                    col.add(rel, f.read)


def read_tar(path: Path, col: Collector, progress: bool) -> None:
    """One sequential pass (no backwards seeks into the compressed stream); random-access mode so a cut
    .tar.gz raises instead of looking like a shorter archive."""
    try:
        tf = tarfile.open(path, mode="r:*")
    except READ_ERRORS as e:
        raise BrokenDownload(e) from e
    with tf, tqdm(total=len(col.manifest), desc=f"extracting {path.name}", unit="img", disable=not progress) as bar:
        while True:
            try:
                m = tf.next()
            except READ_ERRORS as e:
                raise BrokenDownload(e) from e
            if m is None:
                break
            _check_member_name(path, m.name)
            if m.issym():
                raise _refuse(path, m.name, f"is a symbolic link (to {m.linkname!r})")
            if m.islnk():
                raise _refuse(path, m.name, f"is a hard link (to {m.linkname!r})")
            rel = _image_relpath(m.name)
            if rel is None or not m.isreg():
                continue
            if col.wants(rel):
                try:
                    f = tf.extractfile(m)
                except READ_ERRORS as e:
                    raise BrokenDownload(f"{m.name}: {e}") from e
                if f is None:
                    continue
                with f:
                    col.add(rel, f.read)
            bar.update(1)


def _folder_images(src: Path) -> Iterator[tuple[Path, str]]:
    """(file, Name/Name_NNNN.jpg) for every LFW-named image below `src`; symlinked folders followed once."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        person = os.path.basename(dirpath)
        for fn in sorted(filenames):
            rel = f"{person}/{fn}"
            if IMAGE_RE.match(rel):
                yield Path(dirpath) / fn, rel


def read_folder(src: Path, col: Collector, progress: bool) -> None:
    for path, rel in tqdm(_folder_images(src), total=len(col.manifest), desc=f"copying {src.name}",
                          unit="img", disable=not progress):
        if not col.wants(rel):
            continue
        try:
            f = open(path, "rb")
        except OSError as e:
            raise DataError(f"could not read {path} (from --from {src}): {e}; check that the file is readable") from None
        with f:
            try:
                col.add(rel, f.read)
            except BrokenDownload as e:  # write errors in the staging folder pass through as OSError
                raise DataError(f"could not read {path} (from --from {src}): {e}; check that the file is readable") from None


def few(items: list[str], k: int = 10) -> str:
    return ", ".join(items[:k]) + (f", ... and {len(items) - k} more" if len(items) > k else "")
