"""`--engine ray` and `tune` on a local Ray instance (2 CPUs, no dashboard) with the smoke recipe on the real LFW-a:
the same records as the local engine, a rerun skips them, a killed worker is rerun by Ray and resumes to the
same record, a bad config fails once while the other run finishes, and a 4-trial search picks its best trial
by validation accuracy."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from lfwsiamese.cli import main
from lfwsiamese.config import with_overrides
from lfwsiamese.recipes import get_config
from lfwsiamese.records.compare import record_differences
from lfwsiamese.records.store import find_record, load_record, run_dir_for
from lfwsiamese.runs import plans
from lfwsiamese.runs.ray_engine import start_ray
from lfwsiamese.training.callbacks import backup_epoch
from tests.ray_helpers import RAY, _cache, local_records, lock_holder, shared_cache  # noqa: F401 (fixtures)

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.realdata]

@pytest.fixture(scope="module")
def ray_instance(shared_cache: Path, real_data: Path) -> Iterator[None]:
    """Started as a user's `ray.init` would be: the engine uses it and leaves it running."""
    old = os.environ.get("LFWSIAMESE_CACHE")
    os.environ["LFWSIAMESE_CACHE"] = str(shared_cache)  # what Tune's trial processes inherit
    # a new instance even where this machine already belongs to a cluster (`ray start`)
    # (through the engine's start_ray: Ray's fixed 30 s start-up deadline is missed on a busy 2-core machine)
    start_ray(ray, dict(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING), local=True)
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("LFWSIAMESE_CACHE", None)
        else:
            os.environ["LFWSIAMESE_CACHE"] = old


def _stamps(results: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (results / "runs").glob("*/metrics.json")}


def test_smoke_plan_on_ray_writes_the_local_records_and_a_rerun_skips_both(
        ray_instance, local_records, real_data: Path, tmp_path: Path, capsys) -> None:
    argv = ["sweep", "smoke", "--engine", "ray", "--data", str(real_data), "--results", str(tmp_path), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    assert sorted(_stamps(tmp_path)) == sorted(local_records)
    for name, local in local_records.items():
        assert record_differences(load_record(tmp_path / "runs" / name), local) == [], name
    before = _stamps(tmp_path)
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 runs, 2 already recorded" in err and "submitting" not in err
    assert _stamps(tmp_path) == before  # nothing rewritten


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the worker through /proc")
def test_a_worker_killed_mid_run_is_rerun_by_ray_and_resumes_to_the_same_record(
        ray_instance, local_records, real_data: Path, tmp_path: Path) -> None:
    cfg = get_config("smoke", seed=0)
    run_dir = run_dir_for(cfg, tmp_path)
    killed: list[int] = []

    def kill_after_first_epoch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if backup_epoch(run_dir) >= 1 and not (run_dir / "metrics.json").exists():
                pid = lock_holder(Path(f"{run_dir}.lock"))
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
    killer.start()
    rec, = plans.run_configs([cfg], "kill test", data=real_data, results=tmp_path, progress=False, engine=RAY)
    killer.join(timeout=5)
    assert killed, "the worker was never seen between its first epoch and its record"
    assert rec.metrics["resumed"] is True and rec.metrics["epochs_run"] == 2
    assert record_differences(rec, local_records[cfg.run_name], ignore={"resumed"}) == []


def test_a_bad_config_fails_once_and_the_other_run_finishes(
        ray_instance, real_data: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = with_overrides(get_config("smoke", seed=0), {"data.size": "16"})  # valid fields, but conv 3 cannot fit
    good = with_overrides(get_config("smoke", seed=2), {"train.epochs": "1"})
    monkeypatch.setitem(plans.EXTRA_PLANS, "smoke-bad", lambda: [bad, good])
    rc = main(["sweep", "smoke-bad", "--engine", "ray", "--data", str(real_data), "--results", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "error: plan smoke-bad: 1 run(s) failed, 1 of 2 recorded" in err
    assert err.count(f"{bad.run_name}: FAILED") == 1 and "does not fit" in err
    assert find_record(good, tmp_path) is not None and find_record(bad, tmp_path) is None


def test_a_four_trial_search_returns_its_best_trial_by_validation_accuracy(
        ray_instance, real_data: Path, tmp_path: Path) -> None:
    from lfwsiamese.runs.tune import load_space, run_search, trial_config
    base = get_config("smoke")
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps({"train.learning_rate": {"loguniform": [1e-4, 3e-2]}}))
    space = load_space(space_file, base)
    res = run_search(base, space, trials=4, scheduler="asha", data=real_data, results=tmp_path, progress=False,
                     engine=RAY)
    assert res.trials == 4 and res.failed == []
    assert len(res.finished) + len(res.stopped) == 4 and res.finished and res.best is not None
    accs = {r.path.name: r.metrics["val"]["accuracy"] for r in res.finished}
    assert all(n.startswith("tune-smoke-s0-") for n in accs)  # never a book name
    assert res.best.metrics["val"]["accuracy"] == max(accs.values())
    assert set(res.best_params) == {"train.learning_rate"}
    # an ordinary record: the config of the printed `--set`s finds it
    assert find_record(trial_config(base, res.best_params), tmp_path).path == res.best.path
