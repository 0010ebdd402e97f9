"""Intervals of accuracies (seeds and test pairs), protocols of comparisons, and the reproduction gap."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.test_report import _fake_record


def _scored(tmp_path, name: str, seed: int, right: np.ndarray, threshold: float = 0.5, **data):
    """A fake record whose scores.csv is right exactly on the pairs where `right` is 1 (at `threshold`)."""
    r = _fake_record(tmp_path / f"{name}{seed}", name, seed, 0.7, float(right.mean()))
    if data:
        r = replace(r, config=replace(r.config, data=replace(r.config.data, **data)))
    n = len(right)
    labels = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    score = np.where(right == 1, np.where(labels == 1, 0.9, 0.1), np.where(labels == 1, 0.1, 0.9))
    r.path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"name_a": ["A"] * n, "index_a": range(n), "name_b": ["B"] * n, "index_b": range(n),
                  "label": labels, "score": score}).to_csv(r.path / "scores.csv", index=False)
    r.metrics["threshold"] = threshold
    r.metrics["test"]["accuracy"] = float(right.mean())
    r.metrics["test"]["accuracy_at_0.5"] = float(right.mean())
    r.metrics["test"]["n_pairs"] = n
    return r


def test_combined_interval_adds_seed_and_pair_variance_and_says_what_it_covers() -> None:
    from scipy import stats

    from lfwsiamese.analysis.report.intervals import combined_interval
    rng = np.random.default_rng(0)
    correct = (rng.random((3, 1000)) < np.array([[0.84], [0.86], [0.85]])).astype(float)
    iv = combined_interval(correct.mean(axis=1), correct.mean(axis=0))
    vs = correct.mean(axis=1).var(ddof=1) / 3
    vp = correct.mean(axis=0).var(ddof=1) / 1000
    assert iv["se seeds"] == pytest.approx(np.sqrt(vs)) and iv["se pairs"] == pytest.approx(np.sqrt(vp))
    df = (vs + vp) ** 2 / (vs ** 2 / 2 + vp ** 2 / 999)
    assert iv["half width"] == pytest.approx(stats.t.ppf(0.975, df) * np.sqrt(vs + vp))
    assert iv["low"] < iv["mean"] < iv["high"] and iv["covers"] == "3 seeds + 1,000 test pairs"
    # the pair term is the variance of a bootstrap over test pairs that draws the same pairs for every seed
    boot = [correct[:, rng.integers(0, 1000, 1000)].mean() for _ in range(4000)]
    assert np.var(boot) == pytest.approx(vp, rel=0.1)
    one = combined_interval([0.85], n_pairs=1000)
    assert one["se pairs"] == pytest.approx(np.sqrt(0.85 * 0.15 / 1000)) and one["covers"] == "1,000 test pairs only (1 run)"
    assert one["half width"] == pytest.approx(stats.t.ppf(0.975, 999) * np.sqrt(0.85 * 0.15 / 1000))
    with pytest.raises(ValueError, match="n_pairs"):
        combined_interval([0.85])
    with pytest.raises(ValueError, match="not the same runs"):
        combined_interval([0.85, 0.86], [1.0, 0.0])


def test_accuracy_interval_reads_the_scores_and_refuses_different_test_pairs(tmp_path) -> None:
    from lfwsiamese.analysis.report.intervals import (
        accuracy_interval,
        combined_interval,
        interval_text,
    )
    rng = np.random.default_rng(1)
    rights = [(rng.random(200) < 0.8).astype(float) for _ in range(3)]
    recs = [_scored(tmp_path, "m", s, r) for s, r in enumerate(rights)]
    iv = accuracy_interval(recs)
    want = combined_interval([r.mean() for r in rights], np.mean(rights, axis=0))
    assert iv["half width"] == pytest.approx(want["half width"]) and iv["mean"] == pytest.approx(np.mean(rights))
    assert interval_text(iv) == f"[{iv['low']:.3f}, {iv['high']:.3f}]"
    assert accuracy_interval(recs, "accuracy_at_0.5")["mean"] == pytest.approx(np.mean(rights))
    recs[0].metrics["test"]["accuracy"] = 0.1  # the stored metric disagrees with the scores
    with pytest.raises(ValueError, match="its scores give"):
        accuracy_interval(recs)
    other = _scored(tmp_path / "o", "m", 5, rights[0][:100])
    with pytest.raises(ValueError, match="different test pairs"):
        accuracy_interval(recs[1:] + [other])
    with pytest.raises(ValueError, match="metric"):
        accuracy_interval(recs, "auc")


def test_view2_folds_give_the_interval_of_their_standard_error(tmp_path) -> None:
    from scipy import stats

    from lfwsiamese.analysis.report.intervals import accuracy_interval
    accs = [0.83, 0.85, 0.84, 0.86, 0.82, 0.85, 0.84, 0.83, 0.87, 0.85]
    recs = []
    for f, a in enumerate(accs):
        r = _fake_record(tmp_path, "improved", 0, 0.8, a)
        r.metrics["test"]["n_pairs"] = 600
        recs.append(replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=f))))
    iv = accuracy_interval(recs)
    se = np.std(accs, ddof=1) / np.sqrt(10)
    assert iv["se"] == pytest.approx(se) and iv["half width"] == pytest.approx(stats.t.ppf(0.975, 9) * se)
    assert iv["pairs"] == 6000 and "10 folds" in iv["covers"]


def test_protocol_and_category_follow_the_sampling_and_the_view() -> None:
    from lfwsiamese.analysis.report import protocol as pr
    from lfwsiamese.recipes import get_config
    from lfwsiamese.runs.plans import ablation_config, view2_configs
    assert pr.protocol_of(get_config("reference")) == pr.VIEW1_RESTRICTED
    assert pr.protocol_of(get_config("improved")) == pr.VIEW1_UNRESTRICTED
    assert pr.protocol_of(ablation_config("pairs", 0)) == pr.VIEW1_RESTRICTED
    assert pr.protocol_of(view2_configs(get_config("improved"))[0]) == pr.VIEW2_UNRESTRICTED
    assert pr.category_of(get_config("reference")) == pr.RESTRICTED_LABEL_FREE
    assert pr.category_of(get_config("improved")) == pr.UNRESTRICTED_LABEL_FREE


def test_peers_and_view2_tables_carry_protocol_category_and_interval(tmp_path) -> None:
    from lfwsiamese.analysis.report import comparisons as C
    from lfwsiamese.analysis.report.literature import LFW_VIEW2_VERIFIED, PEERS_DEVTEST
    rng = np.random.default_rng(2)
    recs = [_scored(tmp_path, "improved-pairs", s, (rng.random(1000) < 0.75).astype(float), sampling="pairs")
            for s in (0, 1)]
    t = C.peers_table({"ours, restricted": recs, "none": []})
    assert len(t) == len(PEERS_DEVTEST) + 1
    assert {C.PROTOCOL, C.CATEGORY, C.INTERVAL, C.COVERS} <= set(t.columns)
    assert t.loc["ours, restricted", C.PROTOCOL] == "View 1 restricted (DevTrain pairs)"
    assert t.loc["ours, restricted", C.COVERS] == "2 seeds + 1,000 test pairs"
    assert t["DevTest accuracy"].is_monotonic_decreasing
    v2 = C.view2_comparison([])
    assert len(v2) == len(LFW_VIEW2_VERIFIED) and v2[C.CATEGORY].notna().all()
    lo, hi = C.se_interval(0.7935, 0.0055)
    assert v2.loc["V1-like/MKL, funneled", C.INTERVAL] == f"[{lo:.3f}, {hi:.3f}]"
    assert v2.loc["Nowak, on LFW-a", C.INTERVAL] == "no SE given"


def test_headline_table_states_protocol_and_interval_and_refuses_mixed_protocols(tmp_path) -> None:
    from lfwsiamese.analysis.report import comparisons as C
    rng = np.random.default_rng(3)
    restricted = [_scored(tmp_path, "a", s, (rng.random(1000) < 0.72).astype(float)) for s in (0, 1, 2)]
    unrestricted = [_scored(tmp_path, "b", s, (rng.random(1000) < 0.85).astype(float), sampling="identities")
                    for s in (0, 1, 2)]
    for r in restricted + unrestricted:
        r.metrics["test"]["auc"] = 0.8
    t = C.headline_table({"ours, restricted": restricted, "ours, unrestricted": unrestricted, "empty": []})
    assert t.index.tolist() == ["reference, reported", "ours, restricted", "ours, unrestricted"]
    assert "±" not in "".join(t.astype(str).to_numpy().ravel())  # means and intervals only
    assert t.loc["ours, unrestricted", C.PROTOCOL].startswith("View 1 unrestricted")
    assert "test pairs only" in t.loc["reference, reported", C.COVERS]
    with pytest.raises(ValueError, match="several protocols"):
        C.headline_table({"mixed": restricted[:1] + unrestricted[:1]})


def test_protocol_gain_splits_the_gain_and_the_sentence_counts_the_seeds(tmp_path) -> None:
    from lfwsiamese.analysis.report import comparisons as C
    rng = np.random.default_rng(4)
    unres = [_scored(tmp_path, "improved", s, (rng.random(1000) < 0.85).astype(float), sampling="identities")
             for s in (0, 1, 2)]
    res = [_scored(tmp_path, "improved-pairs", 0, (rng.random(1000) < 0.75).astype(float), sampling="pairs")]
    g = C.protocol_gain(unres, res)
    name, peer = C.best_peer()
    assert g["peer accuracy"] == peer and g["total"] == pytest.approx(g["protocol"] + g["model"])
    assert g["protocol"] == pytest.approx(np.mean([r.metrics["test"]["accuracy"] for r in unres]) - res[0].metrics["test"]["accuracy"])
    s = C.protocol_sentence(g)
    assert name in s and f"{g['protocol'] * 100:+.1f} of those points come from the protocol" in s
    assert "(1 seed)" in s and "rests on one seed" in s
    with pytest.raises(ValueError, match="restricted"):
        C.protocol_gain(unres, unres)


def test_reported_position_and_the_gap_verdicts(tmp_path) -> None:
    from scipy import stats

    from lfwsiamese.analysis.report import gap
    v = [0.70, 0.71, 0.72, 0.705, 0.715]
    p = gap.reported_position(v, 0.731)
    scale = np.std(v, ddof=1) * np.sqrt(1 + 1 / 5)
    assert p["p one run"] == pytest.approx(stats.t.sf((0.731 - np.mean(v)) / scale, 4))
    assert p["seeds at or above"] == 0 and p["percentile"] == 100.0
    assert np.isnan(gap.reported_position(v[:2], 0.731)["p one run"])

    def recs(name, accs):
        out = []
        for s, a in enumerate(accs):
            r = _fake_record(tmp_path, name, s, 0.7, a)
            out.append(r)
        return out
    near = recs("own", [0.72, 0.73, 0.735, 0.725, 0.74])
    far = recs("ours", [0.69, 0.70, 0.695, 0.70, 0.69])
    lucky = gap.gap_verdict({"own": near, "ours": near}, 0.731, "own", "ours")
    assert lucky.startswith("A lucky seed explains it") and "provisional" not in lucky
    setup = gap.gap_verdict({"own": near, "ours": far}, 0.731, "own", "ours", planned=10)
    assert setup.startswith("A difference of setup explains it") and "provisional: 5 and 5 of 10" in setup
    assert gap.gap_verdict({"own": far, "ours": far}, 0.731, "own", "ours").startswith("It is unexplained")
    assert "no verdict" in gap.gap_verdict({"own": far[:2], "ours": far}, 0.731, "own", "ours")
    t = gap.gap_table({"own": near, "ours": far[:2], "none": []}, 0.731, {"own": 10, "ours": 10, "none": 10})
    assert t.loc["own", "seeds"] == "5 of 10" and t.loc["none", "seeds"] == "0 of 10"
    assert t.loc["own", "seeds reaching the reported"] == "2 of 5"  # 0.735 and 0.74


def test_seed_distribution_draws_each_setup_and_the_reported_line(tmp_path) -> None:
    import matplotlib
    matplotlib.use("Agg")

    from lfwsiamese.analysis.plots import seed_distribution
    from lfwsiamese.analysis.report.gap import seed_values
    a = [_fake_record(tmp_path, "a", s, 0.7, 0.70 + 0.01 * s) for s in range(3)]
    vals = seed_values({"ours": a, "own": []})
    ax = seed_distribution(vals, 0.731, {"ours": 10, "own": 10}).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "ours\n(3 of 10 seeds)" in labels and "own\n(0 of 10 seeds)" in labels  # names wrapped, counts below
    assert any("0.731" in t.get_text() for t in ax.get_legend().get_texts())
    assert any(t.get_text() == "no seed recorded yet" for t in ax.texts)
    with pytest.raises(ValueError, match="no setups"):
        seed_distribution(seed_values({}), 0.731)


def test_mean_sd_states_its_plus_minus_and_the_intervals(tmp_path) -> None:
    from lfwsiamese.analysis.report.compare import INTERVAL_ROWS, mean_sd
    from lfwsiamese.analysis.report.intervals import SD_NOTE
    rng = np.random.default_rng(5)
    recs = [_scored(tmp_path, "m", s, (rng.random(300) < 0.8).astype(float)) for s in (0, 1)]
    for r in recs:
        r.metrics["test"]["eer"] = 0.2
    ms = mean_sd(recs)
    assert ms["± is"] == SD_NOTE and ms["seeds"] == 2
    assert all(ms[row].startswith("[") for row in INTERVAL_ROWS.values())
    assert "test pairs only" in mean_sd(recs[:1])[INTERVAL_ROWS["test acc (val threshold)"]]


def test_gap_groups_split_by_recipe_and_progress_names_the_command(tmp_path) -> None:
    from lfwsiamese.analysis.report import gap
    own = [_fake_record(tmp_path / "own", "reference-fp32-pairval", s, 0.7, 0.72) for s in range(2)]
    ours = [_fake_record(tmp_path / "ours", "reference-fp32", s, 0.7, 0.71) for s in range(3)]
    other = [_fake_record(tmp_path / "other", "reference", 0, 0.7, 0.70)]
    g = gap.gap_groups(ours + other + own)
    assert list(g) == [gap.OWN_SETUP, gap.OURS_SETUP]  # the reference's own setup first, any other recipe left out
    assert g[gap.OWN_SETUP] == own and g[gap.OURS_SETUP] == ours
    text = gap.gap_progress(g, 10)
    assert text.startswith("2 of 10 under the reference's own setup and 3 of 10 with person-disjoint validation")
    assert text.endswith("`lfwsiamese sweep gap` trains the others")
    assert "sweep gap" not in gap.gap_progress({gap.OWN_SETUP: own}, 2)  # every seed recorded: no command
    # the default setup names are the groups' own, so the chapter passes no labels
    assert "no verdict" in gap.gap_verdict(g, 0.731)
