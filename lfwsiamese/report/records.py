"""Record selection for the chapters: a plan's records, all of them or an error that says how to make them."""
from __future__ import annotations

import re
from typing import Sequence

from ..errors import RunError
from ..records.store import Record, find_record
from ..runs.plans import get_plan


class MissingRecordsError(RunError):
    """A chapter needs records that results/ does not hold; the book is never built from part of a plan."""


def plan_records(plan: str, validation: str | None = None) -> list[Record]:
    """Every record of `plan`, in plan order; a missing one stops the chapter with the command that trains it.

    `validation` ("person" or "pair") keeps only the runs validated that way."""
    if validation not in (None, "person", "pair"):
        raise ValueError(f"validation={validation!r}: expected 'person', 'pair' or None (every run of the plan)")
    cfgs = get_plan(plan)
    found = [(c, find_record(c)) for c in cfgs]
    missing = [c.run_name for c, r in found if r is None]
    if missing:
        raise MissingRecordsError(f"plan {plan!r} has {len(missing)} of {len(cfgs)} runs missing from results/ "
                                  f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); train them with "
                                  f"`lfwsiamese sweep {plan}`, or every plan with `make records`, then `make book`")
    return [r for _, r in found if validation in (None, r.config.data.validation)]


def channel_records(name: str, protocol: str) -> list[Record]:
    """A channel's records (`lfwsiamese channels`): View 2's ten folds (seed 0) or DevTest's seeds 1-3."""
    from ..experiments.fusion import base_records
    recs = [r for s in ((0,) if protocol == "view2" else (1, 2, 3)) for r in base_records(name, protocol, s)]
    if len(recs) != (10 if protocol == "view2" else 3):
        raise MissingRecordsError(f"{name!r} has {len(recs)} {protocol} records in results/; make them with "
                                  "`make records` (its `lfwsiamese channels` lines), then run `make book` again")
    return recs


def by_name(records: Sequence[Record], name: str) -> list[Record]:
    """The records of one recipe name, or an error naming the names there are."""
    out = [r for r in records if r.config.name == name]
    if not out:
        raise ValueError(f"no record of recipe {name!r}; the records have {sorted({r.config.name for r in records})}")
    return out


def processor_of(rec: Record) -> str:
    """The processor a record was trained on, short ("Intel Xeon", "AMD EPYC"; a GPU by its name)."""
    env = rec.env or {}
    if str(env.get("device", "")).upper() == "GPU" and env.get("gpus"):
        g = env["gpus"][0]
        return str(g.get("name", g) if isinstance(g, dict) else g)
    cpu = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b", "", str(env.get("cpu", "?")))
    return " ".join(cpu.split()) or "?"


def processors(records: Sequence[Record]) -> str:
    """The processors of several records, each once, in a stable order ("AMD EPYC, Intel Xeon")."""
    return ", ".join(sorted({processor_of(r) for r in records})) or "none"
