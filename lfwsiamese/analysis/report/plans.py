"""Which records a plan needs, which exist, and what they cost to train."""
from __future__ import annotations

import os

import pandas as pd

from ...records.store import Record, find_record
from ...runs.experiments import load_or_run
from ...runs.plans import get_plan

ENV_TRAIN_MISSING = "LFWSIAMESE_TRAIN_MISSING"


def train_missing_default() -> bool:
    """Book builds train missing records only when asked (`make book` asks; CI's notebook check does not)."""
    return os.environ.get(ENV_TRAIN_MISSING, "0").lower() in ("1", "true", "yes")


def plan_records(plan: str, train_missing: bool | None = None, data: str | None = None) -> list[Record]:
    """The records of a plan that exist (training the missing ones if asked), in plan order."""
    train_missing = train_missing_default() if train_missing is None else train_missing
    out = []
    for cfg in get_plan(plan):
        rec = load_or_run(cfg, data=data, progress=False) if train_missing else find_record(cfg)
        if rec is not None:
            out.append(rec)
    return out


def plan_progress(plan: str) -> dict[str, object]:
    """How far a plan is: runs recorded of runs planned and the run names still missing, so a chapter built
    from a half-finished sweep says so in its text instead of silently showing fewer points."""
    cfgs = get_plan(plan)
    missing = [c.run_name for c in cfgs if find_record(c) is None]
    return {"plan": plan, "planned": len(cfgs), "recorded": len(cfgs) - len(missing), "missing": missing,
            "complete": not missing}


def plan_times() -> pd.DataFrame:
    """Per plan: runs recorded of runs planned and the training time they took (sum of fit seconds), so the
    cost of regenerating the book is read from the records rather than estimated."""
    from ...runs.plans import PLANS
    rows = []
    for name, fn in PLANS.items():
        cfgs = fn()
        recs = [r for r in (find_record(c) for c in cfgs) if r is not None]
        fit = sum(r.metrics["fit_seconds"] for r in recs)
        # the training loop's wall time with its per-epoch evaluations, plus the final scoring (a resumed run
        # counts only its last process, so this is a lower bound)
        wall = sum(r.metrics.get("fit_seconds_this_process", r.metrics["fit_seconds"])
                   + r.metrics.get("predict_seconds_val_and_test", 0.0) for r in recs)
        rows.append({"plan": name, "runs planned": len(cfgs), "runs recorded": len(recs),
                     "fit hours (recorded runs)": fit / 3600, "wall hours (recorded runs)": wall / 3600,
                     "minutes per run": fit / 60 / len(recs) if recs else float("nan"),
                     "machines": ", ".join(sorted({f"{r.env.get('device', '?')}: {r.env.get('cpu', '?')}" for r in recs}))})
    return pd.DataFrame(rows).set_index("plan")


def total_record_hours() -> dict[str, float]:
    """Training time of every record the plans use, each run counted once (plans share some runs): the
    time a full regeneration of the book's records took on the machines that made them."""
    from ...runs.plans import PLANS
    seen: dict[str, Record] = {}
    for fn in PLANS.values():
        for c in fn():
            if c.run_name not in seen:
                r = find_record(c)
                if r is not None:
                    seen[c.run_name] = r
    ms = [r.metrics for r in seen.values()]
    return {"runs": len(ms), "fit hours": sum(m["fit_seconds"] for m in ms) / 3600,
            "wall hours": sum(m.get("fit_seconds_this_process", m["fit_seconds"]) + m.get("predict_seconds_val_and_test", 0.0)
                              for m in ms) / 3600}
