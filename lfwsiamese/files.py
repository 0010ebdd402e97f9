"""Writing a file so that readers see the old content or the new, never half: the one atomic-write helper.

Everything the package writes that another process may read (records, the image cache, embeddings, settings)
goes through `atomic_write`: a temporary name in the same folder, fsync, rename. A failed write (a full disk,
say) raises the original error and leaves neither the temporary file nor a partial target behind.

Commands check where they will write before any long work (`check_writable_dir`, `check_writable_file`), and
turn a write that fails later into one `OutputError` naming the file (`write_errors`).
"""
from __future__ import annotations

import contextlib
import errno as errno_
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from .errors import OutputError


def atomic_write(path: str | os.PathLike, fill: Callable[[IO[bytes]], None]) -> None:
    """Call `fill` on a binary file that replaces `path` only once it is completely written and synced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npy(path: str | os.PathLike, arr: Any) -> None:
    import numpy as np
    atomic_write(path, lambda f: np.save(f, arr))


def _json_default(o: Any) -> Any:
    """NumPy scalars and arrays, and paths, as JSON."""
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's entries (after a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_reason(e: BaseException) -> str:
    """'No space left on device (ENOSPC)': an OSError's reason without the (temporary) file name it carries."""
    if isinstance(e, OSError) and e.strerror:
        code = errno_.errorcode.get(e.errno or 0)
        return f"{e.strerror} ({code})" if code else e.strerror
    lines = str(e).strip().splitlines()
    return (lines[0][:200] if lines else type(e).__name__)


@contextlib.contextmanager
def write_errors(path: str | os.PathLike, then: str = "") -> Iterator[None]:
    """Inside, a failed write (any OSError) becomes an OutputError 'could not write PATH: reason; THEN'."""
    try:
        yield
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"could not write {path}: {os_reason(e)}" + (f"; {then}" if then else "")) from e


def check_writable_dir(path: str | os.PathLike, what: str, fix: str, top: str | os.PathLike | None = None) -> Path:
    """Create the folder `path` if missing and prove that a file can be created in it, before any long work.

    `what` names it for the user with where it came from ("results folder X (from --results)"), `top` is the path
    `what` names when that is not `path` itself (X for X/runs, the file for its folder), and `fix` says what to do.
    Raises OutputError when a file stands where a folder belongs, or the folder cannot be created or written (a
    read-only or full file system, no permission): mode bits are not consulted, since they stop nothing for root.
    """
    path = Path(path).expanduser()
    top = Path(top).expanduser() if top is not None else path
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        if blocker == top:
            raise OutputError(f"{what} is a file, not a folder; {fix}")
        how = "cannot be used" if top in blocker.parents else "cannot be created"
        raise OutputError(f"{what} {how}: {blocker} is a file, not a folder; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{what} cannot be created: {os_reason(e)} ({path}); {fix}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{what} is not writable: {os_reason(e)} (creating a file in {path}); {fix}") from None
    return path


def check_writable_file(path: str | os.PathLike, what: str, fix: str) -> Path:
    """`path` can be (re)written: not a folder, and its folder can be created and written (`check_writable_dir`)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} is a folder, not a file; {fix}")
    check_writable_dir(path.parent, what, fix, top=path)
    return path
