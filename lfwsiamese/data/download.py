"""Download of the pinned LFW-a archive: resumable (HTTP ranges), streamed to a `.part` file beside the target."""
from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DataError
from .paths import ENV_CACHE, cache_dir

#: A pinned GitHub snapshot holding LFW-a under <repo>/lfw2/lfw2/<Name>/<Name>_NNNN.jpg.
DEFAULT_URL = (
    "https://github.com/efratrvd/one-shot-face-recognition/archive/"
    "203daa81cc9cce1bb3c9077d294cef3aa095fabe.zip"
)


CHUNK = 1 << 20


FROM_HINT = "download it yourself and run `lfwsiamese data fetch --from PATH`"


# Anything a read from a damaged archive can raise (zipfile/tarfile/zlib/lzma do not share a base class).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile,
    RuntimeError, NotImplementedError,  # zipfile: encrypted member, unsupported compression
)


class BrokenDownload(Exception):
    """Reading the archive failed part-way: it is truncated or corrupt (turned into a DataError by fetch)."""


def download_path(url: str) -> Path:
    """Where `url` is cached once complete: cache_dir()/downloads, one file per URL; `<file>.part` while partial."""
    base = os.path.basename(urllib.parse.urlsplit(url).path)
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "archive"
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]  # two URLs ending in main.zip must not collide
    return cache_dir() / "downloads" / f"{tag}-{base}"


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
            f"cannot create the download folder {final.parent} (from {ENV_CACHE} or the user cache): {e}; "
            f"set {ENV_CACHE} to a writable folder, or {FROM_HINT}"
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
