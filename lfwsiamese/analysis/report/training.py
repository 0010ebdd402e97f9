"""What the reproduction and initialization chapters read from training records: the reference against our
seeds, the L2 share of the loss, where early stopping stops, per-epoch tables, timing, and weights before and after
training. Tables are DataFrames; readings are dicts of formatted values that a chapter glues into its prose."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ...records.store import Record
from .columns import FIT_S, TEST_ACC, TEST_ACC_05, TEST_AUC, VAL_ACC
from .compare import mean_sd
from .literature import REFERENCE_REPORTED
from .stats import early_stop_epoch, processor_of
from .tables import run_table


def mean_sd_table(groups: dict[str, Sequence[Record]]) -> pd.DataFrame:
    """`mean_sd` of each non-empty group side by side (one column per group)."""
    return pd.DataFrame({label: mean_sd(recs) for label, recs in groups.items() if recs})


def reference_vs_ours(records: Sequence[Record], label: str = "ours, person-disjoint validation") -> pd.DataFrame:
    """The reference's reported accuracies next to the mean ± sd (and intervals) of our seeds."""
    ours = mean_sd(records)
    rep = pd.Series({TEST_ACC_05: f"{REFERENCE_REPORTED['test_accuracy']:.3f} (1 run)",
                     VAL_ACC: f"{REFERENCE_REPORTED['val_accuracy']:.3f} (1 run, pair-level validation)"})
    return pd.DataFrame({"reference (reported)": rep.reindex(ours.index).fillna(""), label: ours})


def l2_share(records: Sequence[Record]) -> float:
    """The mean over runs of the L2 penalty's share of the training loss after the last epoch."""
    last = [r.history.iloc[-1] for r in records]
    return float(np.mean([h["l2_penalty"] / h["loss"] for h in last]))


def stop_epochs(records: Sequence[Record], min_delta: float, patience: int) -> list[int]:
    """The distinct epochs at which EarlyStopping(val_loss, min_delta, patience) stops the recorded curves."""
    return sorted({early_stop_epoch(r.history["val_loss"].to_numpy(), min_delta, patience) for r in records})


def or_list(values: Sequence[object]) -> str:
    """"5", "9 or 10", "3, 4 or 5"."""
    v = [str(x) for x in values]
    return v[0] if len(v) == 1 else ", ".join(v[:-1]) + " or " + v[-1]


def best_epoch_reading(best: pd.DataFrame) -> dict[str, str]:
    """A `best_epochs` table in words: the epochs of lowest validation loss and of highest validation accuracy, and
    the mean gain in points of the latter over the last epoch."""
    return {"be_loss": or_list(sorted(set(best["epoch of min val_loss"]))),
            "be_acc": ", ".join(map(str, sorted(set(best["epoch of max val acc"])))),
            "be_gain": f"{(best['val acc, best epoch'] - best['val acc, last epoch']).mean() * 100:.1f}"}


def history_pivot(records: Sequence[Record], column: str | list[str]) -> pd.DataFrame:
    """Recorded per-epoch `column` (1-based epochs down, seeds across; with a list of columns, one block of seeds
    per column)."""
    h = pd.concat([r.history.assign(seed=r.config.seed) for r in records])
    h["epoch"] += 1
    return h.pivot_table(index="epoch", columns="seed", values=column)


def validation_kinds(person: Sequence[Record], pairval: Sequence[Record]) -> pd.DataFrame:
    """Mean validation and test metrics of the runs with each kind of validation split."""
    t = run_table(list(person) + list(pairval))
    return t.groupby("validation")[[VAL_ACC, TEST_ACC, TEST_AUC]].mean()


def validation_sentence(kinds: pd.DataFrame) -> str:
    """A `validation_kinds` table in words: each split's validation accuracy against its runs' test accuracy."""
    names = {"person": "person-disjoint", "pair": "pair-level"}
    return "; ".join(f"{names.get(k, k)} validation {row[VAL_ACC]:.3f} vs test {row[TEST_ACC]:.3f}"
                     for k, row in kinds.iterrows()) + "."


def timing_table(records: Sequence[Record]) -> pd.DataFrame:
    """Per run: epochs, fit time, time per epoch, training and prediction speed, memory, precision, processor."""
    t = run_table(records)
    return pd.DataFrame({
        "epochs": t["epochs"].to_numpy(), "fit seconds": t[FIT_S].round(0).to_numpy(),
        "seconds per epoch": (t[FIT_S] / t["epochs"]).round(1).to_numpy(), "train pairs/s": t["train pairs/s"].round(1).to_numpy(),
        "predict pairs/s": [r.metrics["predict_pairs_per_second"] for r in records],
        "peak RSS MiB": [round(r.metrics["peak_rss_mib"]) for r in records],
        "precision": [r.env.get("precision_policy") for r in records], "processor": [processor_of(r) for r in records],
    }, index=pd.Index(t["seed"].to_numpy(), name="seed"))


def train_pairs(records: Sequence[Record]) -> str:
    """The training pairs per epoch of these runs (one number, or their range)."""
    n = sorted({int(r.metrics["train_pairs"]) for r in records})
    return f"{n[0]:,}" if len(n) == 1 else f"{n[0]:,} to {n[-1]:,}"


def steps_per_epoch(records: Sequence[Record]) -> int:
    """Optimizer steps per epoch of these runs (training pairs / batch, rounded up); one value or an error."""
    n = {math.ceil(r.metrics["train_pairs"] / r.config.train.batch_size) for r in records}
    if len(n) != 1:
        raise ValueError(f"runs with different steps per epoch: {sorted(n)}")
    return n.pop()


def split_by_seeds(records: Sequence[Record], min_seeds: int = 2) -> tuple[list[Record], list[Record]]:
    """The runs of recipes with at least `min_seeds` seeds recorded, and the others (compared later)."""
    n = pd.Series([r.config.name for r in records]).value_counts()
    return ([r for r in records if n[r.config.name] >= min_seeds], [r for r in records if n[r.config.name] < min_seeds])


def weight_moves(records: Sequence[Record], variables: Sequence[str]) -> pd.DataFrame:
    """Mean and sd of each variable before and after training, from each record's weights.json."""
    rows = []
    for r in records:
        if r.weights is None:
            raise ValueError(f"{r.path.name} has no weights.json")
        for v in variables:
            h = r.weights[v]
            rows.append({"run": r.config.name, "variable": v, "mean before": h["before_mean"], "mean after": h["after_mean"],
                         "sd before": h["before_std"], "sd after": h["after_std"]})
    return pd.DataFrame(rows).set_index(["run", "variable"])


def spread_ratios(records: Sequence[Record], variables: Sequence[str]) -> pd.DataFrame:
    """Each variable's sd after training over its sd at initialization (variables down, runs across)."""
    rows = [{"run": r.config.name, "variable": v, "ratio": r.weights[v]["after_std"] / r.weights[v]["before_std"]}
            for r in records for v in variables]
    return pd.DataFrame(rows).pivot(index="variable", columns="run", values="ratio")


def init_reading(table: pd.DataFrame, complete: Sequence[Record]) -> dict[str, str]:
    """The initialization sweep (`sweep_table` by name) in words: the variant chosen on validation, the spread of the
    variants' means against the seeds' own, best minus worst with Welch's interval, where the choice ranks on test,
    and the first-layer bias's effect per scheme."""
    from .compare import mean_difference
    best = table.index[table["chosen"].str.startswith("<-")][0]
    worst = table["val acc mean"].idxmin()
    rank = int(table[f"{TEST_ACC} mean"].rank(ascending=False, method="min")[best])
    schemes = sorted({n.split("-")[1] for n in table.index if n.count("-") >= 2})
    both = [k for k in schemes if f"init-{k}-bias" in table.index and f"init-{k}-nobias" in table.index]
    gaps = {k: table.loc[f"init-{k}-bias", "val acc mean"] - table.loc[f"init-{k}-nobias", "val acc mean"] for k in both}
    d = mean_difference([r for r in complete if r.config.name == best], [r for r in complete if r.config.name == worst], VAL_ACC)
    return {"best": best, "worst": worst, "n_runs": str(len(complete)), "n_variants": str(len(table)),
            "sd": f"{table['val acc std'].mean():.3f}", "range": f"{table['val acc mean'].max() - table['val acc mean'].min():.3f}",
            "best_test_rank": {1: "first", 2: "second", 3: "third"}.get(rank, f"{rank}th"),
            "bias_schemes": ", ".join(both) or "none yet",
            "bias_gap": ", ".join(f"{k} {v:+.3f}" for k, v in gaps.items()) or "n/a",
            "welch": f"{d['difference']:+.3f} (95% interval {d['ci95 low']:+.3f} to {d['ci95 high']:+.3f}, Welch p = {d['p (Welch)']:.2f})"}


def weights_reading(moves: pd.DataFrame, ratios: pd.DataFrame) -> dict[str, str]:
    """The weight tables in words: how far the convolution biases move, how far zero-started biases spread, and the
    ranges of the spread ratios of convolution kernels, the embedding and the output layer."""
    conv_b = moves[moves.index.get_level_values("variable").str.startswith("conv")]
    zero = conv_b[conv_b["sd before"] == 0]

    def span(mask: "pd.Index", digits: int) -> str:
        v = ratios[mask].to_numpy().ravel()
        return f"{v.min():.{digits}f} to {v.max():.{digits}f}"
    return {"bias_shift": f"{(conv_b['mean after'] - conv_b['mean before']).abs().max():.4f}",
            "bias_sd_zero": f"{zero['sd after'].max():.4f}" if len(zero) else "n/a",
            "conv_ratio": span(ratios.index.str.startswith("conv"), 3),
            "emb_ratio": span(ratios.index == "embedding/kernel", 2),
            "out_ratio": span(ratios.index == "same_probability/kernel", 2)}


FAST, FP32, REPRO = "reference-fast", "reference-fp32", "reference (bf16, Keras BN)"


def precision_groups(precision: Sequence[Record], reproduction: Sequence[Record]) -> dict[str, list[Record]]:
    """The three ways of training the reference recipe that the precision check compares: plain float32, the
    reproduction's own runs (bfloat16, fused towers, Keras' batch norm), and the whole fast path."""
    return {FP32: [r for r in precision if r.config.name == FP32],
            REPRO: [r for r in reproduction if r.config.name == "reference"],
            FAST: [r for r in precision if r.config.name == FAST]}


def precision_reading(groups: dict[str, Sequence[Record]], diffs: pd.DataFrame) -> dict[str, str]:
    """What the precision paragraph says, from `precision_groups` and the fast-minus-float32 `difference_table`:
    the accuracy difference, time per epoch and per run of each side, and the training processes' peak memory."""
    fast, fp32 = list(groups[FAST]), list(groups[FP32])
    if not fast or not fp32:
        raise ValueError(f"precision_reading needs runs of both {FAST!r} and {FP32!r} (got {len(fast)} and "
                         f"{len(fp32)}); `lfwsiamese sweep precision` trains them")
    d = diffs.loc[TEST_ACC]
    ta, tb = run_table(fast), run_table(fp32)
    first = min(fast, key=lambda r: r.metrics["peak_rss_mib"])
    return {"prec_diff": f"{d['difference']:+.3f}", "prec_ci": f"[{d['ci95 low']:+.3f}, {d['ci95 high']:+.3f}]",
            "prec_p": f"{d['p (Welch)']:.2f}",
            "prec_seeds": str(len(fast)) if len(fast) == len(fp32) else f"{len(fast)} and {len(fp32)}",
            "t_fast": f"{(ta[FIT_S] / ta['epochs']).mean():.0f} s", "t_fp32": f"{(tb[FIT_S] / tb['epochs']).mean():.0f} s",
            "run_fast": f"{ta[FIT_S].mean() / 60:.1f} min", "run_fp32": f"{tb[FIT_S].mean() / 60:.1f} min",
            "ref_epochs": str(fast[0].config.train.epochs),
            "rss_first": f"{first.metrics['peak_rss_mib']:,.0f} MiB",
            "rss_first_run": f"{first.config.name} seed {first.config.seed}",
            "rss_max": f"{max(r.metrics['max_rss_mib_this_run'] for r in fast + fp32):,.0f} MiB"}
