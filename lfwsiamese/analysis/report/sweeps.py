"""What the sweeps chapter reads from its tables and records, as formatted values for its prose."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ...records.store import Record
from .columns import FIT_S, TEST_ACC, TEST_AUC
from .numbers import short
from .stats import chosen_value, processor_of

#: The columns of a `sweep_table` that the chapter shows.
SWEEP_COLUMNS = ["seeds", "val acc mean", "val acc std", f"{TEST_ACC} mean", f"{TEST_ACC} std", f"{TEST_AUC} mean",
                 "epochs mean", f"{FIT_S} mean", "processor", "chosen"]


def sweep_reading(table: pd.DataFrame, reference_value: object, prefix: str) -> dict[str, str]:
    """A sweep with `min_seeds` in words: the value chosen on validation and its accuracy, the reference's value's
    accuracy, and the span of the compared means against the seeds' own spread."""
    v = chosen_value(table)
    both = table[~table["chosen"].str.startswith("(")]
    fmt = short if pd.api.types.is_float_dtype(table.index) else str
    return {prefix + "best": fmt(v) if v is not None else "not chosen yet (no value has all its seeds)",
            prefix + "best_val": f"{table.loc[v, 'val acc mean']:.3f}" if v is not None else "n/a",
            prefix + "ref": f"{table.loc[reference_value, 'val acc mean']:.3f}" if reference_value in table.index else "n/a",
            prefix + "ref_value": fmt(reference_value),
            prefix + "span": f"{both['val acc mean'].max() - both['val acc mean'].min():.3f}" if len(both) else "n/a",
            prefix + "sd": f"{both['val acc std'].mean():.3f}" if len(both) else "n/a"}


def early_stopped(table: pd.DataFrame, budget: int) -> str:
    """Where early stopping ended runs before the epoch budget (mean epochs below it), in words."""
    early = table[table["epochs mean"] < budget]
    return ("only at " + ", ".join(f"{short(v)} (after {e:.0f} epochs on average)" for v, e in early["epochs mean"].items())
            if len(early) else "at no learning rate")


def last_epochs_change(records: Sequence[Record], key: str, value: object, epochs: int = 2,
                       metric: str = "val_accuracy") -> float:
    """How much the mean (over seeds) per-epoch `metric` of the runs with `key` = `value` moved over their last
    `epochs` epochs."""
    from .tables import config_value
    h = pd.concat([r.history for r in records if config_value(r.config, key) == value]).groupby("epoch")[metric].mean()
    return float(h.iloc[-1] - h.iloc[-1 - epochs])


def epoch_means(records: Sequence[Record], key: str, epoch: str = "first", metric: str = "val_accuracy") -> str:
    """The mean (over seeds) `metric` of each value of `key` after its first or last recorded epoch, "v: x, ..."."""
    from .tables import config_value
    h = pd.concat([r.history.assign(v=config_value(r.config, key)) for r in records]).groupby(["v", "epoch"])[metric].mean()
    e = h.index.get_level_values(1).min() if epoch == "first" else h.index.get_level_values(1).max()
    return ", ".join(f"{v}: {h.loc[(v, e)]:.3f}" for v in sorted(h.index.get_level_values(0).unique()) if (v, e) in h.index)


def processors_by_value(records: Sequence[Record], key: str) -> str:
    """A warning sentence when a sweep's runs come from more than one processor (times then do not compare), else ""."""
    from .tables import config_value
    cpu: dict[object, set[str]] = {}
    for r in records:
        cpu.setdefault(config_value(r.config, key), set()).add(processor_of(r))
    if len({c for cs in cpu.values() for c in cs}) <= 1:
        return ""
    return ("Times compare fairly only on one processor, and these runs come from more than one: " +
            "; ".join(f"{key.split('.')[-1].replace('_', ' ')} {v} on {', '.join(sorted(c))}" for v, c in sorted(cpu.items())) + ".")


def time_extremes(table: pd.DataFrame, name: str) -> str:
    """The fastest and slowest value of a sweep (among the values with all their seeds), in minutes per run."""
    both = table[~table["chosen"].str.startswith("(")]
    if not len(both):
        return "n/a"
    fast, slow = both[f"{FIT_S} mean"].idxmin(), both[f"{FIT_S} mean"].idxmax()
    return (f"{name} {fast} trained fastest ({both.loc[fast, f'{FIT_S} mean'] / 60:.1f} minutes per run) and {name} {slow} "
            f"slowest ({both.loc[slow, f'{FIT_S} mean'] / 60:.1f} minutes, "
            f"{both.loc[slow, f'{FIT_S} mean'] / both.loc[fast, f'{FIT_S} mean']:.1f}x as long)")


def full_epochs(summary: pd.DataFrame, min_seeds: int) -> pd.DataFrame:
    """The rows of an `epochs_summary` that all `min_seeds` seeds reached."""
    return summary[summary[("seeds", "")] >= min_seeds] if not summary.empty else summary


def epochs_reading(full: pd.DataFrame) -> dict[str, str]:
    """The epoch sweep in words: when validation accuracy is best, and what validation loss does meanwhile."""
    if not len(full):
        return {"ep_best": "not known yet (no 30-epoch run with all its seeds)", "ep_loss": ""}
    best = int(full[("val_accuracy", "mean")].idxmax())
    last = int(full.index.max())
    vl = full[("val_loss", "mean")]
    low = int(vl.idxmin())
    if low != last:
        loss = (f"Mean validation loss is lowest after {low} epochs; after {last} epochs it is {vl.loc[last] - vl.min():.3f} "
                "higher, the network fitting its training pairs more closely than it generalises to new people, which is "
                "what early stopping on validation loss guards against (see the reproduction chapter).")
    else:
        loss = (f"Mean validation loss is lowest after {low} epochs, the last epoch run: it was still falling at {last} "
                "epochs, pulled down by the shrinking L2 penalty that dominates it (see the reproduction chapter)" +
                (", while validation accuracy peaked long before: loss and accuracy disagree on when to stop."
                 if best < last else "."))
    return {"ep_best": f"after {best} epochs", "ep_loss": loss}


def choice_reading(summary: pd.DataFrame) -> dict[str, str]:
    """A `choice_summary` in words: the largest gain of a choice, and whether any beats the seeds' spread."""
    small = bool((summary["gain"] <= summary["seed sd (mean over values)"]).all())
    return {"sw_gain_max": f"{summary['gain'].max():.3f}",
            "sw_read": ("Every choice gains less than the typical spread between two seeds of one value: none of them is a "
                        "measured improvement on the reference's settings, which is why the reproduction keeps them") if small
            else "At least one choice gains more than the spread between seeds; see its section above"}
