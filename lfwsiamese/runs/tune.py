"""Hyper-parameter search with Ray Tune: a space of config fields (the keys of `--set`) in a JSON file, each
trial an ordinary run and record named `tune-<config>`, validation accuracy the only objective, and ASHA stopping
poor trials after an epoch on their per-epoch validation accuracy.

A space file maps each key to its values:

    {"train.learning_rate": {"loguniform": [1e-4, 1e-2]},   # a number between, uniform in its logarithm
     "model.dropout": {"uniform": [0.0, 0.5]},
     "train.batch_size": [16, 32, 64],                       # a list: one of these (same as {"choice": [...]})
     "data.augment": {"grid": ["", "flip"]},                 # every one of these, --trials times each
     "model.dense_units": {"randint": [64, 513]}}            # an integer lo <= n < hi
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, field_index, with_overrides
from ..errors import ConfigError, LfwSiameseError, RunLockedError
from ..recipes import SEARCH_PREFIX
from ..records.store import Record, find_record
from .engines import EngineOptions, shared_paths

DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")
SCHEDULERS = ("asha", "none")
#: The objective: accuracy at 0.5 of the validation pairs after each epoch (Keras' `val_accuracy`), which ASHA
#: compares across trials; the best trial is the finished record with the highest validation accuracy.
METRIC = "val_accuracy"


def _as_text(v: Any) -> str:
    """A JSON value as `--set` text (floats by repr, so the value is kept exactly)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(int(x)) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def trial_config(base: ExperimentConfig, params: dict[str, Any]) -> ExperimentConfig:
    """The run of one trial: the base config with the sampled values, named `tune-<base>` (never a book name)."""
    name = base.name if base.name.startswith(SEARCH_PREFIX) else f"{SEARCH_PREFIX}{base.name}"
    return with_overrides(replace(base, name=name), {k: _as_text(v) for k, v in params.items()})


def load_space(path: str | os.PathLike, base: ExperimentConfig) -> dict[str, tuple[str, list]]:
    """The search space of a JSON file, checked against the config's keys and values: {dotted key: (distribution,
    values or bounds)}. Every error names the file, the key and what is allowed."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--space {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--space {p}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{p}: expected a JSON object of config keys, e.g. "
                          f'{{"train.learning_rate": {{"loguniform": [1e-4, 1e-2]}}}}')
    index = field_index()
    allowed = sorted(k for k in index if "." in k) + ["seed"]
    space: dict[str, tuple[str, list]] = {}
    for key, spec in raw.items():
        if key == "name":
            raise ConfigError(f"{p}: key 'name' cannot be searched: trials are named {SEARCH_PREFIX}{base.name}")
        if key not in index:
            raise ConfigError(f"{p}: unknown key {key!r}; allowed keys (as for --set): {', '.join(allowed)}")
        dotted = index[key]
        if dotted in space:
            raise ConfigError(f"{p}: {dotted} is given twice (as {key!r} too)")
        space[dotted] = _check_spec(p, key, dotted, spec, base)
    return space


def _check_spec(p: Path, key: str, dotted: str, spec: Any, base: ExperimentConfig) -> tuple[str, list]:
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"{p}: {key}: expected a list of values or one of "
                          f"{{{', '.join(f'{d!r}: ...' for d in DISTRIBUTIONS)}}}, got {json.dumps(spec)}")
    (dist, values), = spec.items()
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{p}: {key}: {dist} needs a non-empty list, got {json.dumps(values)}")
    if dist in ("uniform", "loguniform", "randint"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                       for v in values) or not values[0] < values[1]:
            raise ConfigError(f"{p}: {key}: {dist} needs [low, high] numbers with low < high, got {json.dumps(values)}")
        if dist == "loguniform" and values[0] <= 0:
            raise ConfigError(f"{p}: {key}: loguniform needs low > 0, got {values[0]}")
        if dist == "randint" and not all(isinstance(v, int) for v in values):
            raise ConfigError(f"{p}: {key}: randint needs integers [low, high) , got {json.dumps(values)}")
        probes = [values[0], values[1] - 1] if dist == "randint" else list(values)
    else:
        probes = list(values)
    for v in probes:  # each value (or bound) must make a valid config: the error names the key and the rule
        try:
            trial_config(base, {dotted: v})
        except ConfigError as e:
            raise ConfigError(f"{p}: {key}={json.dumps(v)}: {e}") from None
    return dist, list(values)


def _tune_space(space: dict[str, tuple[str, list]]) -> dict[str, Any]:
    from ray import tune
    make = {"choice": tune.choice, "grid": tune.grid_search, "uniform": lambda v: tune.uniform(*v),
            "loguniform": lambda v: tune.loguniform(*v), "randint": lambda v: tune.randint(*v)}
    return {k: make[d](v) for k, (d, v) in space.items()}


def max_epochs(base: ExperimentConfig, space: dict[str, tuple[str, list]]) -> int:
    if "train.epochs" not in space:
        return base.train.epochs
    dist, v = space["train.epochs"]
    return int(max(v)) - (1 if dist == "randint" else 0)


def trial(params: dict[str, Any], base_json: str, data: str | None, results: str, progress: bool) -> None:
    """One trial on a Ray worker: `train_run` of its config, reporting each epoch's validation accuracy to Tune
    (epochs a resumed run finished earlier first). An error of the run is reported once, not retried."""
    from ray import tune

    from .ray_engine import worker_setup
    worker_setup()
    cfg = trial_config(ExperimentConfig.from_json(base_json), params)

    def report(row: dict[str, Any], recorded: bool = False) -> None:
        tune.report({METRIC: float(row.get(METRIC, float("nan"))), "val_loss": float(row.get("val_loss", float("nan"))),
                     "epoch": int(row["epoch"]) + 1, "run": cfg.run_name, "recorded": recorded})

    rec = find_record(cfg, results)
    if rec is not None:  # finished before (an earlier search): its epochs as they were
        for row in rec.history.to_dict("records"):
            report(row, recorded=True)
        return
    import keras
    import pandas as pd

    from ..records.store import run_dir_for
    from ..training.run import train_run

    reported = [0]

    class Report(keras.callbacks.Callback):
        """Each epoch but the last to Tune, which may stop the trial there; the last is reported once the record is
        written, so that a trial the scheduler lets finish always leaves its record."""

        def on_train_begin(self, logs=None):
            log = run_dir_for(cfg, results) / "history.csv"
            if log.is_file() and log.stat().st_size:
                for row in pd.read_csv(log).to_dict("records")[: cfg.train.epochs - 1]:
                    report(row)
                    reported[0] += 1

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 < cfg.train.epochs:
                report({**(logs or {}), "epoch": epoch})
                reported[0] += 1

    try:
        while True:
            try:
                rec = train_run(cfg, data=data, results=results, progress=progress, extra_callbacks=[Report()])
                break
            except RunLockedError:  # another trial drew the same values: its record (or its backup) when it ends
                time.sleep(2)
    except Exception as e:  # noqa: BLE001 - NaN is ignored by ASHA; the driver reads the error
        msg = str(e) if isinstance(e, LfwSiameseError) else f"{type(e).__name__}: {e}"
        tune.report({METRIC: float("nan"), "epoch": 0, "run": cfg.run_name, "error": msg})
        return
    for row in rec.history.to_dict("records")[reported[0]:]:  # the last epoch (or all, for a run found finished)
        report(row, recorded=True)


@dataclass
class SearchResult:
    trials: int = 0  # trials Tune ran
    finished: list[Record] = field(default_factory=list)  # trials that ran to a complete record
    stopped: list[str] = field(default_factory=list)  # run names stopped early by the scheduler
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run name, error)
    best: Record | None = None
    best_params: dict[str, Any] = field(default_factory=dict)


def run_search(base: ExperimentConfig, space: dict[str, tuple[str, list]], trials: int, scheduler: str = "asha",
               data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
               progress: bool = True, engine: EngineOptions | None = None) -> SearchResult:
    """`trials` samples of `space` around `base` (times each grid point) with Ray Tune; the best finished trial by
    validation accuracy. Random choices follow `base.seed`, so the same command samples the same trials (and
    finds their records, or resumes them)."""
    from .ray_engine import connected, require_ray
    require_ray()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    if trials < 1:
        raise ConfigError(f"--trials {trials}: must be >= 1")
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler {scheduler!r}: allowed values are {', '.join(SCHEDULERS)}")
    engine = (engine or EngineOptions(kind="ray")).validate()
    data_dir, results_dir = shared_paths(data, results)
    sched = (ASHAScheduler(time_attr="training_iteration", max_t=max_epochs(base, space), grace_period=1,
                           reduction_factor=2) if scheduler == "asha" else FIFOScheduler())
    fn = tune.with_parameters(trial, base_json=base.to_json(), data=data_dir, results=results_dir, progress=progress)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with connected(engine):
        tuner = tune.Tuner(
            tune.with_resources(fn, {"cpu": engine.cpus_per_run, "gpu": engine.gpus_per_run}),
            param_space=_tune_space(space),
            tune_config=tune.TuneConfig(metric=METRIC, mode="max", num_samples=trials, scheduler=sched,
                                        search_alg=BasicVariantGenerator(random_state=base.seed),
                                        max_concurrent_trials=engine.max_concurrent),
            run_config=tune.RunConfig(name=f"{SEARCH_PREFIX}{base.name}-s{base.seed}-{stamp}",
                                      storage_path=str(Path(results_dir) / "tune"), verbose=1 if progress else 0,
                                      failure_config=tune.FailureConfig(max_failures=engine.max_retries)),
        )
        grid = tuner.fit()
    out = SearchResult(trials=len(grid))
    best_acc = -math.inf
    for r in grid:
        metrics = r.metrics or {}
        if r.config is None:  # died before its first report
            out.failed.append((Path(r.path).name, f"{type(r.error).__name__}: {r.error}"))
            continue
        params = {k: r.config[k] for k in space if k in r.config}
        cfg = trial_config(base, params)
        name, rec = cfg.run_name, find_record(cfg, results_dir)
        if r.error is not None or metrics.get("error"):
            out.failed.append((name, metrics.get("error") or f"{type(r.error).__name__}: {r.error}"))
        elif rec is None or not metrics.get("recorded"):  # stopped by the scheduler (a twin trial may finish it)
            out.stopped.append(name)
        else:
            out.finished.append(rec)
            acc = float(rec.metrics["val"]["accuracy"])
            if acc > best_acc or (acc == best_acc and out.best is not None and name < out.best.path.name):
                best_acc, out.best, out.best_params = acc, rec, params
    return out


def print_search(res: SearchResult, base: ExperimentConfig) -> None:
    print(f"{res.trials} trial(s) run: {len(res.finished)} finished, {len(res.stopped)} stopped early by the "
          f"scheduler, {len(res.failed)} failed")
    for name, err in res.failed:
        print(f"  FAILED {name}: {err}", file=sys.stderr)
    if res.best is None:
        print("no trial finished: no best config")
        return
    m = res.best.metrics
    print(f"best trial (highest validation accuracy): {res.best.path.name}")
    print(f"  validation accuracy {m['val']['accuracy']:.4f}  AUC {m['val']['auc']:.4f}")
    for k, v in res.best_params.items():
        print(f"  {k} = {_as_text(v)}")
    sets = " ".join(f"--set {k}={_as_text(v)}" for k, v in res.best_params.items())
    print(f"  the same run: lfwsiamese train --config {base.name} --seed {base.seed} "
          f"--set name={res.best.config.name} {sets}")
    print(f"  record: {res.best.path}")
