"""Tables for the book, computed from data and records (never typed by hand)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from . import protocols as P
from .data import Split, leakage, make_split
from .experiments import Record, find_record, load_or_run
from .sweeps import get_plan

if TYPE_CHECKING:
    from .config import ExperimentConfig

#: Published numbers of the reference (nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition,
#: its README), cited in the book next to our measurements; see ../shared/anchors.md.
REFERENCE_REPORTED = {"test_accuracy": 0.731, "val_accuracy": 0.734, "params_total": 38_954_049}
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
    ("test", "accuracy"): "test acc (val threshold)",
    ("test", "accuracy_at_0.5"): "test acc @0.5",
    ("test", "auc"): "test AUC",
    ("test", "eer"): "test EER",
    ("val", "accuracy"): "val acc",
}


def run_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per run: seed, epochs, metrics, time."""
    rows = []
    for r in records:
        m = r.metrics
        row = {"run": r.path.name, "name": r.config.name, "seed": r.config.seed, "validation": m.get("validation"),
               "epochs": m["epochs_run"], "threshold": m["threshold"]}
        row.update({label: m[s][k] for (s, k), label in METRIC_COLUMNS.items()})
        row.update({"fit s": m["fit_seconds"], "train pairs/s": m["train_pairs_per_second"]})
        rows.append(row)
    return pd.DataFrame(rows)


def mean_sd(records: Sequence[Record]) -> pd.Series:
    """Mean ± sd over seeds of each headline metric, as text."""
    t = run_table(records)
    out = {}
    for col in ["test acc (val threshold)", "test acc @0.5", "test AUC", "test EER", "val acc", "epochs", "fit s"]:
        v = t[col].to_numpy(dtype=float)
        fmt = "{:.3f}" if col not in ("epochs", "fit s") else "{:.0f}"
        out[col] = fmt.format(v.mean()) + (f" ± {fmt.format(v.std(ddof=1))}" if len(v) > 1 else " (1 seed)")
    out["seeds"] = len(t)
    return pd.Series(out)


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


def as_pairs(df: pd.DataFrame) -> list[P.Pair]:
    return [P.Pair(P.ImageRef(r.name_a, int(r.index_a)), P.ImageRef(r.name_b, int(r.index_b))) for r in df.itertuples()]


def early_stop_epoch(values: Sequence[float], min_delta: float, patience: int) -> int:
    """The epoch count (1-based) at which Keras' EarlyStopping on a 'min' metric would stop this curve."""
    best, wait = float("inf"), 0
    for k, v in enumerate(values):
        if v < best - min_delta:
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                return k + 1
    return len(values)


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


def chosen_value(table: pd.DataFrame) -> object | None:
    """The value a `sweep_table` chose on validation, or None when no value was eligible."""
    hit = table.index[table["chosen"].str.startswith("<-")] if "chosen" in table else []
    return hit[0] if len(hit) else None


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


def bench_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored `lfwsiamese bench` record as a side-by-side table (reference-style loop vs ours)."""
    import json
    from pathlib import Path

    from .experiments import results_dir
    p = Path(path) if path else results_dir() / "bench" / "cpu.json"
    d = json.loads(p.read_text())
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


def view2_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per View 2 fold: test accuracy at the validation threshold and at 0.5, AUC, EER, training time."""
    rows = []
    for r in sorted(records, key=lambda r: r.config.data.fold):
        if r.config.data.protocol != "view2":
            raise ValueError(f"{r.path.name} is a {r.config.data.protocol} record, not a View 2 fold")
        t = r.metrics["test"]
        rows.append({"fold": r.config.data.fold, "test pairs": t["n_pairs"], "test acc (val threshold)": t["accuracy"],
                     "test acc @0.5": t["accuracy_at_0.5"], "test AUC": t["auc"], "test EER": t["eer"],
                     "val acc": r.metrics["val"]["accuracy"], "train people": r.metrics["train_people_count"],
                     "fit s": r.metrics["fit_seconds"]})
    return pd.DataFrame(rows).set_index("fold")


def config_value(cfg: "ExperimentConfig", key: str) -> object:
    """A config field by dotted key (train.learning_rate), for grouping records of a sweep."""
    obj: object = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


SWEEP_METRICS = ("val acc", "val AUC", "test acc (val threshold)", "test AUC", "epochs", "fit s")


def sweep_table(records: Sequence[Record], key: str, min_seeds: int = 1) -> pd.DataFrame:
    """Mean and sd over seeds of validation and test metrics for each value of `key` (a dotted config field,
    or "name"); `chosen` marks the value with the best mean validation accuracy, the only criterion used,
    among the values with at least `min_seeds` seeds (a half-finished sweep must not crown a lucky single run)."""
    if min_seeds < 1:
        raise ValueError(f"min_seeds must be >= 1, got {min_seeds}")
    rows = []
    for r in records:
        m = r.metrics
        rows.append({key: config_value(r.config, key), "seed": r.config.seed, "val acc": m["val"]["accuracy"],
                     "val AUC": m["val"]["auc"], "test acc (val threshold)": m["test"]["accuracy"],
                     "test AUC": m["test"]["auc"], "epochs": m["epochs_run"], "fit s": m["fit_seconds"]})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    g = df.groupby(key, sort=True)
    out = g[list(SWEEP_METRICS)].agg(["mean", "std"])
    out.columns = [f"{a} {b}" for a, b in out.columns]
    out.insert(0, "seeds", g.size())
    eligible = out[out["seeds"] >= min_seeds]
    best = eligible["val acc mean"].idxmax() if len(eligible) else None
    out["chosen"] = ["<- best validation accuracy" if v == best else
                     (f"({n} seed{'s' if n != 1 else ''}: not compared)" if n < min_seeds else "")
                     for v, n in zip(out.index, out["seeds"])]
    return out


def plan_progress(plan: str) -> dict[str, object]:
    """How far a plan is: runs recorded of runs planned and the run names still missing, so a chapter built
    from a half-finished sweep says so in its text instead of silently showing fewer points."""
    cfgs = get_plan(plan)
    missing = [c.run_name for c in cfgs if find_record(c) is None]
    return {"plan": plan, "planned": len(cfgs), "recorded": len(cfgs) - len(missing), "missing": missing,
            "complete": not missing}


def mean_difference(a: Sequence[Record], b: Sequence[Record], col: str = "test acc (val threshold)") -> dict[str, float]:
    """Mean of `a` minus mean of `b` for one metric, with Welch's 95% interval and p-value (seeds as samples)."""
    from scipy import stats
    xa, xb = run_table(a)[col].to_numpy(float), run_table(b)[col].to_numpy(float)
    if len(xa) < 2 or len(xb) < 2:
        raise ValueError(f"need >= 2 runs on each side to compare {col!r}; got {len(xa)} and {len(xb)}")
    t = stats.ttest_ind(xa, xb, equal_var=False)
    lo, hi = t.confidence_interval(0.95)
    return {"metric": col, "mean a": float(xa.mean()), "mean b": float(xb.mean()), "difference": float(xa.mean() - xb.mean()),
            "ci95 low": float(lo), "ci95 high": float(hi), "p (Welch)": float(t.pvalue), "runs a": len(xa), "runs b": len(xb)}


def ablation_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored `lfwsiamese bench --ablation` record: each optimization's training speed, one at a time."""
    import json
    from pathlib import Path

    from .experiments import results_dir
    p = Path(path) if path else results_dir() / "bench" / "ablation-cpu.json"
    from .bench import add_gains
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


def paired_accuracy_se(a: Record, b: Record) -> float:
    """Standard error of the validation-accuracy difference of two runs, from the pairs they were scored on.

    Each run is right or wrong on each pair at its own chosen threshold; the per-pair differences (-1, 0, +1)
    average to the accuracy difference, and their sd / sqrt(pairs) is the noise from which pairs happened to
    be drawn (McNemar's view). Runs of one seed share validation people and pairs, so they can be paired; where
    they do not, the difference of two independent proportions is used instead."""
    va, vb = a.val_scores, b.val_scores
    ra = ((va["score"] > a.metrics["threshold"]).astype(int) == va["label"]).astype(float)
    rb = ((vb["score"] > b.metrics["threshold"]).astype(int) == vb["label"]).astype(float)
    keys = ["name_a", "index_a", "name_b", "index_b", "label"]
    if len(va) == len(vb) and va[keys].reset_index(drop=True).equals(vb[keys].reset_index(drop=True)):
        d = ra.to_numpy() - rb.to_numpy()
        return float(d.std(ddof=1) / np.sqrt(len(d)))
    pa, pb = ra.mean(), rb.mean()
    return float(np.sqrt(pa * (1 - pa) / len(ra) + pb * (1 - pb) / len(rb)))


def model_ablation(base: Sequence[Record], variants: Sequence[Record]) -> pd.DataFrame:
    """The improved model against itself minus one component at a time (`sweep ablation`), and minus test-time
    flip averaging (the same weights scored without the mirror, `without_tta`).

    Differences are paired by seed: a variant's seed k is compared with the full model's seed k, so the
    seed-to-seed spread common to both cancels. Validation decides what is kept; test is reported beside it.
    """
    from .sweeps import ABLATION_LABELS
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
                     "test AUC mean": np.mean([m["test"]["auc"] for _, m in runs])})
    return pd.DataFrame(rows).set_index("variant")


def ablation_verdicts(abl: pd.DataFrame, z: float = 2.0) -> pd.DataFrame:
    """What validation says of each component, from a `model_ablation` table.

    A change counts when it is more than `z` standard errors from zero (`val change se`: for a retrained
    variant, the noise of which validation pairs were drawn plus the full model's seed-to-seed spread; for
    rescored weights, the spread of the paired differences). With one or two seeds this is a rule of thumb."""
    if "val change se" not in abl:
        raise ValueError("the ablation table has no 'val change se' column: build it with report.model_ablation")
    rows = []
    for name, row in abl.drop(index="improved (everything)", errors="ignore").iterrows():
        change, se = float(row["val change (paired)"]), float(row["val change se"])
        bar = z * se
        verdict = ("no noise estimate" if not np.isfinite(bar) else
                   "needed" if change <= -bar else "not needed" if change >= bar else "within noise")
        rows.append({"variant": name, "val change (paired)": change, "noise bar": bar,
                     "seeds": len(str(row["seeds"]).split(",")), "verdict": verdict})
    return pd.DataFrame(rows, columns=["variant", "val change (paired)", "noise bar", "seeds", "verdict"]).set_index("variant")


def ablation_sentence(verdicts: pd.DataFrame) -> str:
    """The verdicts in one sentence for the book, every number taken from the table."""
    from .sweeps import ABLATION_COMPONENTS
    names = {f"- {k}": v for k, v in ABLATION_COMPONENTS.items()} | {"without test-time flip": "the test-time flip"}

    def part(v: str) -> list[str]:
        sel = verdicts[verdicts["verdict"] == v].sort_values("val change (paired)")
        return [f"{names.get(name, name)} ({row['val change (paired)'] * 100:+.1f})" for name, row in sel.iterrows()]
    def join(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    out = []
    if needed := part("needed"):
        one = len(needed) == 1
        out.append(f"{join(needed)} {'is' if one else 'are each'} needed: taking {'it' if one else 'any one of them'} "
                   "away costs validation accuracy beyond its noise")
    if noise := part("within noise"):
        one = len(noise) == 1
        out.append(f"for {join(noise)} the change is within its noise, so validation cannot say whether "
                   f"{'it helps' if one else 'they help'}")
    if better := part("not needed"):
        one = len(better) == 1
        out.append(f"taking away {'' if one else 'any one of '}{join(better)} improves validation accuracy beyond its "
                   f"noise, so on this budget {'it hurts' if one else 'they hurt'}")
    if not out:
        return "no ablation run is recorded yet"
    return "; ".join(out) + " (changes in points of validation accuracy, paired by seed)"


#: Other public implementations of the same exercise and their reported accuracy on the 1,000 DevTest pairs,
#: as collected in ../shared/anchors.md (GitHub repositories' READMEs). Cited, not measured here.
PEERS_DEVTEST = (
    ("Itay-Saig/Face-Recognition-using-Siamese-Neural-Networks", 0.765, "best of 8 runs, chosen on test (0.683-0.765)"),
    ("shaharoded/Siamese-Neural-Networks-One-Shot-Image-Recognition", 0.739, "250x250, 9x affine augmentation"),
    ("nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition (the reference)", 0.731, "one run, threshold 0.5"),
    ("OrBenNaim/FacialRecognition", 0.719, "128x128, BN, dropout, augmentation"),
    ("MaorSagi/SiameseCNN", 0.712, "person-disjoint validation, augmentation"),
    ("efratrvd/one-shot-face-recognition", 0.711, "/255, BN, lr decay"),
    ("eyalshub/One-shot-Face-Recognition-with-Siamese-Network", 0.706, "port of the reference"),
    ("nts-e/Siamese-Face-Detection-CNN", 0.706, "768-config grid search"),
    ("YuvalSabag/DeepLearning-2", 0.698, "Koch + BN + dropout"),
    ("denisrize/SiameseNN-for-FaceRecognition", 0.69, "contrastive loss, small net"),
    ("amitshakarchy/Deep-Learning", 0.687, "BN, dropout, flips"),
)

#: View 2 mean accuracies on the LFW results page that ../shared/anchors.md marks as verified.
LFW_VIEW2_VERIFIED = (
    ("Eigenfaces", 0.6002), ("Nowak (funneled)", 0.7393), ("Nowak, on LFW-a", 0.7912), ("V1-like/MKL", 0.7935),
)


def view2_comparison(records: Sequence[Record], label: str = "lfwsiamese: improved") -> pd.DataFrame:
    """Our View 2 mean ± standard error next to the verified results-page numbers; our row only when all ten
    folds are recorded (a partial mean is not the protocol's number)."""
    from .evaluate import fold_summary
    rows = [{"method": name, "View 2 accuracy": acc, "SE": np.nan, "source": "LFW results page (anchors.md)"}
            for name, acc in LFW_VIEW2_VERIFIED]
    folds = sorted({r.config.data.fold for r in records})
    if folds == list(range(10)):
        s = fold_summary([r.metrics["test"] for r in records])
        rows.append({"method": label, "View 2 accuracy": s["accuracy"]["mean"], "SE": s["accuracy"]["se"],
                     "source": "measured here, 10 folds, threshold on each fold's validation people"})
    return pd.DataFrame(rows).sort_values("View 2 accuracy", ascending=False).set_index("method")


def view2_sentence(records: Sequence[Record], target: float = 0.85) -> str:
    """The View 2 result in words, against the issue's target, or what is missing for it."""
    from .evaluate import fold_summary
    folds = sorted({r.config.data.fold for r in records})
    if folds != list(range(10)):
        return (f"the ten-fold mean is stated once all ten folds are recorded ({len(folds)} of 10 so far); "
                "a mean of some folds is not the protocol's number")
    s = fold_summary([r.metrics["test"] for r in records])
    acc, se = s["accuracy"]["mean"], s["accuracy"]["se"]
    gap = (acc - target) * 100
    verdict = (f"above the {target:.0%} set as this model's target by {gap:.1f} points" if gap >= 0 else
               f"{-gap:.1f} points short of the {target:.0%} set as this model's target")
    return (f"over the ten folds the improved model reaches {acc:.1%} ± {se:.1%} (mean ± standard error; folds "
            f"{min(r.metrics['test']['accuracy'] for r in records):.1%} to "
            f"{max(r.metrics['test']['accuracy'] for r in records):.1%}), with AUC {s['auc']['mean']:.3f}: "
            f"{verdict}. At the fixed threshold 0.5, which nothing was tuned to, the mean is "
            f"{s['accuracy_at_0.5']['mean']:.1%}; the protocol's number is the one at the threshold chosen on "
            "each fold's validation people, and only that one is quoted")


def peers_table(ours: dict[str, Sequence[Record]]) -> pd.DataFrame:
    """Our seed-averaged DevTest accuracy (validation threshold) next to the peers' reported single numbers."""
    rows = [{"implementation": name, "DevTest accuracy": acc, "how": how, "source": "reported (anchors.md)"}
            for name, acc, how in PEERS_DEVTEST]
    for label, recs in ours.items():
        if recs:
            acc = run_table(recs)["test acc (val threshold)"]
            rows.append({"implementation": label, "DevTest accuracy": float(acc.mean()),
                         "how": f"mean of {len(acc)} seeds, threshold chosen on validation people",
                         "source": ", ".join(r.path.name for r in recs)})
    return pd.DataFrame(rows).sort_values("DevTest accuracy", ascending=False).set_index("implementation")


def error_overlap(a: Record, b: Record) -> pd.DataFrame:
    """How the test pairs split between right and wrong for two runs (each at its own validation threshold)."""
    sa, sb = a.scores, b.scores
    key = ["name_a", "index_a", "name_b", "index_b"]
    if not sa[key].equals(sb[key]):
        raise ValueError(f"{a.path.name} and {b.path.name} scored different pairs")
    ra = np.where((sa["score"] > a.metrics["threshold"]).astype(int) == sa["label"], "right", "wrong")
    rb = np.where((sb["score"] > b.metrics["threshold"]).astype(int) == sb["label"], "right", "wrong")
    t = pd.crosstab(pd.Series(ra, name=f"{a.config.name} s{a.config.seed}"), pd.Series(rb, name=f"{b.config.name} s{b.config.seed}"))
    return t.reindex(index=["right", "wrong"], columns=["right", "wrong"], fill_value=0)


def plan_times() -> pd.DataFrame:
    """Per plan: runs recorded of runs planned and the training time they took (sum of fit seconds), so the
    cost of regenerating the book is read from the records rather than estimated."""
    from .sweeps import PLANS
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
    from .sweeps import PLANS
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


def best_epochs(records: Sequence[Record]) -> pd.DataFrame:
    """What `restore_best_weights` would restore: the epoch of lowest validation loss (the monitored value), the
    epoch of highest validation accuracy, and the validation accuracy at each against the last epoch's."""
    rows = []
    for r in records:
        h = r.history.reset_index(drop=True)
        i_loss, i_acc = int(h["val_loss"].idxmin()), int(h["val_accuracy"].idxmax())
        rows.append({"run": f"{r.config.name} s{r.config.seed}", "epochs run": len(h),
                     "epoch of min val_loss": i_loss + 1, "epoch of max val acc": i_acc + 1,
                     "val acc, last epoch": float(h["val_accuracy"].iloc[-1]),
                     "val acc, min-val_loss epoch": float(h["val_accuracy"].iloc[i_loss]),
                     "val acc, best epoch": float(h["val_accuracy"].iloc[i_acc])})
    return pd.DataFrame(rows).set_index("run")
