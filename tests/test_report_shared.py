"""The book library's shared layer: the one interval helper, paired differences, record selection, tables."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lfwsiamese.recipes import get_config
from lfwsiamese.records.store import Record
from lfwsiamese.report import records as R
from lfwsiamese.report import stats as S
from lfwsiamese.report import tables as T
from tests.synth import scores_right_where


def _record(tmp_path, seed: int, right: np.ndarray, **data) -> Record:
    """A record whose scores.csv is right exactly where `right` is 1, at its threshold 0.5."""
    cfg = replace(get_config("reference"), seed=seed)
    if data:
        cfg = replace(cfg, data=replace(cfg.data, **data))
    path = tmp_path / f"{cfg.run_name}-{seed}-{data.get('fold', '')}"
    path.mkdir(parents=True)
    n = len(right)
    keys = {"name_a": ["A"] * n, "index_a": range(n), "name_b": ["B"] * n, "index_b": range(n)}
    scores_right_where(right, keys).to_csv(path / "scores.csv", index=False)
    acc = float(right.mean())
    m = {"threshold": 0.5, "fit_seconds": 600.0,
         "test": {"accuracy": acc, "accuracy_at_0.5": acc, "n_pairs": n}}
    return Record(path, cfg, m, pd.DataFrame(), {"cpu": "Intel(R) Xeon(R) Processor"})


def test_seed_interval_adds_seed_and_pair_variance() -> None:
    rng = np.random.default_rng(0)
    correct = (rng.random((3, 1000)) < np.array([[0.84], [0.86], [0.85]])).astype(float)
    iv = S.seed_interval(correct.mean(axis=1), correct.mean(axis=0))
    vs = correct.mean(axis=1).var(ddof=1) / 3
    vp = correct.mean(axis=0).var(ddof=1) / 1000
    df = (vs + vp) ** 2 / (vs ** 2 / 2 + vp ** 2 / 999)
    assert iv["half"] == pytest.approx(stats.t.ppf(0.975, df) * np.sqrt(vs + vp))
    assert iv["low"] < iv["mean"] < iv["high"] and iv["runs"] == 3 and iv["pairs"] == 1000
    # the pair term is the variance of a bootstrap over test pairs drawing the same pairs for every seed
    boot = [correct[:, rng.integers(0, 1000, 1000)].mean() for _ in range(4000)]
    assert np.var(boot) == pytest.approx(vp, rel=0.1)
    one = S.seed_interval([0.85], n_pairs=1000)
    assert one["half"] == pytest.approx(stats.t.ppf(0.975, 999) * np.sqrt(0.85 * 0.15 / 1000))
    with pytest.raises(ValueError, match="n_pairs"):
        S.seed_interval([0.85])


def test_interval_reads_the_scores_and_refuses_mismatches(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rights = [(rng.random(200) < 0.8).astype(float) for _ in range(3)]
    recs = [_record(tmp_path, s, r) for s, r in enumerate(rights)]
    iv = S.interval(recs)
    want = S.seed_interval([r.mean() for r in rights], np.mean(rights, axis=0))
    assert iv["half"] == pytest.approx(want["half"]) and iv["mean"] == pytest.approx(np.mean(rights))
    recs[0].metrics["test"]["accuracy"] = 0.1  # the stored metric disagrees with the scores
    with pytest.raises(ValueError, match="its scores give"):
        S.interval(recs)
    with pytest.raises(ValueError, match="different test pairs"):
        S.interval(recs[1:] + [_record(tmp_path / "o", 5, rights[0][:100])])
    with pytest.raises(ValueError, match="metric"):
        S.interval(recs, "auc")


def test_view2_folds_give_the_t_interval_of_their_standard_error(tmp_path) -> None:
    accs = [0.83, 0.85, 0.84, 0.86, 0.82, 0.85, 0.84, 0.83, 0.87, 0.85]
    recs = [_record(tmp_path, 0, (np.arange(100) < a * 100).astype(float), protocol="view2", fold=f)
            for f, a in enumerate(accs)]
    iv = S.interval(recs)
    se = np.std(accs, ddof=1) / np.sqrt(10)
    assert iv["se"] == pytest.approx(se) and iv["half"] == pytest.approx(stats.t.ppf(0.975, 9) * se)
    with pytest.raises(ValueError, match="fold is repeated"):
        S.interval(recs + recs[:1])


def test_paired_difference_pairs_runs() -> None:
    d = S.paired_difference([0.80, 0.82, 0.81], [0.78, 0.80, 0.80])
    assert d["mean"] == pytest.approx(0.05 / 3)
    assert d["se"] == pytest.approx(np.std([0.02, 0.02, 0.01], ddof=1) / np.sqrt(3))
    with pytest.raises(ValueError, match="at least 2"):
        S.paired_difference([0.8], [0.7])


def test_missing_records_stop_the_chapter_with_the_command(monkeypatch) -> None:
    cfgs = [get_config("reference", seed=s) for s in (0, 1)]
    monkeypatch.setattr(R, "get_plan", lambda plan: cfgs)
    monkeypatch.setattr(R, "find_record", lambda c: None)
    with pytest.raises(R.MissingRecordsError, match=r"2 of 2 runs missing.*lfwsiamese sweep demo.*make records"):
        R.plan_records("demo")
    with pytest.raises(ValueError, match="validation="):
        R.plan_records("demo", validation="pairs")


def test_processor_names_and_tables(tmp_path) -> None:
    rec = _record(tmp_path, 0, np.ones(10))
    assert R.processor_of(rec) == "Intel Xeon"
    assert T.pct(0.8933) == "89.3%" and T.pct_interval({"mean": 0.8933, "half": 0.0061}) == "89.3% ± 0.6"
    assert T.minutes(1500) == "25 min" and T.minutes(28080) == "7.8 h"
    html = T.show(pd.DataFrame({"model": ["a"], "accuracy": [0.81234]})).to_html()
    assert "0.812" in html and "row0_col0" in html and "level0_row0" not in html  # no index column
    with pytest.raises(ValueError, match="empty"):
        T.show(pd.DataFrame({"model": ["a", None], "accuracy": [0.8, np.nan]}))
