"""Where LFW-a and the image cache are: the --data / $LFWSIAMESE_DATA / data/lfwa rule, in one place."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DataError

N_PEOPLE = 5749


N_IMAGES = 13233


FRAME = 250


ENV_DATA = "LFWSIAMESE_DATA"


ENV_CACHE = "LFWSIAMESE_CACHE"


IMAGE_RE = re.compile(r"^(?P<name>[^/]+)/(?P=name)_(?P<index>\d{4})\.jpg$")


def project_root() -> Path:
    """The checkout that holds this package (editable install), else the current directory."""
    here = Path(__file__).resolve().parents[2]
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
