"""Tables of records for the chapters: one row per run or per setting, columns named in one place."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from ...data import protocols as P
from ...data.splits import Split, leakage, make_split
from ...records.store import Record
from .columns import FIT_S, TEST_ACC, TEST_ACC_05, TEST_AUC, TEST_EER, VAL_ACC, VAL_AUC
from .stats import early_stop_epoch, paired_accuracy_se, processor_of, processors

if TYPE_CHECKING:
    from ...config import ExperimentConfig


def pairs_summary() -> pd.DataFrame:
    """Pairs, same/different, people and distinct images of each official pair file (View 2 per fold)."""
    rows = []
    for name, label in (("pairsDevTrain.txt", "View 1 train (DevTrain)"), ("pairsDevTest.txt", "View 1 test (DevTest)"),
                        ("pairs.txt", "View 2 (10 folds)")):
        pairs = P.load_pairs(name)
        rows.append({
            "split": label, "pairs": len(pairs), "same": sum(p.same for p in pairs),
            "different": sum(not p.same for p in pairs), "people": len({n for p in pairs for n in p.people}),
            "images": len({r for p in pairs for r in (p.a, p.b)}),
        })
    return pd.DataFrame(rows).set_index("split")


def people_summary() -> pd.DataFrame:
    rows = []
    counts = P.image_counts()
    rows.append({"set": "all of LFW", "people": len(counts), "images": sum(counts.values()),
                 "people with >= 2 images": sum(c >= 2 for c in counts.values())})
    for name in ("peopleDevTrain.txt", "peopleDevTest.txt"):
        s = P.load_people(name)[0]
        rows.append({"set": name, "people": len(s.counts), "images": s.n_images,
                     "people with >= 2 images": sum(c >= 2 for _, c in s.counts)})
    return pd.DataFrame(rows).set_index("set")


def split_comparison(seeds: Iterable[int] = (0, 1, 2), val_fraction: float = 0.2) -> pd.DataFrame:
    """Leakage of the person-disjoint split and of the reference's pair-level split, per seed."""
    train = P.load_pairs("pairsDevTrain.txt")
    rows = []
    for kind in ("person", "pair"):
        for seed in seeds:
            split: Split = make_split(train, kind, val_fraction, seed)
            rows.append({"split": "person-disjoint (ours)" if kind == "person" else "pair-level (reference)", "seed": seed,
                         **leakage(split)})
    return pd.DataFrame(rows)


METRIC_COLUMNS = {
    ("test", "accuracy"): TEST_ACC,
    ("test", "accuracy_at_0.5"): TEST_ACC_05,
    ("test", "auc"): TEST_AUC,
    ("test", "eer"): TEST_EER,
    ("val", "accuracy"): VAL_ACC,
}


def run_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per run: seed, epochs, metrics, time."""
    rows = []
    for r in records:
        m = r.metrics
        row = {"run": r.path.name, "name": r.config.name, "seed": r.config.seed, "validation": m.get("validation"),
               "epochs": m["epochs_run"], "threshold": m["threshold"]}
        row.update({label: m[s][k] for (s, k), label in METRIC_COLUMNS.items()})
        row.update({FIT_S: m["fit_seconds"], "train pairs/s": m["train_pairs_per_second"]})
        rows.append(row)
    return pd.DataFrame(rows)


def top_pairs(rec: Record, kind: str, n: int = 4) -> pd.DataFrame:
    """Most confident right or wrong pairs of each class at the record's validation threshold."""
    df = rec.scores.copy()
    t = rec.metrics["threshold"]
    df["pred"] = (df["score"] > t).astype(int)
    df["right"] = df["pred"] == df["label"]
    df["confidence"] = np.abs(df["score"] - t)
    sel = df[df["right"] == (kind == "right")]
    out = []
    for label in (1, 0):
        out.append(sel[sel["label"] == label].sort_values("confidence", ascending=False).head(n))
    return pd.concat(out)


def stopping_table(records: Sequence[Record], deltas: Sequence[float] = (0.1, 0.01, 0.001, 0.0),
                   patiences: Sequence[int] = (5, 2)) -> pd.DataFrame:
    """Where EarlyStopping(val_loss) would stop each recorded curve, for several min_delta and patience values."""
    rows = []
    for r in records:
        v = r.history["val_loss"].to_numpy()
        for d in deltas:
            for p in patiences:
                rows.append({"run": f"{r.config.name} s{r.config.seed}", "min_delta": d, "patience": p,
                             "stops after epoch": early_stop_epoch(v, d, p), "of epochs recorded": len(v)})
    return pd.DataFrame(rows).pivot_table(index=["min_delta", "patience"], columns="run", values="stops after epoch")


def epochs_table(records: Sequence[Record], grid: Sequence[int]) -> pd.DataFrame:
    """Metrics after k epochs, read from long runs without early stopping or schedules (epoch k of such a run is
    exactly the k-epoch run: each epoch's order depends only on (seed, epoch)). Mean and sd over seeds."""
    rows = []
    for r in records:
        h = r.history.set_index("epoch")
        for k in grid:
            if k - 1 in h.index:
                row = h.loc[k - 1]
                rows.append({"epochs": k, "seed": r.config.seed, "val_loss": row["val_loss"], "val_accuracy": row["val_accuracy"],
                             "train_loss": row["loss"], "test_accuracy_unused": row.get("test_accuracy_unused_for_choices"),
                             "test_auc_unused": row.get("test_auc_unused_for_choices")})
    return pd.DataFrame(rows)


EPOCH_METRICS = ("val_accuracy", "val_loss", "train_loss", "test_accuracy_unused")


def epochs_summary(records: Sequence[Record], grid: Sequence[int]) -> pd.DataFrame:
    """Mean and sd over seeds of `epochs_table`, one row per epoch count of `grid` that some run reached."""
    t = epochs_table(records, grid)
    if t.empty:
        cols = pd.MultiIndex.from_tuples([("seeds", "")] + [(m, a) for m in EPOCH_METRICS for a in ("mean", "std")])
        return pd.DataFrame(columns=cols, index=pd.Index([], name="epochs"), dtype=float)
    out = t.groupby("epochs")[list(EPOCH_METRICS)].agg(["mean", "std"])
    out.insert(0, ("seeds", ""), t.groupby("epochs").size())
    return out


def choice_summary(sweeps: dict[str, tuple[pd.Series, pd.Series, object]]) -> pd.DataFrame:
    """One row per sweep: the validation choice against the reference's value, next to the seed noise.

    `sweeps` maps a name to (mean validation accuracy by value, its sd over seeds by value, the reference's
    value). The gain is only worth reading next to `seed sd`, the typical spread between seeds of one value."""
    rows = {}
    for name, (mean, sd, ref) in sweeps.items():
        if ref not in mean.index:
            raise ValueError(f"sweep {name!r}: the reference value {ref!r} is not among the values swept "
                             f"({list(mean.index)}); pass the value the reference used")
        best = mean.idxmax()
        # values as text: one column holds learning rates and batch sizes, which rounding would garble
        rows[name] = {"reference value": f"{ref:g}", "chosen on validation": f"{best:g}",
                      "val acc at reference": mean[ref], "val acc at chosen": mean[best],
                      "gain": mean[best] - mean[ref], "seed sd (mean over values)": sd.mean()}
    return pd.DataFrame.from_dict(rows, orient="index")


def _bench_record(path: str | os.PathLike | None = None) -> dict:
    """The stored `lfwsiamese bench` record (default `results/bench/cpu.json`), read by the two functions below."""
    import json
    from pathlib import Path

    from ...records.store import results_dir
    return json.loads((Path(path) if path else results_dir() / "bench" / "cpu.json").read_text())


def bench_environment(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Where the stored `lfwsiamese bench` record was made (`bench_cpu`, `bench_cores`): its numbers hold for that
    processor only."""
    env = _bench_record(path)["env"]
    return {"bench_cpu": str(env["cpu"]), "bench_cores": str(env["cpu_count"])}


ENV_KEYS = ("cpu", "cpu_count", "device", "precision_policy", "tensorflow", "keras", "python", "platform")


def environment(record: Record | None) -> pd.Series:
    """A record's environment (`env.json`): processor, device, precision and library versions; empty values when
    there is no record yet."""
    env = record.env if record is not None else {}
    return pd.Series({k: env.get(k) for k in ENV_KEYS}, name=f"environment of {record.path.name}" if record else "no record")


def bench_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored `lfwsiamese bench` record as a side-by-side table (reference-style loop vs ours)."""
    d = _bench_record(path)
    rows = {
        "precision": ("precision", "{}"), "input": ("input", "{}"),
        "train pairs/s": ("train_pairs_per_s", "{:.1f}"), "predict pairs/s": ("predict_pairs_per_s", "{:.1f}"),
        "predict 1,000 pairs (s)": ("predict_1000_pairs_s", "{:.2f}"), "train GFLOP/s": ("train_gflop_per_s", "{:.0f}"),
        "fraction of nominal peak": ("fraction_of_peak", "{:.1%}"),
    }
    out = {name: {side: fmt.format(d[side][key]) for side in ("reference_style", "ours")} for name, (key, fmt) in rows.items()}
    t = pd.DataFrame(out).T.rename(columns={"reference_style": "reference style", "ours": "ours"})
    t.loc["speed-up (ours / reference style)"] = ["", f"train {d['train_speedup']:.2f}x, predict {d['predict_speedup']:.2f}x"]
    return t


def config_diff(a: "ExperimentConfig", b: "ExperimentConfig") -> pd.DataFrame:
    """Every field where two configs differ (name and seed aside): what changed from one to the other."""
    da, db = a.to_dict(), b.to_dict()
    rows = []
    for sect in ("data", "model", "train"):
        for k in da[sect]:
            if da[sect][k] != db[sect][k]:
                rows.append({"field": f"{sect}.{k}", a.name: da[sect][k], b.name: db[sect][k]})
    return pd.DataFrame(rows).set_index("field")


def oneshot_table(records: Sequence[Record]) -> pd.DataFrame:
    """The stored N-way one-shot results (oneshot.csv) of these runs, one row per method and N."""
    frames = []
    for r in records:
        f = r.path / "oneshot.csv"
        if f.is_file():
            frames.append(pd.read_csv(f).assign(run=r.path.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_models(runs: pd.Series) -> pd.Series:
    """The recipe of each run name (`improved-s1-abcd` -> `improved`), which groups a model's seeds."""
    return runs.str.split("-s").str[0]


def oneshot_at(table: pd.DataFrame, n: int = 20) -> dict[str, str]:
    """A `oneshot_table` read at one N, as text: each model's Siamese and pixel-baseline accuracy (means over its
    seeds; keys `<model>` and `<model>_pix`) and the reference network's gain over its own pixels, in points;
    "n/a" for whatever is not recorded. Also `n` itself and `trials`, the trials per point (one count, or a range)."""
    out = {k: "n/a" for k in ("improved", "improved_pix", "reference", "reference_pix", "reference_gain", "trials")}
    out["n"] = str(n)
    if table.empty:
        return out
    at = table[table["N"] == n]
    if "n_trials" in at and len(at):
        t = sorted({int(x) for x in at["n_trials"]})
        out["trials"] = f"{t[0]:,}" if len(t) == 1 else f"{t[0]:,} to {t[-1]:,}"
    mean = {}
    for model in ("improved", "reference"):
        for method, key in (("siamese", model), ("pixels_nn", f"{model}_pix")):
            acc = at[run_models(at["run"]).eq(model) & at["method"].eq(method)]["accuracy"]
            if len(acc):
                mean[key] = float(acc.mean())
                out[key] = f"{mean[key]:.0%}"
    if "reference" in mean and "reference_pix" in mean:
        out["reference_gain"] = f"{(mean['reference'] - mean['reference_pix']) * 100:.1f}"
    return out


def view2_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per View 2 fold: test accuracy at the validation threshold and at 0.5, AUC, EER, training time."""
    rows = []
    for r in sorted(records, key=lambda r: r.config.data.fold):
        if r.config.data.protocol != "view2":
            raise ValueError(f"{r.path.name} is a {r.config.data.protocol} record, not a View 2 fold")
        t = r.metrics["test"]
        rows.append({"fold": r.config.data.fold, "test pairs": t["n_pairs"], TEST_ACC: t["accuracy"],
                     TEST_ACC_05: t["accuracy_at_0.5"], TEST_AUC: t["auc"], TEST_EER: t["eer"],
                     VAL_ACC: r.metrics["val"]["accuracy"], "train people": r.metrics["train_people_count"],
                     FIT_S: r.metrics["fit_seconds"]})
    return pd.DataFrame(rows).set_index("fold")


def config_value(cfg: "ExperimentConfig", key: str) -> object:
    """A config field by dotted key (train.learning_rate), for grouping records of a sweep."""
    obj: object = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


SWEEP_METRICS = (VAL_ACC, VAL_AUC, TEST_ACC, TEST_AUC, "epochs", FIT_S)


def sweep_table(records: Sequence[Record], key: str, min_seeds: int = 1) -> pd.DataFrame:
    """Mean and sd over seeds of validation and test metrics for each value of `key` (a dotted config field,
    or "name"), and the processors its runs were trained on; `chosen` marks the value with the best mean validation accuracy, the only criterion used,
    among the values with at least `min_seeds` seeds (a half-finished sweep must not crown a lucky single run)."""
    if min_seeds < 1:
        raise ValueError(f"min_seeds must be >= 1, got {min_seeds}")
    rows = []
    for r in records:
        m = r.metrics
        rows.append({key: config_value(r.config, key), "seed": r.config.seed, VAL_ACC: m["val"]["accuracy"],
                     VAL_AUC: m["val"]["auc"], TEST_ACC: m["test"]["accuracy"],
                     TEST_AUC: m["test"]["auc"], "epochs": m["epochs_run"], FIT_S: m["fit_seconds"],
                     "processor": processor_of(r)})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    g = df.groupby(key, sort=True)
    out = g[list(SWEEP_METRICS)].agg(["mean", "std"])
    out.columns = [f"{a} {b}" for a, b in out.columns]
    out.insert(0, "seeds", g.size())
    out["processor"] = g["processor"].agg(lambda p: ", ".join(sorted(set(p))))  # times compare on one processor only
    eligible = out[out["seeds"] >= min_seeds]
    best = eligible["val acc mean"].idxmax() if len(eligible) else None
    out["chosen"] = ["<- best validation accuracy" if v == best else
                     (f"({n} seed{'s' if n != 1 else ''}: not compared)" if n < min_seeds else "")
                     for v, n in zip(out.index, out["seeds"])]
    return out


def ablation_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored `lfwsiamese bench --ablation` record: each optimization's training speed, one at a time."""
    import json
    from pathlib import Path

    from ...records.store import results_dir
    p = Path(path) if path else results_dir() / "bench" / "ablation-cpu.json"
    from ...training.bench import add_gains
    d = json.loads(p.read_text())
    rows = d["variants"]
    add_gains(rows)  # recomputed from the stored speeds and settings
    t = pd.DataFrame(rows)
    t = t.rename(columns={"label": "variant", "train_pairs_per_s": "train pairs/s",
                          "train_speedup_vs_reference_style": "x reference style", "train_gain_vs_compared": "x compared",
                          "compared_with": "compared with", "predict_1000_pairs_s": "predict 1,000 pairs (s)",
                          "train_gflop_per_s": "train GFLOP/s"})
    return t.set_index("variant")[["setup", "train pairs/s", "x reference style", "x compared", "compared with",
                                   "predict 1,000 pairs (s)", "train GFLOP/s"]]


def model_ablation(base: Sequence[Record], variants: Sequence[Record]) -> pd.DataFrame:
    """The improved model against itself minus one component at a time (`sweep ablation`), and minus test-time
    flip averaging (the same weights scored without the mirror, `without_tta`).

    Differences are paired by seed: a variant's seed k is compared with the full model's seed k, so the
    seed-to-seed spread common to both cancels. Validation decides what is kept; test is reported beside it.
    Each row names the processor(s) its runs were trained on, and whether that is the full model's: where it is
    not, a paired difference also holds whatever the processors change (timing, and bfloat16 kernels' rounding).
    """
    from ...runs.plans import ABLATION_LABELS
    by_seed = {r.config.seed: r.metrics for r in base}
    base_rec = {r.config.seed: r for r in base}
    sigma = float(np.std([m["val"]["accuracy"] for m in by_seed.values()], ddof=1)) if len(by_seed) > 1 else 0.0
    groups: dict[str, list[tuple[int, dict]]] = {"improved (everything)": [(s, m) for s, m in by_seed.items()]}
    recs: dict[str, list[Record]] = {}
    labels = {"improved (everything)": "", "without test-time flip": "the same weights, scored without the mirrored pair"}
    tta = [(s, m["without_tta"]) for s, m in by_seed.items() if "without_tta" in m]
    if tta:
        groups["without test-time flip"] = tta
    for r in variants:
        step = r.config.name.removeprefix("improved-")
        if step not in ABLATION_LABELS:
            raise ValueError(f"{r.path.name}: {r.config.name!r} is not an ablation of the improved model "
                             f"(expected improved-<step>, step one of {sorted(ABLATION_LABELS)})")
        groups.setdefault(f"- {step}", []).append((r.config.seed, r.metrics))
        recs.setdefault(f"- {step}", []).append(r)
        labels[f"- {step}"] = ABLATION_LABELS[step]
    rows = []
    for name, runs in groups.items():
        val = np.array([m["val"]["accuracy"] for _, m in runs])
        test = np.array([m["test"]["accuracy"] for _, m in runs])
        paired = [(m["val"]["accuracy"] - by_seed[s]["val"]["accuracy"], m["test"]["accuracy"] - by_seed[s]["test"]["accuracy"])
                  for s, m in runs if s in by_seed]
        d = np.array(paired) if paired else np.full((1, 2), np.nan)
        if name == "improved (everything)":
            se = np.nan
        elif name in recs:  # retrained: the pairs' noise of each seed's difference plus the seeds' own spread
            pair_se = [paired_accuracy_se(r, base_rec[r.config.seed]) for r in recs[name] if r.config.seed in base_rec]
            n = len(pair_se)
            se = float(np.sqrt(np.sum(np.square(pair_se)) / n ** 2 + 2 * sigma ** 2 / n)) if n else np.nan
        else:  # the same weights rescored: the spread of the paired differences themselves
            se = float(d[:, 0].std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan
        rows.append({"variant": name, "what changes": labels[name], "seeds": ",".join(str(s) for s, _ in sorted(runs, key=lambda x: x[0])),
                     "val acc mean": val.mean(), "val acc sd": val.std(ddof=1) if len(val) > 1 else np.nan,
                     "val change (paired)": d[:, 0].mean() if name != "improved (everything)" else 0.0,
                     "val change se": se,
                     "test acc mean": test.mean(), "test acc sd": test.std(ddof=1) if len(test) > 1 else np.nan,
                     "test change (paired)": d[:, 1].mean() if name != "improved (everything)" else 0.0,
                     "test AUC mean": np.mean([m["test"]["auc"] for _, m in runs]),
                     "processor": processors(recs.get(name, base)),
                     "same processor as the full model": processors(recs.get(name, base)) == processors(base)})
    return pd.DataFrame(rows).set_index("variant")
