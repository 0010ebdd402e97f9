"""Get LFW-a into a data folder: download it (resumably) or take a local folder or archive, check every
image against the packaged checksums, add the protocol files, and only then move the result into place.

Nothing partial ever lands in the target: everything is staged in a hidden folder next to it (same
filesystem, so the final move is a rename) and that folder is removed on any failure.
"""
from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Mapping

from ..errors import DataError
from . import protocols as P
from .archives import TAR_SUFFIXES, Collector, few, read_folder, read_tar, read_zip
from .check import manifest as packaged_manifest
from .download import DEFAULT_URL, BrokenDownload, download
from .paths import images_dir


def _verify(digests: Mapping[str, str], manifest: Mapping[str, str], where: str) -> None:
    """The set of images must be exactly LFW-a's, each with its exact bytes."""
    bad = sorted(r for r, d in digests.items() if r in manifest and manifest[r] != d)
    missing = sorted(set(manifest) - set(digests))
    extra = sorted(set(digests) - set(manifest))
    problems = []
    if bad:
        problems.append(f"{len(bad)} image(s) fail the sha256 checksum ({few(bad)})")
    if missing:
        problems.append(f"{len(missing)} of {len(manifest)} LFW-a images missing ({few(missing)})")
    if extra:
        problems.append(f"{len(extra)} image(s) not part of LFW-a ({few(extra)})")
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
    want = dict(packaged_manifest() if manifest is None else manifest)
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
        col = Collector(staging / "lfw2", want)
        {"dir": read_folder, "zip": read_zip, "tar": read_tar}[kind](src, col, progress)
        _verify(col.digests, want, str(src))
        _write_splits(staging / "splits")
        _swap_in(staging, target, force)
    except BrokenDownload as e:
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
    root = images_dir(target)
    col = Collector(None, want)
    read_folder(root, col, progress)
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
