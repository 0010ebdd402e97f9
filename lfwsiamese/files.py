"""Writing a file so that readers see the old content or the new, never half: the one atomic-write helper.

Everything the package writes that another process may read (records, the image cache, embeddings, settings)
goes through `atomic_write`: a temporary name in the same folder, fsync, rename. A failed write (a full disk,
say) raises the original error and leaves neither the temporary file nor a partial target behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Callable


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
