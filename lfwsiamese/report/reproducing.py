"""The appendix: every plan's records and training times, their environment, and the benchmarks in results/bench."""
from __future__ import annotations

import json
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..records.store import Record, results_dir
from ..runs.plans import PLANS
from ..training.bench import add_gains
from .records import plan_records, processor_of, processors
from .stats import interval
from .tables import minutes, pct_interval

ENV = {"cpu": "processor", "cpu_count": "logical CPUs", "device": "device", "precision_policy": "precision",
       "tensorflow": "TensorFlow", "keras": "Keras", "numpy": "NumPy", "python": "Python"}


def by_plan() -> dict[str, list[Record]]:
    """Every registered plan's records; a missing one stops the book with the command that trains it."""
    return {plan: plan_records(plan) for plan in PLANS}


def unique(plans: Mapping[str, Sequence[Record]]) -> dict[str, Record]:
    """Every record once (plans share some runs), by run folder."""
    return {r.path.name: r for recs in plans.values() for r in recs}


def wall_seconds(r: Record) -> float:
    """A run's wall time: its training loop with the per-epoch scoring, plus the final scoring (last process)."""
    m = r.metrics
    return m.get("fit_seconds_this_process", m["fit_seconds"]) + m.get("predict_seconds_val_and_test", 0.0)


def plans_table(plans: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Per plan: its runs, training time per run and in all, and the processors that trained them."""
    fit = {p: sum(r.metrics["fit_seconds"] for r in recs) for p, recs in plans.items()}
    return pd.DataFrame([{"plan": p, "runs": len(recs), "training per run": minutes(fit[p] / len(recs)),
                          "training in all": minutes(fit[p]), "processors": processors(recs)}
                         for p, recs in plans.items()])


def records_table(plans: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Every record once: its folder, the plans that use it, its epochs, training time and processor."""
    uses = {name: [p for p, recs in plans.items() if any(r.path.name == name for r in recs)]
            for name in unique(plans)}
    return pd.DataFrame([{"record": name, "plans": ", ".join(uses[name]), "epochs": r.metrics["epochs_run"],
                          "training": minutes(r.metrics["fit_seconds"]), "processor": processor_of(r)}
                         for name, r in sorted(unique(plans).items())])


def environment(rec: Record) -> pd.DataFrame:
    """The machine and libraries a record was made with (its env.json), in words."""
    return pd.DataFrame({"setting": list(ENV.values()), "value": [str(rec.env.get(k, "")) for k in ENV]})


def bench_record(name: str) -> dict:
    """A stored benchmark of results/bench (its `env` says which machine made it)."""
    return json.loads((results_dir() / "bench" / name).read_text())


def bench_table(name: str = "cpu.json") -> pd.DataFrame:
    """The stored `lfwsiamese bench` record: the reference's training loop against ours, measure by measure."""
    d, sides = bench_record(name), ("reference_style", "ours")
    rows = {"precision": ("precision", "{}"), "training pairs per s": ("train_pairs_per_s", "{:.1f}"),
            "pairs scored per s": ("predict_pairs_per_s", "{:.1f}"),
            "training GFLOP per s": ("train_gflop_per_s", "{:.0f}"), "share of nominal peak": ("fraction_of_peak", "{:.0%}")}
    return pd.DataFrame([{"measure": label, "reference's loop": fmt.format(d[sides[0]][key]),
                          "ours": fmt.format(d[sides[1]][key])} for label, (key, fmt) in rows.items()])


def ablation(name: str = "ablation-cpu.json") -> pd.DataFrame:
    """`lfwsiamese bench --ablation`: each variant's speed, over the reference's loop and over its one-change row."""
    rows = bench_record(name)["variants"]
    add_gains(rows)  # recomputed from the stored speeds and settings
    return pd.DataFrame({"variant": [r["label"] for r in rows], "pairs": [r["train_pairs_per_s"] for r in rows],
                         "x reference": [r["train_speedup_vs_reference_style"] for r in rows],
                         "x compared": [r["train_gain_vs_compared"] or np.nan for r in rows],
                         "compared with": [r["compared_with"] or "" for r in rows]})


def ablation_table(abl: pd.DataFrame) -> pd.DataFrame:
    """`ablation` as the book shows it (a row compared with none shows a dash)."""
    return pd.DataFrame({"variant": abl["variant"], "training pairs per s": abl["pairs"].map("{:.1f}".format),
                         "× the reference's loop": abl["x reference"].map("{:.2f}".format),
                         "× the row compared with": abl["x compared"].map(lambda x: "–" if np.isnan(x) else f"{x:.2f}"),
                         "compared with": abl["compared with"].replace("", "–")})


def precision_table(groups: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Per way of computing the reference recipe: seeds, test accuracy (95% interval), AUC, minutes per run."""
    return pd.DataFrame([{"computed as": label, "seeds": len(recs), "test accuracy": pct_interval(interval(recs)),
                          "test AUC": f"{np.mean([r.metrics['test']['auc'] for r in recs]):.3f}",
                          "training per run": minutes(np.mean([r.metrics["fit_seconds"] for r in recs]))}
                         for label, recs in groups.items()])

