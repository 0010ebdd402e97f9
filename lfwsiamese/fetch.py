"""Get LFW-a into a data folder: download it (resumably) or take a local folder or archive, check every
image against the packaged checksums, add the protocol files, and only then move the result into place.

Nothing partial ever lands in the target: everything is staged in a hidden folder next to it (same
filesystem, so the final move is a rename) and that folder is removed on any failure.
"""
from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterator, Mapping

from tqdm.auto import tqdm

from . import data as D
from . import protocols as P
from .errors import DataError

#: A pinned GitHub snapshot holding LFW-a under <repo>/lfw2/lfw2/<Name>/<Name>_NNNN.jpg.
DEFAULT_URL = (
    "https://github.com/efratrvd/one-shot-face-recognition/archive/"
    "203daa81cc9cce1bb3c9077d294cef3aa095fabe.zip"
)

CHUNK = 1 << 20
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
FROM_HINT = "download it yourself and run `lfwsiamese data fetch --from PATH`"

# Anything a read from a damaged archive can raise (zipfile/tarfile/zlib/lzma do not share a base class).
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile,
    RuntimeError, NotImplementedError,  # zipfile: encrypted member, unsupported compression
)


class _Broken(Exception):
    """Reading the archive failed part-way: it is truncated or corrupt (turned into a DataError by fetch)."""


# ------------------------------------------------------------------------------------------ download


def download_path(url: str) -> Path:
    """Where `url` is cached once complete: cache_dir()/downloads, one file per URL; `<file>.part` while partial."""
    base = os.path.basename(urllib.parse.urlsplit(url).path)
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "archive"
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]  # two URLs ending in main.zip must not collide
    return D.cache_dir() / "downloads" / f"{tag}-{base}"


def download(url: str = DEFAULT_URL, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download `url` into the cache (stdlib only) and return the file; a `.part` left by an interrupted
    run is resumed with an HTTP Range request, so rerunning after a dropped connection does not start over."""
    final = download_path(url)
    if final.is_file():
        return final
    part = final.with_name(final.name + ".part")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create the download folder {final.parent} (from {D.ENV_CACHE} or the user cache): {e}; "
            f"set {D.ENV_CACHE} to a writable folder, or {FROM_HINT}"
        ) from None
    try:
        _download_to(url, part, progress, timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        reason = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", None) or e
        kept = part.is_file() and part.stat().st_size > 0
        again = f"the partial download {part} is kept, so rerunning resumes it; or " if kept else "rerun to retry, or "
        raise DataError(f"downloading {url} failed: {reason}; {again}{FROM_HINT}") from None
    os.replace(part, final)
    return final


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-", content_range or "")
    return int(m.group(1)) if m else None


def _range_total(content_range: str | None) -> int | None:
    m = re.search(r"/(\d+)\s*$", content_range or "")
    return int(m.group(1)) if m else None


def _download_to(url: str, part: Path, progress: bool, timeout: float, restarted: bool = False) -> None:
    """Fill `part` with the whole body of `url`: append on 206 for the range asked, start over on 200."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "lfwsiamese-fetch"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and not restarted:  # nothing left to send: complete already, or a stale .part
            total = _range_total(e.headers.get("Content-Range"))
            e.close()
            if total == have:
                return
            part.unlink()
            return _download_to(url, part, progress, timeout, restarted=True)
        raise
    with resp:
        status = resp.status
        if status == 206 and not (have and _range_start(resp.headers.get("Content-Range")) == have):
            start_over = True  # a range we did not ask for: do not splice it onto the .part
        else:
            start_over = False
            resume = bool(have) and status == 206
            initial = have if resume else 0
            length = resp.headers.get("Content-Length", "")
            remaining = int(length) if length.isdigit() else None
            got = 0
            with open(part, "ab" if resume else "wb") as out, tqdm(
                total=None if remaining is None else initial + remaining, initial=initial, unit="B",
                unit_scale=True, unit_divisor=1024, desc=f"downloading {part.name[:-5]}", disable=not progress,
            ) as bar:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if remaining is not None and got < remaining:
                raise http.client.IncompleteRead(b"", remaining - got)
    if start_over:
        if restarted:
            raise http.client.HTTPException("the server answered 206 with an unexpected range to a plain request")
        part.unlink(missing_ok=True)
        _download_to(url, part, progress, timeout, restarted=True)


# ------------------------------------------------------------------------------------------ members


def _components(name: str) -> list[str]:
    return [c for c in re.split(r"[/\\]", name) if c not in ("", ".")]


def _image_relpath(name: str) -> str | None:
    """`Name/Name_NNNN.jpg` when the last two components of a member path follow LFW naming, else None."""
    parts = _components(name)
    if len(parts) < 2:
        return None
    rel = f"{parts[-2]}/{parts[-1]}"
    return rel if D.IMAGE_RE.match(rel) else None


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


class _Collector:
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
                except _READ_ERRORS as e:
                    raise _Broken(f"reading {rel}: {e}") from e
                if not chunk:
                    break
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
        finally:
            if out is not None:
                out.close()
        self.digests[rel] = h.hexdigest()


def _from_zip(path: Path, col: _Collector, progress: bool) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except _READ_ERRORS as e:
        raise _Broken(e) from e
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
                except _READ_ERRORS as e:
                    raise _Broken(f"{info.filename}: {e}") from e
                with f:
                    col.add(rel, f.read)


def _from_tar(path: Path, col: _Collector, progress: bool) -> None:
    """One sequential pass (no backwards seeks into the compressed stream); random-access mode so a cut
    .tar.gz raises instead of looking like a shorter archive."""
    try:
        tf = tarfile.open(path, mode="r:*")
    except _READ_ERRORS as e:
        raise _Broken(e) from e
    with tf, tqdm(total=len(col.manifest), desc=f"extracting {path.name}", unit="img", disable=not progress) as bar:
        while True:
            try:
                m = tf.next()
            except _READ_ERRORS as e:
                raise _Broken(e) from e
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
                except _READ_ERRORS as e:
                    raise _Broken(f"{m.name}: {e}") from e
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
            if D.IMAGE_RE.match(rel):
                yield Path(dirpath) / fn, rel


def _from_folder(src: Path, col: _Collector, progress: bool) -> None:
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
            except _Broken as e:  # write errors in the staging folder pass through as OSError
                raise DataError(f"could not read {path} (from --from {src}): {e}; check that the file is readable") from None


# ------------------------------------------------------------------------------------------ checks


def _few(items: list[str], k: int = 10) -> str:
    return ", ".join(items[:k]) + (f", ... and {len(items) - k} more" if len(items) > k else "")


def _verify(digests: Mapping[str, str], manifest: Mapping[str, str], where: str) -> None:
    """The set of images must be exactly LFW-a's, each with its exact bytes."""
    bad = sorted(r for r, d in digests.items() if r in manifest and manifest[r] != d)
    missing = sorted(set(manifest) - set(digests))
    extra = sorted(set(digests) - set(manifest))
    problems = []
    if bad:
        problems.append(f"{len(bad)} image(s) fail the sha256 checksum ({_few(bad)})")
    if missing:
        problems.append(f"{len(missing)} of {len(manifest)} LFW-a images missing ({_few(missing)})")
    if extra:
        problems.append(f"{len(extra)} image(s) not part of LFW-a ({_few(extra)})")
    if problems:
        raise DataError(
            f"{where} does not hold LFW-a: " + "; ".join(problems)
            + ". Nothing was written; fetch from a complete, unmodified LFW-a (lfw2/<Name>/<Name>_NNNN.jpg), "
              "e.g. the default download"
        )


def _write_splits(dest: Path) -> None:
    """The packaged official protocol files plus the reference's train.txt/test.txt names for View 1."""
    dest.mkdir()
    for name, digest in P.OFFICIAL_SHA256.items():
        src = P.packaged_path(name)
        if P.sha256_file(src) != digest:
            raise DataError(f"packaged protocol file {src} has the wrong sha256; reinstall lfwsiamese")
        shutil.copyfile(src, dest / name)
    for alias, name in P.ALIASES.items():
        shutil.copyfile(dest / name, dest / alias)


def _check_replaceable(target: Path, force: bool) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise DataError(f"{target} exists and is not a folder; remove it or choose another --data")
    if force:
        return
    if (target / "lfw2").exists():
        raise DataError(f"{target} already exists (it holds lfw2/); use --force to replace it")
    if any(target.iterdir()):
        raise DataError(f"{target} already exists and is not empty; use --force to replace it, or choose another --data")


def _swap_in(staging: Path, target: Path, force: bool) -> None:
    """Rename `staging` to `target`; an existing target (force) is renamed away first and restored on failure."""
    _check_replaceable(target, force)
    if target.exists() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(staging, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    _rmtree(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)
        raise
    _rmtree(old)


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def _kind(src: Path) -> str:
    if src.is_dir():
        return "dir"
    name = src.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    with open(src, "rb") as f:
        head = f.read(4)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or tarfile.is_tarfile(src):
        return "tar"
    raise DataError(f"--from {src}: not a folder, .zip, .tar, .tar.gz or .tgz; give one of those holding lfw2/<Name>/<Name>_NNNN.jpg")


# ------------------------------------------------------------------------------------------ fetch


def fetch(
    target: str | os.PathLike,
    source: str | os.PathLike | None = None,
    url: str = DEFAULT_URL,
    progress: bool = True,
    force: bool = False,
    manifest: Mapping[str, str] | None = None,
) -> Path:
    """Put verified LFW-a at `target` (lfw2/ + splits/) from `source` (folder or archive) or by downloading `url`.

    `manifest` (relpath -> sha256) defaults to the packaged one for all 13,233 images; tests pass a small one.
    Passing the target itself (or its lfw2/) as `source` verifies the images in place and (re)writes splits/.
    Returns the target path. Every failure is a DataError and leaves the target as it was.
    """
    target = Path(target).expanduser().resolve()  # resolved: the staging folder must share its filesystem
    want = dict(D.manifest() if manifest is None else manifest)
    src: Path | None = None
    if source is not None:
        src = Path(source).expanduser().resolve()
        if not src.exists():
            raise DataError(f"--from {source}: no such file or folder; give a folder holding lfw2/<Name>/<Name>_NNNN.jpg, "
                            f"or a .zip/.tar/.tar.gz/.tgz of one")
        if src.is_dir() and src in (target, target / "lfw2"):
            return _in_place(target, want, progress, force)
        if _inside(src, target):
            raise DataError(f"--from {src} is inside the target {target}, which fetch replaces; move it out of {target} first")
        if src.is_dir() and _inside(target.parent, src):
            raise DataError(f"target {target} is inside the source folder {src}, and fetch never writes into its source; "
                            f"choose a --data outside {src}")
        kind = _kind(src)
    _check_replaceable(target, force)  # before a long download
    downloaded = src is None
    if src is None:
        src = download(url, progress=progress)
        kind = _kind(src)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {target.parent} (the parent of --data {target}): {e}; choose a writable --data") from None
    staging = target.parent / f".{target.name}.fetch-{os.getpid()}"
    try:
        _rmtree(staging)
        staging.mkdir()
        col = _Collector(staging / "lfw2", want)
        {"dir": _from_folder, "zip": _from_zip, "tar": _from_tar}[kind](src, col, progress)
        _verify(col.digests, want, str(src))
        _write_splits(staging / "splits")
        _swap_in(staging, target, force)
    except _Broken as e:
        fix = "get a fresh copy of the archive"
        if downloaded:
            src.unlink(missing_ok=True)
            fix = "the cached download was removed; rerun to download it again"
        raise DataError(f"truncated or corrupt archive {src}: {e}; nothing was written; {fix}") from None
    except OSError as e:
        raise DataError(f"could not write LFW-a next to {target}: {e}; nothing was written; check free space and "
                        f"permissions in {target.parent}") from None
    finally:
        _rmtree(staging)
    return target


def _in_place(target: Path, want: Mapping[str, str], progress: bool, force: bool) -> Path:
    """`--from` the data folder itself: verify its images where they are and (re)write only splits/."""
    root = D.images_dir(target)
    col = _Collector(None, want)
    _from_folder(root, col, progress)
    _verify(col.digests, want, str(root))
    splits = target / "splits"
    if splits.exists() and not force:
        raise DataError(f"{splits} already exists; use --force to rewrite it from the packaged protocol files")
    staging = target / f".splits.fetch-{os.getpid()}"
    try:
        _rmtree(staging)
        _write_splits(staging)
        _swap_in(staging, splits, force=True)
    except OSError as e:
        raise DataError(f"could not write {splits}: {e}; check permissions in {target}") from None
    finally:
        _rmtree(staging)
    return target
