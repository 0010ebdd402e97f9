"""What the Ray test modules share (test_ray, test_ray_nodes): one image cache per module, the smoke plan's records
from the local engine that every Ray run must reproduce, and the worker that holds a run's lock."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lfwsiamese.records.store import Record
from lfwsiamese.runs import plans
from lfwsiamese.runs.engines import EngineOptions

RAY = EngineOptions(kind="ray")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for a module's runs, local and on Ray (each test's private one would decode again)."""
    return tmp_path_factory.mktemp("ray-cache")


@pytest.fixture(autouse=True)
def _cache(_private_cache: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(shared_cache))  # forwarded to the runs' workers by the engine


@pytest.fixture(scope="module")
def local_records(tmp_path_factory: pytest.TempPathFactory, real_data: Path, shared_cache: Path) -> dict[str, Record]:
    """The smoke plan through the local engine: what every Ray run must reproduce, node lost or not."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFWSIAMESE_CACHE", str(shared_cache))
        recs = plans.run_plan("smoke", data=real_data, results=tmp_path_factory.mktemp("local"), progress=False)
    return {r.path.name: r for r in recs}


def lock_holder(lock: Path) -> int | None:
    """The process that has the run's lock file open: the worker training it."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) == str(lock):
                    return int(fd_dir.parent.name)
        except OSError:  # a process that ended, or one we may not look into
            continue
    return None
