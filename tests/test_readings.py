"""The numbers and readings chapters glue into their prose: computed from configs, protocol files, models and records."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from tests.test_report import _fake_record


def _with_history(rec, **cols):
    return replace(rec, history=pd.DataFrame({"epoch": range(len(next(iter(cols.values())))), **cols}))


def test_recipe_and_reported_numbers_come_from_the_config_and_the_one_constant() -> None:
    from lfwsiamese.analysis.report.literature import REFERENCE_REPORTED
    from lfwsiamese.analysis.report.numbers import (
        init_text,
        recipe_numbers,
        reported_numbers,
        short,
    )
    from lfwsiamese.recipes import get_config
    n = recipe_numbers(get_config("reference"))
    assert n["lr"] == "5e-5" and n["batch"] == "32" and n["es_patience"] == "5" and n["val_pct"] == "20%"
    assert n["kernel_init"] == "N(0, 0.01)" and n["bias_init"] == "N(0.5, 0.01)" and n["input"] == "105x105"
    imp = recipe_numbers(get_config("improved"), "imp_")
    assert imp["imp_lr"] == "1e-3" and imp["imp_crop"] == "130x130" and imp["imp_input"] == "96x96"
    assert imp["imp_stages"] == "4" and imp["imp_dense_units"] == "256" and imp["imp_weight_decay"] == "0.05"
    assert n["crop"] == "whole frame"
    assert [short(x) for x in (5e-5, 2e-4, 0.05, 0.4, 0.0)] == ["5e-5", "2e-4", "0.05", "0.4", "0"]
    assert init_text("he_normal") == "he_normal"
    r = reported_numbers()
    assert r["ref_test"] == f"{REFERENCE_REPORTED['test_accuracy']:.1%}" and r["ref_params"] == "38,954,049"


def test_render_numbers_are_the_experiments_render_defaults() -> None:
    from lfwsiamese.analysis.report.numbers import render_numbers
    assert render_numbers() == {"render_angle": "25", "render_scale": "0.7 to 1.4", "render_shift": "60",
                                "render_canvas": "400x400"}


def test_dataset_numbers_count_the_packaged_protocol_files() -> None:
    from lfwsiamese.analysis.report.numbers import dataset_numbers
    n = dataset_numbers()
    assert n["train_pairs"] == "2,200" and n["train_same"] == "1,100" and n["test_pairs"] == "1,000"
    assert n["test_people"] == "963" and n["view2_folds"] == "10" and n["view2_fold_pairs"] == "600"
    assert n["n_images"] == "13,233" and n["n_people"] == "5,749" and n["frame"] == "250x250"


def test_architecture_numbers_and_tables_are_read_from_the_built_model() -> None:
    from lfwsiamese.analysis.report.architecture import (
        parameter_table,
        reference_choices,
    )
    from lfwsiamese.analysis.report.numbers import architecture_numbers
    from lfwsiamese.recipes import get_config
    cfg = get_config("reference")
    n = architecture_numbers(cfg)
    assert n["params"] == "38,954,049" and n["non_trainable"] == "1,152" and n["flat"] == "9,216"
    assert n["heavy_conv"] == "conv2" and n["heavy_gmac"] == "0.7" and n["last_map"] == "6x6x256"
    assert n["bn_sum"] == "64 + 128 + 128 + 256" and n["first_bias"] == "64" and n["dense_weights_millions"] == "37.7"
    t = parameter_table(cfg)
    assert t.loc["total", "ours, reference config"] == t.loc["total", "reference (reported)"]
    assert t.loc["total", "ours, reference config"] - t.loc["total", "ours, no bias in conv1"] == 64
    c = reference_choices(cfg)
    assert "64@10x10, 128@7x7, 128@4x4, 256@4x4" in c.loc["convolutions", "value"]
    assert c.loc["loss, optimiser", "value"].endswith("Adam 5e-5, batch 32")


def test_plan_seeds_counts_the_seeds_of_one_point() -> None:
    from lfwsiamese.analysis.report.numbers import plan_seeds
    assert plan_seeds("lr") == 2 and plan_seeds("gap") >= 10 and plan_seeds("restricted") == 3


def test_training_readings(tmp_path) -> None:
    from lfwsiamese.analysis.report import training as T
    recs = []
    for s in (0, 1):
        r = _fake_record(tmp_path, "r", s, 0.7, 0.7)
        r.metrics.update(train_pairs=1760, predict_pairs_per_second=100.0, peak_rss_mib=1000.0)
        recs.append(_with_history(replace(r, env={"cpu": "AMD EPYC", "precision_policy": "float32"}),
                                  loss=[3.0, 2.0], l2_penalty=[2.4, 1.5], val_loss=[3.0, 2.5 + s],
                                  test_auc_unused_for_choices=[0.7, 0.75]))
    assert T.l2_share(recs) == pytest.approx(0.75)
    assert T.stop_epochs(recs, 0.1, 1) == [2] and T.stop_epochs(recs, 0.6, 1) == [2] and T.or_list([9, 10]) == "9 or 10" and T.or_list([5]) == "5"
    assert T.history_pivot(recs, "test_auc_unused_for_choices").loc[2, 1] == pytest.approx(0.75)
    both = T.history_pivot(recs, ["val_loss", "loss"])
    assert both.loc[2, ("val_loss", 1)] == pytest.approx(3.5) and both.loc[1, ("loss", 0)] == pytest.approx(3.0)
    assert T.train_pairs(recs) == "1,760" and T.steps_per_epoch(recs) == 55
    timing = T.timing_table(recs)
    assert timing.loc[0, "seconds per epoch"] == 10.0 and timing.loc[0, "processor"] == "AMD EPYC"
    be = pd.DataFrame({"epoch of min val_loss": [10, 10], "epoch of max val acc": [4, 6],
                       "val acc, best epoch": [0.72, 0.74], "val acc, last epoch": [0.70, 0.70]})
    assert T.best_epoch_reading(be) == {"be_loss": "10", "be_acc": "4, 6", "be_gain": "3.0"}
    complete, partial = T.split_by_seeds(recs + [_fake_record(tmp_path, "q", 0, 0.7, 0.7)], 2)
    assert len(complete) == 2 and [r.config.name for r in partial] == ["q"]


def test_validation_kinds_and_sentence(tmp_path) -> None:
    from lfwsiamese.analysis.report import training as T
    person = [_fake_record(tmp_path, "p", s, 0.70, 0.71) for s in (0, 1)]
    pair = [_fake_record(tmp_path, "q", 0, 0.80, 0.72)]
    for r in person:
        r.metrics["validation"] = "person"
    pair[0].metrics["validation"] = "pair"
    kinds = T.validation_kinds(person, pair)
    assert T.validation_sentence(kinds) == "pair-level validation 0.800 vs test 0.720; person-disjoint validation 0.700 vs test 0.710."


def test_weight_readings(tmp_path) -> None:
    from lfwsiamese.analysis.report import training as T

    class W:  # a record with weights.json in memory
        def __init__(self, name, w):
            self.config, self.weights, self.path = type("C", (), {"name": name})(), w, tmp_path / name
    h = lambda m0, m1, s0, s1: {"before_mean": m0, "after_mean": m1, "before_std": s0, "after_std": s1}  # noqa: E731
    recs = [W("init-koch-bias", {"conv1/bias": h(0.5, 0.501, 0.01, 0.011), "conv1/kernel": h(0, 0, 0.01, 0.0101),
                                 "embedding/kernel": h(0, 0, 0.01, 0.005), "same_probability/kernel": h(0, 0, 0.01, 0.05)}),
            W("init-he-bias", {"conv1/bias": h(0.0, 0.0, 0.0, 0.002), "conv1/kernel": h(0, 0, 0.1, 0.1),
                               "embedding/kernel": h(0, 0, 0.02, 0.01), "same_probability/kernel": h(0, 0, 0.02, 0.06)})]
    moves = T.weight_moves(recs, ["conv1/bias"])
    ratios = T.spread_ratios(recs, ["conv1/kernel", "embedding/kernel", "same_probability/kernel"])
    r = T.weights_reading(moves, ratios)
    assert r["bias_shift"] == "0.0010" and r["bias_sd_zero"] == "0.0020"
    assert r["conv_ratio"] == "1.000 to 1.010" and r["emb_ratio"] == "0.50 to 0.50" and r["out_ratio"] == "3.00 to 5.00"


def test_init_reading_names_the_choice_and_the_bias_gaps(tmp_path) -> None:
    from lfwsiamese.analysis.report.tables import sweep_table
    from lfwsiamese.analysis.report.training import init_reading
    recs = [_fake_record(tmp_path, name, s, val + 0.01 * s, test)
            for name, val, test in (("init-koch-bias", 0.72, 0.70), ("init-koch-nobias", 0.70, 0.71), ("init-he-bias", 0.69, 0.72))
            for s in (0, 1)]
    t = sweep_table(recs, "name", min_seeds=2)
    r = init_reading(t, recs)
    assert r["best"] == "init-koch-bias" and r["worst"] == "init-he-bias" and r["best_test_rank"] == "third"
    assert r["bias_schemes"] == "koch" and r["bias_gap"] == "koch +0.020" and r["n_runs"] == "6"


def test_sweep_readings(tmp_path) -> None:
    from lfwsiamese.analysis.report import sweeps as S
    from lfwsiamese.analysis.report.tables import sweep_table
    recs = []
    for lr, val, ep, cpu in ((1e-5, 0.70, 10, "AMD EPYC"), (5e-5, 0.72, 7, "Intel(R) Xeon(R) Processor")):
        for s in (0, 1):
            r = _fake_record(tmp_path, "s", s, val + 0.01 * s, 0.7, lr)
            r.metrics["epochs_run"] = ep
            r.metrics["fit_seconds"] = 60.0 * (1 + (lr == 1e-5))
            recs.append(_with_history(replace(r, env={"cpu": cpu}), val_accuracy=[0.6, 0.65, 0.7 + 0.01 * s]))
    t = sweep_table(recs, "train.learning_rate", min_seeds=2)
    r = S.sweep_reading(t, 5e-5, "lr_")
    assert r["lr_best"] == "5e-5" and r["lr_ref"] == "0.725" and r["lr_span"] == "0.020"
    assert S.early_stopped(t, 10) == "only at 5e-5 (after 7 epochs on average)"
    assert S.last_epochs_change(recs, "train.learning_rate", 1e-5, 2) == pytest.approx(0.105)
    assert S.epoch_means(recs, "train.learning_rate", "last") == "1e-05: 0.705, 5e-05: 0.705"
    assert "learning rate 1e-05 on AMD EPYC" in S.processors_by_value(recs, "train.learning_rate")
    assert S.time_extremes(t, "lr").startswith("lr 5e-05 trained fastest (1.0 minutes per run)")
    assert set(S.SWEEP_COLUMNS) <= set(t.columns)


def test_epochs_and_choice_readings() -> None:
    from lfwsiamese.analysis.report import sweeps as S
    cols = pd.MultiIndex.from_tuples([("seeds", ""), ("val_accuracy", "mean"), ("val_loss", "mean")])
    ep = pd.DataFrame([[2, 0.70, 1.0], [2, 0.72, 0.9], [1, 0.71, 0.95]], index=[1, 5, 10], columns=cols)
    full = S.full_epochs(ep, 2)
    assert full.index.tolist() == [1, 5]
    r = S.epochs_reading(full)
    assert r["ep_best"] == "after 5 epochs" and "the last epoch run" in r["ep_loss"]
    assert S.epochs_reading(full.iloc[:0])["ep_loss"] == ""
    summary = pd.DataFrame({"gain": [0.01, 0.0], "seed sd (mean over values)": [0.02, 0.01]})
    assert S.choice_reading(summary)["sw_read"].startswith("Every choice gains less")


def test_score_bands_and_threshold_gain(tmp_path) -> None:
    from lfwsiamese.analysis.report import scores as Sc
    r = _fake_record(tmp_path, "r", 0, 0.7, 0.72)
    r.path.mkdir(parents=True)
    pd.DataFrame({"name_a": ["A"] * 4, "index_a": range(4), "name_b": ["B"] * 4, "index_b": range(4),
                  "label": [1, 1, 0, 0], "score": [0.95, 0.5, 0.05, 0.3]}).to_csv(r.path / "scores.csv", index=False)
    b = Sc.score_bands(r)
    assert b["mid_same"] == "50%" and b["mid_diff"] == "50%" and b["low_diff"] == "50%" and b["high_same"] == "50.0%"
    assert (b["mid_lo"], b["mid_hi"], b["low"], b["high"]) == ("0.2", "0.8", "0.1", "0.9")
    r.metrics["test"]["accuracy_at_0.5"] = 0.70
    assert Sc.threshold_gain([r]) == pytest.approx(0.02)
    r.metrics["threshold"] = 0.03
    assert Sc.threshold_reading([r]) == {"at_half": "0.700", "gain": "2.0", "threshold": "0.030"}
    assert Sc.threshold_reading([])["gain"] == "(no run recorded yet)"
    assert Sc.pair_titles(pd.DataFrame({"label": [1, 0], "score": [0.9, 0.25]})) == ["same 0.900", "diff 0.250"]


def test_example_pairs_and_leakage() -> None:
    from lfwsiamese.analysis.report.dataset import (
        example_pairs,
        leakage_reading,
        leakage_summary,
    )
    pairs = example_pairs(n=3, seed=0)
    assert [p.same for p in pairs] == [True] * 3 + [False] * 3
    assert example_pairs(n=3, seed=0) == pairs  # seeded
    cmp = pd.DataFrame({"split": ["pair-level (reference)"] * 2 + ["person-disjoint (ours)"] * 2, "seed": [0, 1, 0, 1],
                        "val_pairs": 440, "val_same": 220, "val_different": 220,
                        "frac_sharing_a_person": [0.6, 0.7, 0, 0], "frac_sharing_an_image": [0.2, 0.2, 0, 0]})
    assert leakage_summary(cmp).loc["pair-level (reference)", "frac_sharing_a_person"] == pytest.approx(0.65)
    assert leakage_reading(cmp) == {"leak_person": "65%", "leak_image": "20%", "leak_seeds": "2"}


def test_mean_sd_table_and_difference_table(tmp_path) -> None:
    from lfwsiamese.analysis.report.compare import difference_table
    a = [_fake_record(tmp_path, "a", s, 0.7 + 0.01 * s, v) for s, v in enumerate((0.70, 0.72, 0.71))]
    b = [_fake_record(tmp_path, "b", s, 0.6 + 0.02 * s, v) for s, v in enumerate((0.60, 0.62, 0.61))]
    d = difference_table(a, b)
    assert d.index.tolist() == ["test acc (val threshold)", "test AUC", "val acc"]
    assert d.loc["test acc (val threshold)", "difference"] == pytest.approx(0.10)
    assert d.loc["val acc", "difference"] == pytest.approx(0.09)


def test_precision_groups_and_reading_compare_fast_with_float32(tmp_path) -> None:
    from lfwsiamese.analysis.report import compare, training
    fast = [_fake_record(tmp_path, "reference-fast", s, 0.70 + 0.02 * s, 0.71 + 0.01 * s) for s in range(3)]
    fp32 = [_fake_record(tmp_path, "reference-fp32", s, 0.69 + 0.03 * s, 0.70 + 0.01 * s) for s in range(3)]
    repro = [_fake_record(tmp_path, "reference", s, 0.70, 0.70) for s in range(2)]
    for i, r in enumerate(fast + fp32):
        r.metrics.update(peak_rss_mib=1000.0 + 100 * i, max_rss_mib_this_run=2000.0 + 100 * i)
    fp32[0].metrics["fit_seconds"] = 400.0
    g = training.precision_groups(fast + fp32 + [_fake_record(tmp_path, "other", 0, 0.7, 0.7)], repro)
    assert g[training.FAST] == fast and g[training.FP32] == fp32 and g[training.REPRO] == repro
    r = training.precision_reading(g, compare.difference_table(g[training.FAST], g[training.FP32]))
    assert r["prec_diff"] == "+0.010" and r["prec_seeds"] == "3"
    assert r["run_fast"] == "1.7 min" and r["run_fp32"] == "3.3 min"  # (100 + 400 + 100) / 3 s
    assert r["t_fast"] == "10 s"  # 100 s over 10 epochs
    assert r["rss_first"] == "1,000 MiB" and r["rss_first_run"] == "reference-fast seed 0"
    assert r["rss_max"] == "2,500 MiB"  # the largest of both sides
    with pytest.raises(ValueError, match="sweep precision"):
        training.precision_reading({**g, training.FP32: []}, compare.difference_table(fast, fp32))
