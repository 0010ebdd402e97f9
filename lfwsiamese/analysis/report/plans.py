"""Which records a plan needs, which exist, and what they cost to train.

The book only reads records: nothing here trains. A record that a plan needs and `results/` does not hold is
shown as missing ("k of N recorded"), and `missing_records` lists each with the command that trains it
(`lfwsiamese sweep PLAN`, or `make records` for all of them)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ...records.store import Record, find_record
from ...runs.plans import get_plan
from .stats import processors

if TYPE_CHECKING:
    from ...config import ExperimentConfig


def plan_records(plan: str, validation: str | None = None) -> list[Record]:
    """The records of a plan that exist, in plan order; a missing one is skipped, never trained. `validation`
    ("person" or "pair") keeps only the runs validated that way, as chapters compare the two kinds apart."""
    if validation not in (None, "person", "pair"):
        raise ValueError(f"validation={validation!r}: expected 'person', 'pair' or None (every run of the plan)")
    return [r for r in (find_record(cfg) for cfg in get_plan(plan))
            if r is not None and validation in (None, r.config.data.validation)]


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


def total_record_hours() -> dict[str, object]:
    """Training time of every record the plans use, each run counted once (plans share some runs): the
    time a full regeneration of the book's records took on the machines that made them, and their core counts."""
    from ...runs.plans import PLANS
    seen: dict[str, Record] = {}
    for fn in PLANS.values():
        for c in fn():
            if c.run_name not in seen:
                r = find_record(c)
                if r is not None:
                    seen[c.run_name] = r
    ms = [r.metrics for r in seen.values()]
    cores = "/".join(sorted({str(r.env.get("cpu_count", "?")) for r in seen.values()}))
    return {"runs": len(ms), "cores": cores, "fit hours": sum(m["fit_seconds"] for m in ms) / 3600,
            "wall hours": sum(m.get("fit_seconds_this_process", m["fit_seconds"]) + m.get("predict_seconds_val_and_test", 0.0)
                              for m in ms) / 3600}


def _similar(cfg: "ExperimentConfig", recorded: list[Record]) -> list[Record]:
    """Recorded runs that predict a missing run's cost: the same recipe name, else the same model and training
    (another validation split or seed costs about the same)."""
    same = [r for r in recorded if r.config.name == cfg.name and r.config.data.protocol == cfg.data.protocol]
    return same or [r for r in recorded if r.config.model == cfg.model and r.config.train == cfg.train
                    and r.config.data.sampling == cfg.data.sampling]


def missing_records() -> pd.DataFrame:
    """Every run a plan needs that `results/` does not hold: its plans, the command that trains it, and its expected
    training time (the mean fit minutes of recorded runs of the same recipe, and the processors they ran on)."""
    from ...runs.plans import PLANS
    plans_of: dict[str, list[str]] = {}
    cfgs = {}
    recorded: dict[str, Record] = {}
    for name, fn in PLANS.items():
        for c in fn():
            r = find_record(c)
            if r is None:
                plans_of.setdefault(c.run_name, []).append(name)
                cfgs[c.run_name] = c
            else:
                recorded[c.run_name] = r
    rows = []
    for run, plans in plans_of.items():
        c = cfgs[run]
        like = _similar(c, list(recorded.values()))
        rows.append({"run": run, "recipe": c.name, "seed": c.seed, "plans": ", ".join(plans),
                     "command": f"lfwsiamese sweep {plans[0]}",
                     "expected fit minutes": sum(r.metrics["fit_seconds"] for r in like) / 60 / len(like) if like else float("nan"),
                     "estimated from": f"{len(like)} recorded run{'s' if len(like) != 1 else ''} "
                                       f"({processors(like)})" if like else "no similar run"})
    cols = ["run", "recipe", "seed", "plans", "command", "expected fit minutes", "estimated from"]
    return pd.DataFrame(rows, columns=cols).set_index("run")


def missing_summary(missing: pd.DataFrame) -> str:
    """One Markdown sentence on `missing_records()`: how many runs are missing, their expected training time and
    the commands that train them, or that nothing is missing, so a chapter states it without building prose."""
    if missing.empty:
        return "Every run that a plan needs is in `results/`, so `make book` trains nothing: it executes and renders."
    hours = missing["expected fit minutes"].sum() / 60
    commands = ", ".join(f"`{c}`" for c in dict.fromkeys(missing["command"]))  # each command once, in plan order
    n = len(missing)
    return (f"{n} run{'s' if n != 1 else ''} that a plan needs {'are' if n != 1 else 'is'} not in `results/`, about "
            f"{hours:.1f} hours of training on the processors their estimates come from (the mean fit time of recorded "
            f"runs of the same recipe). The book shows each affected plan as \"k of N recorded\" until they exist; "
            f"{commands} (or `make records`, for all of them) trains them, and `make book` then shows them.")


def plans_table() -> pd.DataFrame:
    """Every registered plan: its runs, how many are recorded, and its recipes."""
    from ...runs.plans import PLANS
    rows = []
    for name, fn in PLANS.items():
        cfgs = fn()
        rows.append({"plan": name, "runs": len(cfgs), "recorded": sum(find_record(c) is not None for c in cfgs),
                     "configs": ", ".join(sorted({c.name for c in cfgs}))})
    return pd.DataFrame(rows).set_index("plan")
