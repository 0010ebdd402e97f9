"""Where the runs of a plan execute: `local` (this process, one after another: the default, no Ray needed) or
`ray` (each run a Ray task, on this machine or a cluster). Either way a run is `load_or_run` of the same config:
the same record name, the same files, the same per-run lock, finished records skipped."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..records.store import Record, results_dir

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineOptions:
    """How runs are executed. The Ray fields are ignored by the local engine.

    `address`: None starts a Ray instance on this machine for the command (stopped at its end); "auto" joins
    the cluster this machine belongs to (`ray start`); "ray://HOST:PORT" connects through Ray Client.
    `max_retries`: how often Ray itself reruns a run whose worker died (killed, out of memory, node lost);
    a run that raises an error is not retried.
    """

    kind: str = "local"
    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    max_concurrent: int | None = None  # None: as many as the cluster's CPUs and GPUs allow
    max_retries: int = 3
    num_cpus: int | None = None  # a local Ray instance's CPUs (None: this machine's)

    def validate(self) -> "EngineOptions":
        if self.kind not in ENGINES:
            raise ConfigError(f"--engine {self.kind!r}: allowed values are {', '.join(ENGINES)}")
        if self.kind == "local":
            given = [flag for flag, on in (("--address", self.address is not None),
                                           ("--cpus-per-run", self.cpus_per_run != 1.0),
                                           ("--gpus-per-run", self.gpus_per_run != 0.0),
                                           ("--max-concurrent", self.max_concurrent is not None)) if on]
            if given:
                raise ConfigError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to "
                                  f"--engine ray (the local engine runs one run at a time in this process)")
        if not self.cpus_per_run > 0:
            raise ConfigError(f"--cpus-per-run {self.cpus_per_run}: must be > 0 (fractions share a CPU)")
        if not self.gpus_per_run >= 0:
            raise ConfigError(f"--gpus-per-run {self.gpus_per_run}: must be >= 0 (0.5: two runs share a GPU)")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"--max-concurrent {self.max_concurrent}: must be >= 1")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries={self.max_retries}: must be >= 0")
        if self.address is not None and not (self.address == "auto" or self.address.startswith("ray://")
                                             or ":" in self.address):
            raise ConfigError(f"--address {self.address!r}: expected auto, ray://HOST:PORT or HOST:PORT "
                              f"(leave it out to start Ray on this machine)")
        return self


LOCAL = EngineOptions()


@dataclass
class RunOutcome:
    """What became of one run: "done" (a record, trained now or found), "failed" (error), "locked" (another
    process is training it: left to that process)."""

    run_name: str
    status: str
    record: Record | None = None
    error: str = ""
    seconds: float = 0.0
    where: str = ""  # the host and process that ran it (Ray)


def shared_paths(data: str | os.PathLike | None, results: str | os.PathLike | None) -> tuple[str | None, str]:
    """The data and results folders as absolute paths, resolved here, so that every worker uses the ones this
    command means (on a cluster: the same path on every node, a shared filesystem for the results).

    Data given neither by argument nor $LFWSIAMESE_DATA stays None: each worker applies the rule itself.
    """
    from ..data.paths import ENV_DATA
    d = data or os.environ.get(ENV_DATA) or None
    return (str(Path(d).expanduser().absolute()) if d else None,
            str(results_dir(results).expanduser().absolute()))
