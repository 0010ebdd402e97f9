"""The reproduction chapter's and the appendix's library: run tables, the gap rule (Student's predictive chance that
one run reaches a number), validation minus test, plans and records with their times, and the stored benchmarks."""
from __future__ import annotations

import json
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lfwsiamese.recipes import get_config
from lfwsiamese.records.store import Record
from lfwsiamese.report import records as RR
from lfwsiamese.report import reproducing as RP
from lfwsiamese.report import reproduction as R
from lfwsiamese.report.tables import show

matplotlib.use("Agg")


def _record(tmp_path, name: str, seed: int, test05: float, val: float = 0.70, test: float = 0.70,
            fit: float = 600.0, cpu: str = "Intel(R) Xeon(R) Processor") -> Record:
    """A record with a 3-epoch history and a scores.csv that matches its test accuracy (100 pairs)."""
    cfg = replace(get_config("reference"), name=name, seed=seed)
    path = tmp_path / f"{name}-s{seed}"
    path.mkdir(parents=True)
    n, right = 100, np.arange(100) < round(test * 100)
    labels = np.r_[np.ones(50, int), np.zeros(50, int)]
    score = np.where(right, np.where(labels == 1, 0.9, 0.1), np.where(labels == 1, 0.1, 0.9))
    pd.DataFrame({"name_a": ["A"] * n, "index_a": range(n), "name_b": ["B"] * n, "index_b": range(n),
                  "label": labels, "score": score}).to_csv(path / "scores.csv", index=False)
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [7.0, 4.0, 2.0], "l2_penalty": [6.0, 3.5, 1.8],
                            "accuracy": [0.6, 0.9, 1.0], "val_loss": [6.5, 4.2, 2.3], "val_accuracy": [0.6, 0.65, 0.7]})
    metrics = {"threshold": 0.5, "fit_seconds": fit, "fit_seconds_this_process": fit + 60,
               "predict_seconds_val_and_test": 10.0, "epochs_run": 3, "train_pairs_per_second": 25.0,
               "predict_pairs_per_second": 150.0, "peak_rss_mib": 3000.0,
               "val": {"accuracy": val, "accuracy_at_0.5": val - 0.01},
               "test": {"accuracy": test, "accuracy_at_0.5": test05, "auc": 0.77}}
    env = {"cpu": cpu, "cpu_count": 2, "device": "CPU", "precision_policy": "mixed_bfloat16",
           "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4", "python": "3.11.7"}
    return Record(path, cfg, metrics, history, env)


def test_reach_chance_is_the_upper_tail_of_students_predictive_distribution() -> None:
    v = [0.70, 0.71, 0.72, 0.715, 0.705]
    m, s, k = np.mean(v), np.std(v, ddof=1), len(v)
    want = stats.t.sf((0.731 - m) / (s * np.sqrt(1 + 1 / k)), k - 1)
    assert R.reach_chance(v, 0.731) == pytest.approx(want)
    assert R.reach_chance(v, m) == pytest.approx(0.5)
    assert R.reach_chance(v, 0.72) > R.reach_chance(v, 0.731) > R.reach_chance(v, 0.75)
    # a Monte-Carlo check of the predictive law: new runs from the same normal population as the seeds
    rng = np.random.default_rng(0)
    seeds = rng.normal(0.71, 0.01, size=(20000, k))
    new = rng.normal(0.71, 0.01, size=20000)
    z = (new - seeds.mean(1)) / (seeds.std(1, ddof=1) * np.sqrt(1 + 1 / k))
    assert np.mean(z > stats.t.isf(R.ALPHA, k - 1)) == pytest.approx(R.ALPHA, abs=0.006)


def test_gap_table_and_overstatement(tmp_path) -> None:
    own = [_record(tmp_path / "a", "reference-fp32-pairval", s, a, val=0.75, test=0.72)
           for s, a in enumerate([0.71, 0.72, 0.73, 0.725])]
    ours = [_record(tmp_path / "b", "reference-fp32", s, a, val=0.70 + 0.01 * (s % 2), test=0.70)
            for s, a in enumerate([0.70, 0.705, 0.71, 0.70])]
    groups = {"own setup": own, "person-disjoint": ours}
    t = R.gap_table(groups, 0.731)
    show(t)  # no empty cells
    assert list(t["setup"]) == list(groups) and list(t["seeds reaching 73.1%"]) == ["0 of 4", "0 of 4"]
    assert t.loc[0, "range"] == "71.0% to 73.0%" and t.loc[0, "mean"] == "72.1%"
    assert t.loc[0, "chance one run does"] == f"{100 * R.reach_chance(R.at_half(own), 0.731):.1f}%"
    o = R.overstatement(groups)
    show(o)
    assert o.loc[0, "at the validation threshold"].startswith("+3.0 ± 0.0")
    assert o.loc[0, "at threshold 0.5"].startswith("+1.9")  # val 0.74 against a mean test at 0.5 of 0.721


def test_runs_tables_and_figures_speak_in_words(tmp_path) -> None:
    recs = [_record(tmp_path, "reference", s, 0.70 + 0.01 * s) for s in range(3)]
    t = R.runs_table(recs, ["validation accuracy", "test accuracy at 0.5", "training (min)", "pairs scored per s"])
    show(t)
    assert t.loc[1, "run"] == "reference network, seed 1" and t.loc[1, "test accuracy at 0.5"] == "71.0%"
    assert t.loc[0, "training (min)"] == "10.0" and list(t.columns)[0] == "run"
    with pytest.raises(KeyError):
        R.runs_table(recs, ["val_acc"])
    labels = []
    for fig in (R.curves_figure(recs), R.loss_figure(recs[0]), R.seeds_figure({"a": recs, "b": recs}, 0.731)):
        for ax in fig.axes:
            labels += [ax.get_xlabel(), ax.get_ylabel()] + [h.get_label() for h in ax.get_legend_handles_labels()[0]]
    words = " ".join(labels)
    assert "epoch" in words and "L2 penalty" in words and "seed 0, validation" in words and "73.1%" in words
    assert not any(k in words for k in ("val_loss", "val_accuracy", "l2_penalty"))


def test_plans_and_records_tables_count_shared_runs_once(tmp_path) -> None:
    a = _record(tmp_path, "reference", 0, 0.7, fit=600)
    b = _record(tmp_path, "reference-fast", 0, 0.7, fit=1200, cpu="AMD EPYC 7B13")
    plans = {"precision": [a, b], "lr": [b]}
    t = RP.plans_table(plans)
    show(t)
    assert t.to_dict("records")[0] == {"plan": "precision", "runs": 2, "training per run": "15 min",
                                       "training in all": "30 min", "processors": "AMD EPYC 7B13, Intel Xeon"}
    assert len(RP.unique(plans)) == 2
    r = RP.records_table(plans)
    show(r)
    assert dict(zip(r["record"], r["plans"])) == {a.path.name: "precision", b.path.name: "precision, lr"}
    assert RP.wall_seconds(a) == pytest.approx(670.0)
    env = RP.environment(a)
    assert dict(zip(env["setting"], env["value"]))["logical CPUs"] == "2"
    p = RP.precision_table({"float32": [a, a.__class__(**{**a.__dict__})]})
    show(p)
    assert p.loc[0, "seeds"] == 2 and p.loc[0, "test accuracy"].startswith("70.0% ± ")


def test_by_plan_stops_on_a_missing_record_naming_make_records(monkeypatch) -> None:
    monkeypatch.setattr(RR, "find_record", lambda c: None)
    with pytest.raises(RR.MissingRecordsError, match="make records"):
        RP.by_plan()


def test_bench_tables_from_the_stored_records(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path))
    (tmp_path / "bench").mkdir()
    side = {"precision": "float32", "train_pairs_per_s": 20.0, "predict_pairs_per_s": 50.0,
            "train_gflop_per_s": 200.0, "fraction_of_peak": 0.6}
    (tmp_path / "bench" / "cpu.json").write_text(json.dumps(
        {"reference_style": side, "ours": side | {"precision": "mixed_bfloat16", "train_pairs_per_s": 60.0}}))
    assert RP.bench_table().loc[1].tolist() == ["training pairs per s", "20.0", "60.0"]
    base = {"input": "numpy", "precision": "float32", "fused_towers": False, "bn_fused": False, "jit_compile": False}
    rows = [base | {"label": "reference style", "train_pairs_per_s": 10.0},
            base | {"label": "+ fused towers", "fused_towers": True, "train_pairs_per_s": 15.0}]
    (tmp_path / "bench" / "ablation-cpu.json").write_text(json.dumps({"variants": rows}))
    abl = RP.ablation()
    assert abl["x reference"].tolist() == [1.0, 1.5] and np.isnan(abl["x compared"][0])
    shown = RP.ablation_table(abl)
    show(shown)  # the first row is compared with nothing: a dash, not an empty cell
    assert shown.iloc[0, 3:].tolist() == ["–", "–"] and shown.iloc[1, 3] == "1.50"
