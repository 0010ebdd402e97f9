"""Engines, the smoke plan, search spaces and exit codes, without Ray (tests/test_ray.py runs the real thing)."""
from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from lfwsiamese.cli import main
from lfwsiamese.errors import ConfigError, LfwSiameseError, RunError, RunsFailedError
from lfwsiamese.recipes import SEARCH_PREFIX, get_config, is_scratch
from lfwsiamese.records.schema import RECORD_FILES
from lfwsiamese.runs import plans
from lfwsiamese.runs.engines import EngineOptions, shared_paths
from lfwsiamese.runs.tune import load_space, max_epochs, trial_config
from lfwsiamese.training.setup import ENV_THREADS, gpu_precision, run_threads

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------- smoke


def test_smoke_plan_is_two_short_runs_outside_the_book() -> None:
    cfgs = plans.get_plan("smoke")
    assert [c.run_name.split("-")[:2] for c in cfgs] == [["smoke", "s0"], ["smoke", "s1"]]
    for c in cfgs:
        assert c.train.epochs == 2 and c.data.pairs_per_epoch <= 500 and c.model.arch == "koch"
        assert is_scratch(c.name)
    everything = {c.run_name for c in plans.get_plan("all")}
    assert not everything & {c.run_name for c in cfgs}  # not part of `sweep all`, so not of the book
    assert "smoke" not in plans.PLANS
    with pytest.raises(ConfigError, match="available: all, .*smoke"):
        plans.get_plan("nope")


def test_scratch_names() -> None:
    assert is_scratch("smoke") and is_scratch(f"{SEARCH_PREFIX}improved")
    assert not is_scratch("improved") and not is_scratch("improved-no-crop") and not is_scratch("smoke2")


# ---------------------------------------------------------------------------------------------- engines


@pytest.mark.parametrize(("opts", "message"), [
    (EngineOptions(kind="slurm"), "allowed values are local, ray"),
    (EngineOptions(address="auto"), "--address applies only to --engine ray"),
    (EngineOptions(gpus_per_run=1, max_concurrent=2), "--gpus-per-run, --max-concurrent apply only"),
    (EngineOptions(kind="ray", cpus_per_run=0), "--cpus-per-run 0: must be > 0"),
    (EngineOptions(kind="ray", gpus_per_run=-1), "--gpus-per-run -1"),
    (EngineOptions(kind="ray", max_concurrent=0), "--max-concurrent 0"),
    (EngineOptions(kind="ray", address="headnode"), "expected auto, ray://HOST:PORT"),
])
def test_engine_options_are_checked(opts: EngineOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        opts.validate()


def test_ray_options_that_are_fine() -> None:
    for a in (None, "auto", "ray://head:10001", "10.0.0.1:6379"):
        EngineOptions(kind="ray", address=a, cpus_per_run=0.5, gpus_per_run=0.5, max_concurrent=4).validate()


def test_shared_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LFWSIAMESE_DATA", raising=False)
    data, results = shared_paths(None, "out")
    assert data is None and results == str(tmp_path / "out")
    monkeypatch.setenv("LFWSIAMESE_DATA", "lfwa")
    assert shared_paths(None, "out")[0] == str(tmp_path / "lfwa")


def test_ray_engine_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from lfwsiamese.runs import ray_engine
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(LfwSiameseError, match=r"pip install -e \"\.\[distributed\]\""):
        ray_engine.require_ray()


class _SlowRay:
    """Ray whose local node misses its start-up deadline the first `timeouts` times, as on a busy machine."""

    def __init__(self, timeouts: int) -> None:
        self.timeouts, self.inits, self.shutdowns = timeouts, 0, 0

    def init(self, **kwargs: object) -> None:
        self.inits += 1
        if self.inits <= self.timeouts:
            raise Exception("The current node timed out during startup. This could happen because ...")  # noqa: TRY002

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_local_ray_start_that_timed_out_is_tried_once_more(capsys: pytest.CaptureFixture[str]) -> None:
    from lfwsiamese.runs.ray_engine import start_ray
    ray = _SlowRay(timeouts=1)
    start_ray(ray, {}, local=True)
    assert (ray.inits, ray.shutdowns) == (2, 1)
    assert "starting it again (2 of 2)" in capsys.readouterr().err


def test_a_local_ray_that_never_starts_is_one_clear_error() -> None:
    from lfwsiamese.runs.ray_engine import start_ray
    ray = _SlowRay(timeouts=5)
    with pytest.raises(LfwSiameseError, match=r"did not start.*2 times.*--engine local"):
        start_ray(ray, {}, local=True)
    assert ray.inits == 2


def test_a_cluster_start_timeout_is_not_retried_here() -> None:
    from lfwsiamese.runs.ray_engine import start_ray
    ray = _SlowRay(timeouts=1)
    with pytest.raises(Exception, match="timed out during startup"):  # a cluster's own problem: shown as Ray says it
        start_ray(ray, {}, local=False)
    assert ray.inits == 1


# ------------------------------------------------------------------------------------- failures, exit codes


def _fake_runs(monkeypatch: pytest.MonkeyPatch, fail: set[int]) -> list[int]:
    called: list[int] = []

    def fake(cfg, **kw):
        called.append(cfg.seed)
        if cfg.seed in fail:
            raise ValueError("a config that cannot be built")  # any error, not only the package's own
        return f"record {cfg.seed}"

    monkeypatch.setattr(plans, "load_or_run", fake)
    monkeypatch.setitem(plans.EXTRA_PLANS, "three", lambda: [get_config("reference", seed=s) for s in (0, 1, 2)])
    return called


def test_local_engine_runs_the_others_and_reports_failures(monkeypatch, tmp_path, capsys) -> None:
    called = _fake_runs(monkeypatch, {1})
    with pytest.raises(RunsFailedError, match=r"1 run\(s\) failed, 2 of 3 recorded") as e:
        plans.run_plan("three", results=tmp_path, progress=False)
    assert called == [0, 1, 2]
    assert e.value.records == ["record 0", "record 2"]
    assert [n for n, _ in e.value.failed] == [get_config("reference", seed=1).run_name]
    assert "ValueError: a config that cannot be built" in capsys.readouterr().err


def test_sweep_exits_1_when_a_run_failed_and_2_for_a_bad_command_line(monkeypatch, tmp_path, capsys) -> None:
    _fake_runs(monkeypatch, {2})
    rc = main(["sweep", "three", "--results", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "error: plan three: 1 run(s) failed, 2 of 3 recorded" in err
    assert main(["sweep", "three", "--results", str(tmp_path), "--max-concurrent", "2"]) == 2  # local + ray flag
    assert "--max-concurrent applies only to --engine ray" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main(["sweep", "three", "--engine", "slurm"])
    assert ex.value.code == 2
    _fake_runs(monkeypatch, set())
    assert main(["sweep", "three", "--results", str(tmp_path), "--quiet"]) == 0


# ------------------------------------------------------------------------------------------ search spaces


def _space(tmp_path: Path, obj) -> Path:
    p = tmp_path / "space.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_a_space_file_in_config_keys(tmp_path: Path) -> None:
    base = get_config("smoke")
    space = load_space(_space(tmp_path, {
        "learning_rate": {"loguniform": [1e-4, 1e-2]}, "train.batch_size": [16, 32],
        "model.dropout": {"uniform": [0.0, 0.5]}, "data.augment": {"grid": ["", "flip"]},
        "model.dense_units": {"randint": [64, 257]}, "seed": [0, 1]}), base)
    assert space == {
        "train.learning_rate": ("loguniform", [1e-4, 1e-2]), "train.batch_size": ("choice", [16, 32]),
        "model.dropout": ("uniform", [0.0, 0.5]), "data.augment": ("grid", ["", "flip"]),
        "model.dense_units": ("randint", [64, 257]), "seed": ("choice", [0, 1])}
    cfg = trial_config(base, {"train.learning_rate": 0.00123, "train.batch_size": 16, "data.augment": "flip"})
    assert cfg.name == "tune-smoke" and cfg.run_name.startswith("tune-smoke-s0-")
    assert (cfg.train.learning_rate, cfg.train.batch_size, cfg.data.augment) == (0.00123, 16, "flip")
    assert max_epochs(base, space) == 2
    assert max_epochs(base, load_space(_space(tmp_path, {"epochs": {"randint": [1, 5]}}), base)) == 4


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON"),
    ("[]", "expected a JSON object of config keys"),
    ({}, "expected a JSON object of config keys"),
    ({"train.learning_rat": [1e-3]}, r"unknown key 'train.learning_rat'; allowed keys \(as for --set\): .*train.learning_rate"),
    ({"name": ["a"]}, "'name' cannot be searched: trials are named tune-smoke"),
    ({"learning_rate": [1e-3], "train.learning_rate": [1e-4]}, "train.learning_rate is given twice"),
    ({"train.learning_rate": {"normal": [0, 1]}}, "expected a list of values or one of"),
    ({"train.learning_rate": {"uniform": [1e-2, 1e-3]}}, "low < high"),
    ({"train.learning_rate": {"loguniform": [0, 1e-3]}}, "loguniform needs low > 0"),
    ({"train.batch_size": {"randint": [8.5, 64]}}, "randint needs integers"),
    ({"train.batch_size": []}, "choice needs a non-empty list"),
    ({"train.batch_size": [32, 32.5]}, r"train.batch_size=32.5: --set train.batch_size='32.5': expected an integer"),
    ({"train.learning_rate": {"uniform": [-1, 1]}}, r"learning_rate=-1: .*must be > 0"),
    ({"model.head": ["cosine", "dot"]}, r"model.head=\"dot\": .*allowed values are"),
])
def test_space_errors_name_the_file_and_key(tmp_path: Path, content, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_space(_space(tmp_path, content), get_config("smoke"))


def test_missing_space_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_space(tmp_path / "nope.json", get_config("smoke"))


def test_tune_command_line_errors_exit_2(tmp_path: Path, capsys) -> None:
    bad = _space(tmp_path, {"train.learning_rat": [1e-3]})
    assert main(["tune", "--config", "smoke", "--space", str(bad), "--trials", "2", "--results", str(tmp_path)]) == 2
    assert "unknown key 'train.learning_rat'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main(["tune", "--config", "smoke", "--space", str(bad), "--trials", "2", "--engine", "local"])
    assert ex.value.code == 2


# -------------------------------------------------------------------------------------- verify's default


def test_smoke_runs_and_search_trials_are_never_verifys_default(tmp_path: Path) -> None:
    from lfwsiamese.serve.models import run_candidates
    for name, acc in (("tune-improved", 0.99), ("smoke", 0.98), ("improved", 0.90)):
        d = tmp_path / "runs" / f"{name}-s0-0123456789"
        d.mkdir(parents=True)
        for f in RECORD_FILES + ("model.keras",):
            (d / f).write_text("{}")
        (d / "config.json").write_text(json.dumps({"name": name}))
        (d / "metrics.json").write_text(json.dumps({"val": {"accuracy": acc}}))
    assert [p.name for p, _ in run_candidates(tmp_path)] == ["improved-s0-0123456789"]


# ------------------------------------------------------------------------------------------ threads, GPUs


def test_threads_come_from_the_environment_or_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray sets: never a run's thread count
    monkeypatch.delenv(ENV_THREADS, raising=False)
    import os
    assert run_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV_THREADS, "3")
    assert run_threads() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv(ENV_THREADS, bad)
        with pytest.raises(RunError, match=f"{ENV_THREADS}='{bad}': expected a whole number"):
            run_threads()


def test_auto_precision_on_nvidia_gpus() -> None:
    assert gpu_precision([]) is None  # no GPU: the CPU rule
    assert gpu_precision([(9, 0)]) == gpu_precision([(8, 0)]) == "mixed_bfloat16"  # Hopper, Ampere
    assert gpu_precision([(7, 5)]) == gpu_precision([(7, 0)]) == "mixed_float16"  # Turing, Volta
    assert gpu_precision([(6, 1)]) == "float32"
    assert gpu_precision([(8, 6), (7, 5)]) == "mixed_float16"  # the weakest GPU decides


# ------------------------------------------------------------------------------------------ installation


def test_distributed_extra_pins_ray_with_tune_and_make_installs_it() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.replace(" ", "").startswith("ray[tune]==") for r in extras["distributed"])
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if "pip install -q -e" in x)
    assert "distributed" in line.split("[", 1)[1].split("]")[0].split(",")
