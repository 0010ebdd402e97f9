"""The reproduction gap: where the reference's reported accuracy lies in the distribution of our seeds.

The reference reported one run's DevTest accuracy at threshold 0.5. Its seed is unknown, so the question is
whether a run of the same recipe reaches that number by chance often enough (a lucky seed), only under the
reference's own setup (a difference of setup), or practically never (unexplained by what was measured).

The rule: from the k seeds of one setup (mean m, standard deviation s), a new run's accuracy follows Student's
predictive distribution, m + s * sqrt(1 + 1/k) * t(k - 1); the chance that one run reaches the reported number is
its upper tail there. A chance of at least `ALPHA` counts as "within reach of one run". The test pairs need no
term: the reference was tested on the same 1,000 DevTest pairs, so only training differs between its run and ours.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record
from .stats import processor_of

GAP_METRIC = "accuracy_at_0.5"  # the reference's: Keras' "accuracy", i.e. at threshold 0.5
ALPHA = 0.05
MIN_SEEDS = 3  # fewer seeds give no usable spread
OWN_SETUP = "reference's own setup: float32, pair-level validation"
OURS_SETUP = "float32, person-disjoint validation"


def gap_groups(records: Sequence[Record]) -> dict[str, list[Record]]:
    """The gap plan's records split by setup (the reference's own first, then ours), so seeds are counted only
    within one recipe; a record of any other recipe is left out."""
    from ...runs.plans import GAP_RECIPES
    ours, own = GAP_RECIPES
    return {OWN_SETUP: [r for r in records if r.config.name == own],
            OURS_SETUP: [r for r in records if r.config.name == ours]}


def gap_progress(groups: dict[str, Sequence[Record]], planned: int) -> str:
    """Markdown: how many of the `planned` seeds each setup has, and the command that trains the rest."""
    said = {OWN_SETUP: "under the reference's own setup", OURS_SETUP: "with person-disjoint validation"}
    counts = " and ".join(f"{len(recs)} of {planned} {said.get(label, label)}" for label, recs in groups.items())
    done = all(len(recs) >= planned for recs in groups.values())
    return counts + ("" if done else "; `lfwsiamese sweep gap` trains the others")


def seed_values(groups: dict[str, Sequence[Record]], metric: str = GAP_METRIC) -> pd.DataFrame:
    """One row per run of each group (a setup): its seed, run name, test accuracy `metric` and processor."""
    rows = [{"setup": label, "seed": r.config.seed, "run": r.path.name, "accuracy": r.metrics["test"][metric],
             "processor": processor_of(r)} for label, recs in groups.items() for r in recs]
    return pd.DataFrame(rows, columns=["setup", "seed", "run", "accuracy", "processor"])


def reported_position(values: Sequence[float], reported: float) -> dict[str, float]:
    """Where `reported` lies among `values` (one setup's seeds): how many reach it, its percentile, and the chance
    that one more run reaches it (Student's predictive distribution; NaN with fewer than MIN_SEEDS seeds)."""
    from scipy import stats
    v = np.asarray(values, dtype=float)
    n = len(v)
    out = {"seeds": n, "mean": float(v.mean()) if n else np.nan, "sd": float(v.std(ddof=1)) if n > 1 else np.nan,
           "min": float(v.min()) if n else np.nan, "max": float(v.max()) if n else np.nan,
           "seeds at or above": int((v >= reported - 1e-12).sum()),
           "percentile": float((v < reported - 1e-12).mean() * 100) if n else np.nan, "p one run": np.nan}
    if n >= MIN_SEEDS and out["sd"] > 0:
        scale = out["sd"] * np.sqrt(1 + 1 / n)
        out["p one run"] = float(stats.t.sf((reported - out["mean"]) / scale, n - 1))
    elif n >= MIN_SEEDS:  # no spread at all: reached or not
        out["p one run"] = float(out["mean"] >= reported)
    return out


def gap_table(groups: dict[str, Sequence[Record]], reported: float, planned: dict[str, int] | None = None,
              metric: str = GAP_METRIC) -> pd.DataFrame:
    """Per setup: seeds recorded (of planned), mean, sd, range, how many seeds reach `reported`, its percentile and
    the chance that one run reaches it."""
    vals = seed_values(groups, metric)
    rows = []
    for label in groups:
        v = vals.loc[vals["setup"] == label]
        pos = reported_position(v["accuracy"], reported)
        n_plan = (planned or {}).get(label, pos["seeds"])
        rows.append({"setup": label, "seeds": f"{pos['seeds']} of {n_plan}", "mean": pos["mean"], "sd": pos["sd"],
                     "min": pos["min"], "max": pos["max"],
                     "seeds reaching the reported": f"{pos['seeds at or above']} of {pos['seeds']}",
                     "reported's percentile": pos["percentile"], "chance one run reaches it": pos["p one run"],
                     "processor": ", ".join(sorted(set(v["processor"]))) or "none"})
    return pd.DataFrame(rows).set_index("setup")


def _one_in(p: float) -> str:
    return "most runs" if p >= 0.5 else f"about one run in {max(2, round(1 / p))}"


def gap_verdict(groups: dict[str, Sequence[Record]], reported: float, own: str = OWN_SETUP, ours: str = OURS_SETUP,
                planned: int | None = None, metric: str = GAP_METRIC) -> str:
    """Whether the reported number is a lucky seed, a difference of setup, or unexplained, by the rule of this
    module: `own` names the group under the reference's own setup, `ours` the one with our validation."""
    vals = seed_values(groups, metric)
    p_own = reported_position(vals.loc[vals.setup == own, "accuracy"], reported)
    p_ours = reported_position(vals.loc[vals.setup == ours, "accuracy"], reported)
    n_own, n_ours = p_own["seeds"], p_ours["seeds"]
    counts = f"{n_own} and {n_ours}" + (f" of {planned}" if planned else "") + " seeds recorded"
    if min(n_own, n_ours) < MIN_SEEDS:
        return (f"Too few seeds to place {reported:.1%} yet ({counts}; at least {MIN_SEEDS} of each setup are needed "
                "for a spread): no verdict")
    a, b = p_own["p one run"], p_ours["p one run"]
    where = (f"{p_own['seeds at or above']} of {n_own} seeds reach it under the reference's own setup and "
             f"{p_ours['seeds at or above']} of {n_ours} with person-disjoint validation")
    if a >= ALPHA and b >= ALPHA:
        verdict = (f"a lucky seed explains it: {_one_in(a)} of the reference's own setup reaches {reported:.1%}, and "
                   f"{_one_in(b)} with person-disjoint validation, so no difference of setup is needed ({where})")
    elif a >= ALPHA:
        verdict = (f"a difference of setup explains it: under the reference's own setup {_one_in(a)} reaches "
                   f"{reported:.1%}, with person-disjoint validation the chance is {b:.1%} ({where})")
    elif b >= ALPHA:
        verdict = (f"a lucky seed explains it, though not under the reference's own setup: {_one_in(b)} with "
                   f"person-disjoint validation reaches {reported:.1%}, against a chance of {a:.1%} under its own ({where})")
    else:
        verdict = (f"it is unexplained by what was measured: the chance that one run reaches {reported:.1%} is "
                   f"{a:.1%} under the reference's own setup and {b:.1%} with person-disjoint validation ({where}); "
                   "what remains differs from the reference in ways not measured here (its TensorFlow version, image "
                   "resizing and hardware)")
    done = planned is None or min(n_own, n_ours) >= planned
    return verdict[0].upper() + verdict[1:] + ("" if done else f" (provisional: {counts})")
