"""`--engine ray` on a two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head and a worker node,
one CPU each, no dashboard): the worker node is removed while it trains a run of the smoke plan, and the plan still
ends with every record, equal to the local engine's, the lost run rerun by Ray on the node left and resumed from the
epoch it had backed up (the results folder is shared, as on a cluster's shared filesystem)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from lfwsiamese.records.compare import record_differences
from lfwsiamese.records.store import find_record, run_dir_for
from lfwsiamese.runs import plans
from lfwsiamese.training.callbacks import backup_epoch
from tests.ray_helpers import RAY, _cache, local_records, lock_holder, shared_cache  # noqa: F401 (fixtures)

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")
pytestmark = [pytest.mark.slow, pytest.mark.realdata]

@pytest.fixture(scope="module")
def two_nodes(real_data: Path) -> Iterator[tuple[Any, Any]]:
    """The cluster and its worker node, this process connected as a driver (on the head, as `ray.init(address=...)`
    on a cluster's machine would be): the engine uses that connection and leaves it running. Not started where
    the real data is missing (`real_data` skips first)."""
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1, include_dashboard=False)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


def _parent(pid: int) -> int | None:
    """A process's parent; a Ray worker's is the raylet of the node that runs it."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _node_alive(node_id: str, wait_s: float = 30) -> bool | None:
    """Whether the cluster counts the node as alive, given the time its health checks take to notice a dead one
    (None: not a node of the cluster)."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = [n["Alive"] for n in ray.nodes() if n["NodeID"] == node_id]
        if alive != [True] or time.monotonic() > deadline:
            return alive[0] if alive else None
        time.sleep(0.5)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the runs' workers through /proc")
def test_a_node_lost_mid_plan_ends_with_every_record_equal_to_the_local_ones(
        two_nodes, local_records, real_data: Path, tmp_path: Path) -> None:
    cluster, worker = two_nodes
    raylet = worker.all_processes[ray._private.ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    cfgs = plans.get_plan("smoke")
    run_dirs = [run_dir_for(c, tmp_path) for c in cfgs]
    killed: list[tuple[str, int]] = []  # (run, pid of its worker on the removed node)
    lost: list[BaseException] = []

    def remove_worker_node_mid_run() -> None:
        """The worker node removed (all its processes killed) once a run on it has backed up its first epoch."""
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline:
                for d in run_dirs:
                    if backup_epoch(d) >= 1 and not (d / "metrics.json").exists():
                        pid = lock_holder(Path(f"{d}.lock"))
                        if pid is not None and _parent(pid) == raylet:
                            cluster.remove_node(worker, allow_graceful=False)
                            killed.append((d.name, pid))
                            return
                time.sleep(0.05)
        except BaseException as e:  # noqa: BLE001  (seen by the test, not lost in this thread)
            lost.append(e)

    killer = threading.Thread(target=remove_worker_node_mid_run, daemon=True)
    killer.start()
    recs = plans.run_plan("smoke", data=real_data, results=tmp_path, progress=False, engine=RAY)
    killer.join(timeout=10)
    assert not lost, lost
    assert killed, "no run was seen on the worker node between its first epoch and its record"
    (name, pid), = killed
    assert not _alive(pid), "the removed node's worker still runs"
    assert _node_alive(worker.node_id) is False, "the cluster still counts the removed node"

    # every record of the plan, found where the local engine would put it, equal to the local engine's
    assert sorted(r.path.name for r in recs) == sorted(local_records)
    for cfg in cfgs:
        rec = find_record(cfg, tmp_path)
        assert rec is not None, cfg.run_name
        assert record_differences(rec, local_records[rec.path.name], ignore={"resumed"}) == [], rec.path.name
    # the lost run was rerun elsewhere from its backed-up first epoch, the other trained once from the start
    resumed = {r.path.name: r.metrics["resumed"] for r in recs}
    assert resumed == {n: n == name for n in local_records}
    assert all(r.metrics["epochs_run"] == 2 for r in recs)
