"""The `ray` engine: each run of a plan is one Ray task, run by `load_or_run` on whichever worker Ray picks.

Ray is imported only here and only when this engine is used (`pip install -e ".[distributed]"`). Records go to
the results folder the command names, which on a cluster is a shared filesystem: the per-run lock keeps two
workers off one run, finished records are skipped, and a run whose worker died (killed, out of memory, node
lost) is rerun by Ray itself (`max_retries`), resuming from its last finished epoch. A run that raises an error
(a bad config, say) fails once and the others go on.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
import traceback
from typing import Any, Callable, Iterator

from ..config import ExperimentConfig
from ..errors import LfwSiameseError, RunLockedError
from .engines import EngineOptions, RunOutcome

#: Environment variables a worker takes from the command that submits the runs (when set there).
FORWARDED_ENV = ("LFWSIAMESE_CACHE", "LFWSIAMESE_THREADS", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LfwSiameseError("--engine ray needs Ray, which is not installed: pip install -e \".[distributed]\" "
                              "(or use the default --engine local)") from None
    return ray


@contextlib.contextmanager
def connected(opts: EngineOptions) -> Iterator[Any]:
    """Ray, connected as `opts.address` says; an instance started here is stopped at the end, one this process
    was already connected to (a notebook, a test) is left running."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    # the job's workers (Tune's trials too) get the variables a run reads from this command's environment
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "runtime_env": {"env_vars": forwarded_env()}}
    if opts.address is None:
        kwargs.update(address="local", num_cpus=opts.num_cpus)
    else:
        kwargs.update(address=opts.address)
    try:
        start_ray(ray, kwargs, local=opts.address is None)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {opts.address}" if opts.address else "a local Ray instance"
        hint = (" (is `ray start --head` running on the head node, and this machine one of its nodes?)"
                if opts.address == "auto" else "")
        raise LfwSiameseError(f"could not connect to {where}: {str(e).splitlines()[0]}{hint}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


#: How Ray words a local node that did not register within its fixed 30 s (a bare `Exception`, Ray 2.x).
STARTUP_TIMEOUT = "timed out during startup"


def start_ray(ray: Any, kwargs: dict[str, Any], local: bool, attempts: int = 2) -> None:
    """`ray.init`, with a local start that timed out tried once more. Ray waits a fixed 30 s for its node to
    register, which a busy 2-core machine (a training, a test run) can exceed although nothing is wrong; a second
    start usually finds the processes warm. A start that times out every time is an error that says so."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**kwargs)
            return
        except Exception as e:  # noqa: BLE001  (Ray raises a bare Exception for this one case)
            if not (local and STARTUP_TIMEOUT in str(e)):
                raise
            ray.shutdown()
            if attempt == attempts:
                raise LfwSiameseError(
                    f"a local Ray instance did not start: its node {STARTUP_TIMEOUT} {attempts} times (Ray waits "
                    "30 s; a machine whose CPUs are busy, with a training or tests, can be slower). Run the command "
                    "again when the machine is less busy, or use the default --engine local") from None
            print(f"Ray's local node {STARTUP_TIMEOUT}; starting it again ({attempt + 1} of {attempts})",
                  file=sys.stderr)


def forwarded_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def worker_setup() -> None:
    """A worker before its run: Ray's OMP_NUM_THREADS (1 per requested CPU) undone, since a run's threads are
    `training.setup.run_threads()` as in a local sweep (so that it gives the same scores); then the backend
    imported with its start-up lines (oneDNN, CUDA probing) kept out of the command's output, unless it fails."""
    from ..training.setup import import_tf_quietly, run_threads
    os.environ["OMP_NUM_THREADS"] = str(run_threads())
    import_tf_quietly()


def run_one(cfg_json: str, data: str | None, results: str, progress: bool) -> dict[str, Any]:
    """One run on a Ray worker: the record, or the error as text (a bad config is not retried).

    A worker that dies here (killed, out of memory) raises nothing: Ray reruns this task on another worker,
    which resumes the run from its backup.
    """
    worker_setup()
    where = f"{socket.gethostname()} pid {os.getpid()}"
    t = time.perf_counter()
    cfg = ExperimentConfig.from_json(cfg_json)
    try:
        from .experiments import load_or_run
        rec = load_or_run(cfg, data=data, results=results, progress=progress)
    except RunLockedError as e:
        return {"status": "locked", "error": str(e), "where": where}
    except Exception as e:  # any error of the run itself: reported once, the other runs go on
        detail = str(e) if isinstance(e, LfwSiameseError) else "".join(traceback.format_exception_only(e)).strip()
        return {"status": "failed", "error": detail, "where": where}
    return {"status": "done", "record": rec, "seconds": time.perf_counter() - t, "where": where}


def run_on_ray(cfgs: list[ExperimentConfig], data: str | None, results: str, progress: bool, opts: EngineOptions,
               on_outcome: Callable[[RunOutcome], None] = lambda o: None) -> list[RunOutcome]:
    """Every config as a Ray task (at most `opts.max_concurrent` at once), in the order given; an outcome per
    config, in that order. `on_outcome` sees each as it finishes. Ctrl-C cancels the runs not yet finished."""
    with connected(opts) as ray:
        # max_calls=1: a fresh process per run (its own TensorFlow threads; GPU memory handed back after it)
        task = ray.remote(max_calls=1)(run_one).options(
            num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run, max_retries=opts.max_retries,
            retry_exceptions=False,  # errors of the run itself fail once; only a dead worker is retried
            runtime_env={"env_vars": forwarded_env()}, name="lfwsiamese-run")
        pending = list(enumerate(cfgs))
        running: dict[Any, int] = {}
        out: dict[int, RunOutcome] = {}
        limit = opts.max_concurrent or len(cfgs)
        try:
            while pending or running:
                while pending and len(running) < limit:
                    k, cfg = pending.pop(0)
                    running[task.remote(cfg.to_json(), data, results, progress)] = k
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    k = running.pop(ref)
                    o = _outcome(ray, ref, cfgs[k].run_name)
                    out[k] = o
                    on_outcome(o)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
    return [out[k] for k in range(len(cfgs))]


def _outcome(ray: Any, ref: Any, run_name: str) -> RunOutcome:
    try:
        r = ray.get(ref)
    except Exception as e:  # the worker died more often than max_retries allows, or the task was cancelled
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return RunOutcome(run_name, "failed", error=f"{type(e).__name__}: {first}")
    return RunOutcome(run_name, r["status"], r.get("record"), r.get("error", ""), r.get("seconds", 0.0),
                      r.get("where", ""))


def print_outcome(o: RunOutcome) -> None:
    if o.status == "done":
        print(f"  {o.run_name}: finished in {o.seconds:.0f} s on {o.where}", file=sys.stderr)
    elif o.status == "locked":
        print(f"  {o.run_name}: skipped: {o.error}", file=sys.stderr)
    else:
        print(f"  {o.run_name}: FAILED{f' on {o.where}' if o.where else ''}: {o.error}", file=sys.stderr)
