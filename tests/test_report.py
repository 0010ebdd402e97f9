"""Book helpers that compute numbers: early-stopping simulation and tables."""
from __future__ import annotations

from lfwsiamese.analysis.report.stats import early_stop_epoch
from lfwsiamese.analysis.report.tables import pairs_summary


def test_early_stop_epoch_matches_keras_semantics() -> None:
    # improves by 0.5 each epoch for 3 epochs, then flat: with patience 2 it stops 2 epochs after the last improvement
    curve = [3.0, 2.5, 2.0, 1.5, 1.5, 1.5, 1.5]
    assert early_stop_epoch(curve, 0.1, 2) == 6
    assert early_stop_epoch(curve, 1.0, 2) == 3  # no step beats min_delta 1.0: stops after patience epochs
    assert early_stop_epoch(curve, 0.0, 10) == len(curve)


def test_pairs_summary_counts_the_packaged_protocols() -> None:
    t = pairs_summary()
    assert t.loc["View 1 train (DevTrain)", "pairs"] == 2200
    assert t.loc["View 1 test (DevTest)", "people"] == 963
    assert t.loc["View 2 (10 folds)", "same"] == 3000


def _fake_record(tmp_path, name: str, seed: int, val_acc: float, test_acc: float, lr: float = 5e-5):
    from dataclasses import replace

    import pandas as pd

    from lfwsiamese.config import with_overrides
    from lfwsiamese.recipes import get_config
    from lfwsiamese.records.store import Record
    cfg = replace(with_overrides(get_config("reference"), {"train.learning_rate": lr}), name=name, seed=seed)
    m = {"val": {"accuracy": val_acc, "auc": val_acc + 0.05, "accuracy_at_0.5": val_acc, "eer": 0.3},
         "test": {"accuracy": test_acc, "auc": test_acc + 0.05, "accuracy_at_0.5": test_acc, "eer": 0.3},
         "epochs_run": 10, "fit_seconds": 100.0, "threshold": 0.5, "train_pairs_per_second": 50.0}
    return Record(tmp_path / cfg.run_name, cfg, m, pd.DataFrame(), {})


def test_sweep_table_chooses_on_validation_only(tmp_path) -> None:
    from lfwsiamese.analysis.report.tables import sweep_table
    recs = [_fake_record(tmp_path, "s", s, val, test, lr)
            for lr, val, test in ((1e-5, 0.70, 0.80), (1e-4, 0.75, 0.60)) for s in (0, 1)]
    t = sweep_table(recs, "train.learning_rate")
    assert t.index.tolist() == [1e-5, 1e-4] and t["seeds"].tolist() == [2, 2]
    assert t.loc[1e-4, "chosen"] and not t.loc[1e-5, "chosen"]  # better validation, worse test: validation wins
    assert t.loc[1e-5, "val acc std"] == 0.0


def test_sweep_table_min_seeds_keeps_single_runs_out_of_the_choice(tmp_path) -> None:
    import pytest

    from lfwsiamese.analysis.report.tables import sweep_table
    recs = [_fake_record(tmp_path, "s", s, 0.70, 0.7, 1e-5) for s in (0, 1)] + [_fake_record(tmp_path, "s", 0, 0.90, 0.7, 1e-4)]
    assert sweep_table(recs, "train.learning_rate").loc[1e-4, "chosen"].startswith("<-")  # default: any point counts
    t = sweep_table(recs, "train.learning_rate", min_seeds=2)
    assert t.loc[1e-5, "chosen"].startswith("<-") and t.loc[1e-4, "chosen"] == "(1 seed: not compared)"
    assert (sweep_table(recs[2:], "train.learning_rate", min_seeds=2)["chosen"] != "").all()  # nothing eligible
    assert not sweep_table(recs[2:], "train.learning_rate", min_seeds=2)["chosen"].str.startswith("<-").any()
    with pytest.raises(ValueError, match="min_seeds"):
        sweep_table(recs, "train.learning_rate", min_seeds=0)


def test_plan_progress_names_the_missing_runs(tmp_path, monkeypatch) -> None:
    from lfwsiamese.analysis import report
    from lfwsiamese.runs.plans import get_plan
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path))
    p = report.plan_progress("epochs")
    assert p["recorded"] == 0 and p["planned"] == len(get_plan("epochs")) and not p["complete"]
    assert p["missing"] == [c.run_name for c in get_plan("epochs")]


def test_mean_difference_gives_a_welch_interval(tmp_path) -> None:
    import pytest

    from lfwsiamese.analysis.report.compare import mean_difference
    a = [_fake_record(tmp_path, "a", s, 0.7, v) for s, v in enumerate((0.70, 0.72, 0.71))]
    b = [_fake_record(tmp_path, "b", s, 0.7, v) for s, v in enumerate((0.60, 0.62, 0.61))]
    d = mean_difference(a, b)
    assert d["difference"] == pytest.approx(0.10) and d["ci95 low"] < 0.10 < d["ci95 high"] and d["p (Welch)"] < 0.001
    assert mean_difference(a, a)["p (Welch)"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=">= 2 runs"):
        mean_difference(a[:1], b)


def test_sweep_errorbars_draws_numeric_and_categorical_sweeps(tmp_path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from lfwsiamese.analysis.plots import sweep_errorbars
    from lfwsiamese.analysis.report.tables import sweep_table
    recs = [_fake_record(tmp_path, n, s, 0.7 + 0.01 * s, 0.7, lr) for n, lr in (("a", 1e-5), ("b", 1e-4)) for s in (0, 1)]
    for key, logx in (("train.learning_rate", True), ("name", False)):
        fig = sweep_errorbars(sweep_table(recs, key), logx=logx)
        ax = fig.axes[0]
        assert len(ax.containers) == 2  # validation and test error bars
        assert any(line.get_label() == "chosen on validation" for line in ax.lines)


def test_peers_table_places_our_mean_among_the_cited_numbers(tmp_path) -> None:
    import numpy as np
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.report.comparisons import peers_table
    from lfwsiamese.analysis.report.literature import PEER_KEYS, PEERS_DEVTEST
    recs = [_fake_record(tmp_path / str(s), "x", s, 0.8, v) for s, v in enumerate((0.80, 0.82))]
    for r, v in zip(recs, (0.80, 0.82)):  # scores right on the first v * 1000 pairs
        r.path.mkdir(parents=True)
        right = np.arange(1000) < v * 1000
        pd.DataFrame({"name_a": ["A"] * 1000, "index_a": range(1000), "name_b": ["B"] * 1000, "index_b": range(1000),
                      "label": 1, "score": np.where(right, 0.9, 0.1)}).to_csv(r.path / "scores.csv", index=False)
    t = peers_table({"ours": recs, "none yet": []})
    assert len(t) == len(PEERS_DEVTEST) + 1 and t.index[0] == "ours"  # sorted, best first
    assert t.loc["ours", "DevTest accuracy"] == pytest.approx(0.81)
    assert t["DevTest accuracy"].is_monotonic_decreasing
    assert set(PEER_KEYS) == {name for name, _, _ in PEERS_DEVTEST}  # every peer has its bibliography entry


def test_error_overlap_counts_each_pair_once(tmp_path) -> None:
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.report.stats import error_overlap
    a, b = _fake_record(tmp_path / "a", "a", 0, 0.7, 0.7), _fake_record(tmp_path / "b", "b", 0, 0.7, 0.7)
    pairs = {"name_a": ["P"] * 4, "index_a": [1, 2, 3, 4], "name_b": ["Q"] * 4, "index_b": [1, 1, 1, 1], "label": [1, 1, 0, 0]}
    for rec, scores in ((a, [0.9, 0.1, 0.2, 0.8]), (b, [0.9, 0.9, 0.2, 0.2])):
        rec.path.mkdir(parents=True)
        pd.DataFrame({**pairs, "score": scores}).to_csv(rec.path / "scores.csv", index=False)
    t = error_overlap(a, b)
    assert t.loc["right", "right"] == 2 and t.loc["wrong", "right"] == 2 and t.loc["right", "wrong"] == 0
    assert int(t.to_numpy().sum()) == 4
    pd.DataFrame({**pairs, "index_b": [2, 2, 2, 2], "score": [0.5] * 4}).to_csv(b.path / "scores.csv", index=False)
    with pytest.raises(ValueError, match="different pairs"):
        error_overlap(a, b)


def test_plan_times_lists_every_plan_and_counts_nothing_in_an_empty_results_folder(tmp_path, monkeypatch) -> None:
    from lfwsiamese.analysis.report.plans import plan_times
    from lfwsiamese.runs.plans import PLANS, get_plan
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path))
    t = plan_times()
    assert t.index.tolist() == list(PLANS)
    assert (t["runs recorded"] == 0).all() and (t["fit hours (recorded runs)"] == 0).all()
    assert (t["wall hours (recorded runs)"] == 0).all()
    from lfwsiamese.analysis.report.plans import total_record_hours
    assert total_record_hours() == {"runs": 0, "cores": "", "fit hours": 0.0, "wall hours": 0.0}
    assert t.loc["init", "runs planned"] == len(get_plan("init"))


def test_environment_and_bench_environment_read_what_the_records_say(tmp_path) -> None:
    import json
    from dataclasses import replace

    from lfwsiamese.analysis.report.tables import (
        ENV_KEYS,
        bench_environment,
        environment,
    )
    r = replace(_fake_record(tmp_path, "r", 0, 0.7, 0.7), env={"cpu": "Intel Xeon", "cpu_count": 2, "keras": "3.1"})
    e = environment(r)
    assert e.index.tolist() == list(ENV_KEYS) and e["cpu"] == "Intel Xeon" and e["keras"] == "3.1"
    assert e["device"] is None and r.path.name in e.name  # a key the record lacks stays empty, never invented
    assert environment(None).isna().all()
    (tmp_path / "cpu.json").write_text(json.dumps({"env": {"cpu": "AMD EPYC", "cpu_count": 2}}))
    assert bench_environment(tmp_path / "cpu.json") == {"bench_cpu": "AMD EPYC", "bench_cores": "2"}


def test_best_epochs_reads_the_monitored_minimum_and_the_accuracy_maximum(tmp_path) -> None:
    import pandas as pd

    from lfwsiamese.analysis.report.stats import best_epochs
    r = _fake_record(tmp_path, "a", 0, 0.7, 0.7)
    r.history = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_loss": [3.0, 2.0, 1.0, 1.5], "val_accuracy": [0.6, 0.8, 0.7, 0.65]})
    row = best_epochs([r]).iloc[0]
    assert row["epoch of min val_loss"] == 3 and row["epoch of max val acc"] == 2 and row["epochs run"] == 4
    assert row["val acc, min-val_loss epoch"] == 0.7 and row["val acc, last epoch"] == 0.65 and row["val acc, best epoch"] == 0.8


def test_epochs_summary_reads_epoch_k_of_long_runs_and_handles_none(tmp_path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.plots import epochs_curve
    from lfwsiamese.analysis.report.tables import epochs_summary
    recs = []
    for s in (0, 1):
        r = _fake_record(tmp_path, "e", s, 0.7, 0.7)
        h = pd.DataFrame({"epoch": range(5), "loss": [1.0, 0.8, 0.6, 0.5, 0.4], "val_loss": [1.0, 0.9, 0.85, 0.9, 1.0],
                          "val_accuracy": [0.5 + 0.02 * e + 0.01 * s for e in range(5)],
                          "test_accuracy_unused_for_choices": [0.5] * 5})
        recs.append(type(r)(r.path, r.config, r.metrics, h, {}))
    t = epochs_summary(recs, (1, 3, 10))
    assert t.index.tolist() == [1, 3]  # 10 epochs not reached: no row rather than a wrong one
    assert t.loc[3, ("val_accuracy", "mean")] == pytest.approx(0.545) and t.loc[3, ("seeds", "")] == 2
    assert len(epochs_curve(t).axes[0].containers) == 2
    empty = epochs_summary([], (1, 3))
    assert empty.empty and ("val_accuracy", "mean") in empty.columns
    assert "no 30-epoch run" in epochs_curve(empty).axes[0].texts[0].get_text()


def test_chosen_value_is_none_without_an_eligible_value(tmp_path) -> None:
    from lfwsiamese.analysis.report.stats import chosen_value
    from lfwsiamese.analysis.report.tables import sweep_table
    recs = [_fake_record(tmp_path, "s", 0, 0.7, 0.7, 1e-5)]
    assert chosen_value(sweep_table(recs, "train.learning_rate")) == 1e-5
    assert chosen_value(sweep_table(recs, "train.learning_rate", min_seeds=2)) is None


def _val_scores(path, scores, labels) -> None:
    import pandas as pd
    n = len(scores)
    pd.DataFrame({"name_a": ["A"] * n, "index_a": range(n), "name_b": ["B"] * n, "index_b": range(n),
                  "label": labels, "score": scores}).to_csv(path / "val_scores.csv", index=False)


def test_paired_accuracy_se_pairs_runs_on_shared_pairs_and_falls_back_to_independent_ones(tmp_path) -> None:
    import numpy as np
    import pytest

    from lfwsiamese.analysis.report.stats import paired_accuracy_se
    a, b = _fake_record(tmp_path, "a", 0, 0.8, 0.8), _fake_record(tmp_path, "b", 0, 0.7, 0.7)
    for r in (a, b):
        r.path.mkdir(parents=True)
    labels = [1] * 50 + [0] * 50
    _val_scores(a.path, [0.9] * 50 + [0.1] * 40 + [0.9] * 10, labels)  # right on 90 (threshold 0.5)
    _val_scores(b.path, [0.9] * 40 + [0.1] * 10 + [0.1] * 50, labels)  # right on 90, wrong on 10 others
    d = np.r_[np.zeros(40), np.ones(10), np.zeros(40), -np.ones(10)]
    assert paired_accuracy_se(a, b) == pytest.approx(d.std(ddof=1) / 10)
    _val_scores(b.path, [0.9] * 40 + [0.1] * 10 + [0.1] * 50, [0] * 50 + [1] * 50)  # other pairs: unpaired
    pb = 0.1
    assert paired_accuracy_se(a, b) == pytest.approx(np.sqrt(0.9 * 0.1 / 100 + pb * (1 - pb) / 100))


def test_model_ablation_pairs_seeds_and_adds_the_tta_row(tmp_path) -> None:
    from dataclasses import replace

    import numpy as np
    import pytest

    from lfwsiamese.analysis.report.tables import model_ablation
    base = [_fake_record(tmp_path, "improved", s, 0.80 + 0.02 * s, 0.85 + 0.02 * s) for s in (0, 1, 2)]
    for r in base:
        r.metrics["without_tta"] = {"val": {"accuracy": r.metrics["val"]["accuracy"] - 0.01, "auc": 0.9},
                                    "test": {"accuracy": r.metrics["test"]["accuracy"] - 0.02, "auc": 0.9}}
    var = [_fake_record(tmp_path, "improved-no-crop", s, 0.70 + 0.02 * s, 0.75 + 0.02 * s) for s in (0, 1)]
    for r in base + var:  # 100 shared validation pairs per seed; the variant is wrong on 10 more of them
        r.path.mkdir(parents=True, exist_ok=True)
        right = 80 - (10 if r.config.name != "improved" else 0)
        _val_scores(r.path, [0.9] * right + [0.1] * (100 - right), [1] * 100)
    t = model_ablation(base, var)
    assert t.index.tolist() == ["improved (everything)", "without test-time flip", "- no-crop"]
    assert t.loc["- no-crop", "seeds"] == "0,1" and t.loc["improved (everything)", "seeds"] == "0,1,2"
    assert t.loc["- no-crop", "val change (paired)"] == pytest.approx(-0.10)  # paired: seed offsets cancel
    assert t.loc["without test-time flip", "test change (paired)"] == pytest.approx(-0.02)
    assert "whole 250x250 frame" in t.loc["- no-crop", "what changes"]
    d = np.r_[np.zeros(90), np.ones(10)]  # per-pair differences of one seed
    sigma = np.std([0.80, 0.82, 0.84], ddof=1)
    want = np.sqrt(2 * (d.std(ddof=1) / 10) ** 2 / 4 + 2 * sigma ** 2 / 2)
    assert t.loc["- no-crop", "val change se"] == pytest.approx(want)
    assert t.loc["without test-time flip", "val change se"] == pytest.approx(0.0)  # the same -0.01 for every seed
    assert np.isnan(t.loc["improved (everything)", "val change se"])
    bad = [replace(var[0], config=replace(var[0].config, name="improved-dropout"))]
    with pytest.raises(ValueError, match="improved-dropout"):
        model_ablation(base, bad)


def test_view2_sentence_states_the_mean_and_the_target_only_with_ten_folds(tmp_path) -> None:
    from dataclasses import replace

    from lfwsiamese.analysis.report.sentences import view2_sentence
    recs = []
    for f in range(10):
        r = _fake_record(tmp_path, "improved", 0, 0.8, 0.83 + 0.01 * (f % 2))
        r.metrics["test"]["auc"] = 0.9
        r.metrics["test"]["accuracy_at_0.5"] = 0.86
        recs.append(replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=f))))
    s = view2_sentence(recs)
    assert "83.5% ± 0.2%" in s and "95% interval 83.1% to 83.9%" in s and "threshold 0.5, which nothing was tuned to, the mean is 86.0%" in s and "1.5 points short of the 85%" in s and "83.0% to 84.0%" in s
    assert "above the 80% set" in view2_sentence(recs, target=0.80)
    assert "9 of 10 so far" in view2_sentence(recs[:9])


def test_ablation_verdicts_use_the_paired_seed_noise_and_the_sentence_names_each_group() -> None:
    import numpy as np
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.report.sentences import (
        ablation_sentence,
        ablation_verdicts,
    )
    abl = pd.DataFrame({"seeds": ["0,1,2", "0", "0,1", "0"],
                        "val change se": [np.nan, 0.01, 0.005, 0.01],
                        "val change (paired)": [0.0, -0.05, -0.005, 0.03]},
                       index=["improved (everything)", "- no-crop", "without test-time flip", "- pairs"])
    v = ablation_verdicts(abl)
    assert v.loc["- no-crop", "noise bar"] == pytest.approx(0.02)
    assert v.loc["without test-time flip", "noise bar"] == pytest.approx(0.01)
    assert v["verdict"].to_dict() == {"- no-crop": "needed", "without test-time flip": "within noise",
                                     "- pairs": "not needed"}
    s = ablation_sentence(v)
    assert "the face crop (-5.0)" in s and "the test-time flip (-0.5)" in s and "fresh identity pairs (+3.0)" in s
    assert s.index("face crop") < s.index("test-time flip") < s.index("identity pairs")
    assert "the face crop (-5.0) is needed: taking it away costs" in s and "whether it helps" in s
    two = ablation_sentence(v.assign(verdict="needed"))
    assert "(-5.0), the test-time flip (-0.5) and fresh identity pairs (+3.0) are each needed: taking any one" in two
    assert ablation_sentence(v.iloc[:0]) == "no ablation run is recorded yet"
    assert ablation_verdicts(abl.assign(**{"val change se": np.nan})).loc["- pairs", "verdict"] == "no noise estimate"
    with pytest.raises(ValueError, match="model_ablation"):
        ablation_verdicts(abl.drop(columns="val change se"))


def test_view2_comparison_adds_our_row_only_with_all_ten_folds(tmp_path) -> None:
    from dataclasses import replace

    import pytest

    from lfwsiamese.analysis.report.comparisons import view2_comparison
    from lfwsiamese.analysis.report.literature import LFW_VIEW2_VERIFIED
    recs = []
    for f in range(10):
        r = _fake_record(tmp_path, "improved", 0, 0.8, 0.80 + 0.01 * (f % 2))
        r = replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=f, sampling="identities")))
        recs.append(r)
    t = view2_comparison(recs)
    assert len(t) == len(LFW_VIEW2_VERIFIED) + 1
    assert t.loc["lfwsiamese: improved", "View 2 accuracy"] == pytest.approx(0.805)
    assert t.loc["lfwsiamese: improved", "SE"] == pytest.approx(0.005 * (10 / 9) ** 0.5 / 10 ** 0.5)  # sd / sqrt(10)
    assert t.loc["lfwsiamese: improved", "protocol"] == "View 2 unrestricted (identities)"
    assert t.loc["lfwsiamese: improved", "results-page category"] == "unrestricted, label-free outside data"
    assert "lfwsiamese: improved" not in view2_comparison(recs[:9]).index


def test_view2_standing_counts_the_page_entries_of_our_category_above_and_below(tmp_path) -> None:
    from dataclasses import replace

    import pytest

    from lfwsiamese.analysis.report.comparisons import view2_comparison, view2_standing
    from lfwsiamese.analysis.report.literature import LFW_VIEW2_VERIFIED
    recs = []
    for f in range(10):
        r = _fake_record(tmp_path, "improved", 0, 0.8, 0.915)
        recs.append(replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=f,
                                                                        sampling="identities"))))
    t = view2_comparison(recs)
    cat = "unrestricted, label-free outside data"
    same = [e for e in LFW_VIEW2_VERIFIED if e.category == cat]
    above = sorted((e for e in same if e.accuracy > 0.915), key=lambda e: e.accuracy)
    below = [e for e in same if e.accuracy < 0.915]
    assert above and below  # 0.915 sits inside the category, so both counts are tested
    s = view2_standing(t, "lfwsiamese: improved")
    assert s.startswith(f"In its results-page category ({cat}), lfwsiamese: improved at 0.9150 is below "
                        f"{len(above)} of the page's {len(same)} entries and above {len(below)}; ")
    assert f"the nearest above is {above[0].method}, {above[0].accuracy:.4f}" in s
    def at(acc: float) -> str:
        moved = [replace(r, metrics={**r.metrics, "test": {**r.metrics["test"], "accuracy": acc}}) for r in recs]
        return view2_standing(view2_comparison(moved), "lfwsiamese: improved")
    assert at(0.99).endswith(f"0.9900 is above all {len(same)} of the page's entries.")
    low = min(same, key=lambda e: e.accuracy)
    assert at(0.5).endswith(f"0.5000 is below all {len(same)} of the page's entries; the nearest is {low.method}, "
                            f"{low.accuracy:.4f} ± {low.se:.4f}.")
    with pytest.raises(ValueError, match="all ten folds"):
        view2_standing(view2_comparison(recs[:9]), "lfwsiamese: improved")


def test_oneshot_curves_draws_chance_once_and_each_models_lines() -> None:
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.plots import oneshot_curves
    rows = []
    for run in ("improved-s0-aaaa", "improved-s1-bbbb", "reference-s0-cccc"):
        for n in (5, 10):
            for method, acc in (("random", 1 / n), ("pixels_nn", 0.3), ("siamese", 0.6)):
                rows.append({"run": run, "method": method, "N": n, "accuracy": acc, "ci95_low": acc - 0.02, "ci95_high": acc + 0.02})
    ax = oneshot_curves(pd.DataFrame(rows)).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels.count("random (1/N)") == 1 and "siamese, improved (2 seeds)" in labels and "siamese, reference (1 seed)" in labels
    with pytest.raises(ValueError, match="oneshot"):
        oneshot_curves(pd.DataFrame())


def test_sweep_histories_draws_one_mean_curve_per_value(tmp_path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.plots import sweep_histories
    recs = []
    for lr in (1e-5, 1e-4):
        for s in (0, 1):
            r = _fake_record(tmp_path, "s", s, 0.7, 0.7, lr)
            h = pd.DataFrame({"epoch": range(3 + s), "val_accuracy": [0.5 + 0.1 * s] * (3 + s)})  # seed 1 ran longer
            recs.append(type(r)(r.path, r.config, r.metrics, h, {}))
    ax = sweep_histories(recs, "train.learning_rate").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1e-05", "0.0001"]
    y = ax.lines[0].get_ydata()
    assert len(y) == 4 and y[0] == pytest.approx(0.55) and y[3] == pytest.approx(0.6)  # mean of the seeds present
    with pytest.raises(ValueError, match="sweep"):
        sweep_histories([], "train.learning_rate")


def test_choice_summary_compares_the_choice_with_the_reference_and_rejects_a_missing_reference() -> None:
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.report.tables import choice_summary
    mean = pd.Series({1e-5: 0.70, 5e-5: 0.71, 1e-4: 0.74})
    sd = pd.Series({1e-5: 0.01, 5e-5: 0.03, 1e-4: 0.02})
    t = choice_summary({"learning rate": (mean, sd, 5e-5)})
    row = t.loc["learning rate"]
    assert row["chosen on validation"] == "0.0001" and row["reference value"] == "5e-05"
    assert row["gain"] == pytest.approx(0.03) and row["seed sd (mean over values)"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="reference value 0.001"):
        choice_summary({"learning rate": (mean, sd, 1e-3)})


def test_model_ablation_names_each_rows_processor(tmp_path) -> None:
    from dataclasses import replace

    from lfwsiamese.analysis.report.tables import model_ablation
    base = [replace(_fake_record(tmp_path, "improved", s, 0.8, 0.85), env={"cpu": "Intel(R) Xeon(R) Processor"})
            for s in (0, 1)]
    var = [replace(_fake_record(tmp_path, "improved-no-crop", 0, 0.7, 0.75), env={"cpu": "AMD EPYC"})]
    for r in base + var:
        r.path.mkdir(parents=True, exist_ok=True)
        _val_scores(r.path, [0.9] * 80 + [0.1] * 20, [1] * 100)
    t = model_ablation(base, var)
    assert t.loc["improved (everything)", "processor"] == "Intel Xeon" and t.loc["- no-crop", "processor"] == "AMD EPYC"
    assert t["same processor as the full model"].to_dict() == {"improved (everything)": True, "- no-crop": False}


def test_plan_records_never_trains_and_missing_records_lists_the_commands(tmp_path, monkeypatch) -> None:
    import inspect

    import lfwsiamese.training.run as run
    from lfwsiamese.analysis.report import plans
    from lfwsiamese.runs.plans import PLANS, get_plan
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path))
    monkeypatch.setenv("LFWSIAMESE_TRAIN_MISSING", "1")  # the old switch: ignored now

    def no_training(*a, **k):
        raise AssertionError("the book trained a record")
    monkeypatch.setattr(run, "train_run", no_training)
    assert plans.plan_records("reproduction") == []
    assert "train_missing" not in inspect.signature(plans.plan_records).parameters
    t = plans.missing_records()
    assert len(t) == len({c.run_name for p in PLANS for c in get_plan(p)})  # nothing recorded: every run missing
    assert set(t["command"].str.split().str[2]) <= set(PLANS)
    assert t.loc[get_plan("gap")[1].run_name, "command"] == "lfwsiamese sweep gap"  # [0] is also in `precision`
    said = plans.missing_summary(t)
    assert said.startswith(f"{len(t)} runs that a plan needs are not in `results/`")
    assert "`lfwsiamese sweep gap`" in said and said.count("`lfwsiamese sweep gap`") == 1
    assert "trains nothing" in plans.missing_summary(t.iloc[:0])
    assert plans.missing_summary(t.iloc[:1]).startswith("1 run that a plan needs is not in")


def test_plan_records_keeps_one_kind_of_validation() -> None:
    import pytest

    from lfwsiamese.analysis.report import plans
    every = plans.plan_records("reproduction")  # the repository's own records
    person, pair = plans.plan_records("reproduction", "person"), plans.plan_records("reproduction", "pair")
    assert person and pair and len(person) + len(pair) == len(every)
    assert {r.config.data.validation for r in person} == {"person"} and {r.config.data.validation for r in pair} == {"pair"}
    with pytest.raises(ValueError, match="'people'"):
        plans.plan_records("reproduction", "people")


def test_restricted_and_gap_plans() -> None:
    from lfwsiamese.runs.plans import (
        GAP_RECIPES,
        GAP_SEEDS,
        PLANS,
        get_plan,
        plan_ablation,
    )
    restricted = get_plan("restricted")
    assert [c.seed for c in restricted] == [0, 1, 2] and {c.data.sampling for c in restricted} == {"pairs"}
    shared = {c.run_name for c in restricted} & {c.run_name for c in plan_ablation()}
    assert len(shared) == 2  # seeds 0 and 1 are the ablation's own `pairs` runs, trained once
    gap = get_plan("gap")
    for name in GAP_RECIPES:
        runs = [c for c in gap if c.name == name]
        assert sorted(c.seed for c in runs) == list(GAP_SEEDS) and len(GAP_SEEDS) >= 10
        assert {c.train.precision for c in runs} == {"float32"}  # one recipe, one precision
    assert {c.data.validation for c in gap} == {"person", "pair"}
    assert {"restricted", "gap"} <= set(PLANS)


def test_oneshot_at_reads_each_model_at_one_n_and_says_what_is_missing() -> None:
    import pandas as pd

    from lfwsiamese.analysis.report import oneshot_at
    rows = [("improved-s0-a", "siamese", 20, 0.60), ("improved-s1-b", "siamese", 20, 0.70),
            ("improved-s0-a", "pixels_nn", 20, 0.20), ("improved-s0-a", "siamese", 5, 0.99),
            ("improved-pairs-s0-c", "siamese", 20, 0.01),  # another recipe: not part of `improved`
            ("reference-s0-d", "siamese", 20, 0.40), ("reference-s0-d", "pixels_nn", 20, 0.155)]
    t = pd.DataFrame(rows, columns=["run", "method", "N", "accuracy"]).assign(n_trials=1000)
    assert oneshot_at(t, 20) == {"improved": "65%", "improved_pix": "20%", "reference": "40%", "reference_pix": "16%",
                                 "reference_gain": "24.5", "n": "20", "trials": "1,000"}
    assert oneshot_at(t.assign(n_trials=[500] + [1000] * 6), 20)["trials"] == "500 to 1,000"
    assert oneshot_at(t.drop(columns="n_trials"), 20)["trials"] == "n/a"
    no_ref = oneshot_at(t[~t["run"].str.startswith("reference")], 20)
    assert no_ref["reference"] == no_ref["reference_gain"] == "n/a" and no_ref["improved"] == "65%"
    assert oneshot_at(pd.DataFrame(), 5) == {**{k: "n/a" for k in no_ref}, "n": "5"}
