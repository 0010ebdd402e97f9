"""The N-pair and error-analysis chapters' library: the search's choice on validation, unmatched seed differences,
the results-page table of one category, and the error tables and figures read from a record's scores."""
from __future__ import annotations

from dataclasses import replace

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib.use("Agg")

from lfwsiamese.recipes import get_config  # noqa: E402
from lfwsiamese.records.store import Record  # noqa: E402
from lfwsiamese.report import beyond_view2 as V  # noqa: E402
from lfwsiamese.report import error_analysis as E  # noqa: E402
from lfwsiamese.report import npair as N  # noqa: E402
from lfwsiamese.report.literature import LFW_VIEW2_VERIFIED, UNRESTRICTED_LABEL_FREE  # noqa: E402
from lfwsiamese.report.tables import show  # noqa: E402
from lfwsiamese.runs.plans import SEARCH_CANDIDATES  # noqa: E402

from tests.conftest import TINY_TEST_PEOPLE  # noqa: E402


def _record(tmp_path, tag: str, labels, scores, threshold: float = 0.5, val=(0.9, 0.95), fit=600.0, **data) -> Record:
    """A record with these test scores (pairs of tiny-LFW people) and these validation numbers."""
    cfg = replace(get_config("npair"), seed=0)
    if data:
        cfg = replace(cfg, data=replace(cfg.data, **data))
    path = tmp_path / tag
    path.mkdir(parents=True)
    n = len(labels)
    a, b = TINY_TEST_PEOPLE[0], TINY_TEST_PEOPLE[1]
    pd.DataFrame({"name_a": [a] * n, "index_a": [1 + k % 4 for k in range(n)],
                  "name_b": [a if y else b for y in labels], "index_b": [1 + (k + 1) % 3 for k in range(n)],
                  "label": labels, "score": scores}).to_csv(path / "scores.csv", index=False)
    s, y = np.asarray(scores), np.asarray(labels)
    acc = float(((s > threshold).astype(int) == y).mean())
    m = {"threshold": threshold, "fit_seconds": fit, "val": {"accuracy": val[0], "auc": val[1]},
         "test": {"accuracy": acc, "accuracy_at_0.5": acc, "auc": 0.9, "n_pairs": n}}
    return Record(path, cfg, m, pd.DataFrame(), {"cpu": "Intel(R) Xeon(R) Processor"})


def _rights(tmp_path, tag: str, right: np.ndarray) -> Record:
    labels = np.r_[np.ones(len(right) // 2, int), np.zeros(len(right) - len(right) // 2, int)]
    return _record(tmp_path, tag, labels, np.where(right == 1, np.where(labels == 1, 0.9, 0.1),
                                                   np.where(labels == 1, 0.1, 0.9)))


def test_candidates_read_in_words_and_the_choice_is_the_validation_best(tmp_path) -> None:
    labels = [N.describe(ov) for ov in SEARCH_CANDIDATES]
    assert labels == ["N-pair loss", "N-pair loss, cosine margin 0.2, scale 32",
                      "N-pair loss, batches of 128 pairs, 8,192 pairs an epoch", "N-pair loss, 50 epochs"]
    y, s = [1, 0], [0.9, 0.1]
    done = {0: _record(tmp_path, "a", y, s, val=(0.89, 0.96)), 1: _record(tmp_path, "b", y, s, val=(0.90, 0.94)),
            2: _record(tmp_path, "c", y, s, val=(0.90, 0.95), fit=300.0)}
    t = N.search_table(done, labels, {3: "stopped at epoch 12 of 50"})
    assert list(t.outcome) == ["trained", "trained", "chosen", "stopped at epoch 12 of 50"]  # tie: the cheaper
    assert list(t.iloc[3, 1:4]) == ["not finished"] * 3 and t.iloc[2, 1] == "90.0%"
    show(t)  # no empty cells
    assert not any("candidate" in c or "_" in c for c in t.columns)


def test_unmatched_difference_adds_both_seed_spreads_and_the_pairs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    new = [_rights(tmp_path, f"n{k}", (rng.random(400) < p).astype(float)) for k, p in enumerate((0.88, 0.86, 0.87))]
    base = [_rights(tmp_path, f"b{k}", (rng.random(400) < p).astype(float)) for k, p in enumerate((0.85, 0.84, 0.86))]
    d = N.difference(new, base)
    from lfwsiamese.report.stats import pair_correct
    cn, cb = (np.stack([pair_correct(r) for r in rs]) for rs in (new, base))
    v = [cn.mean(1).var(ddof=1) / 3, cb.mean(1).var(ddof=1) / 3, (cn.mean(0) - cb.mean(0)).var(ddof=1) / 400]
    df = sum(v) ** 2 / (v[0] ** 2 / 2 + v[1] ** 2 / 2 + v[2] ** 2 / 399)
    assert d["mean"] == pytest.approx(cn.mean() - cb.mean())
    assert d["half"] == pytest.approx(stats.t.ppf(0.975, df) * np.sqrt(sum(v)))
    same = N.difference(new, new)
    assert same["mean"] == 0 and same["low"] < 0 < same["high"]


def test_results_page_table_holds_one_category_and_ours(tmp_path) -> None:
    accs = [0.88, 0.90, 0.89, 0.91, 0.87, 0.90, 0.89, 0.88, 0.92, 0.90]
    folds = [_rights(tmp_path / f"f{f}", "r", (np.arange(100) < a * 100).astype(float)) for f, a in enumerate(accs)]
    folds = [replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=f)))
             for f, r in enumerate(folds)]
    t = V.page({"npair": folds})
    t = t[t["results-page category"] == UNRESTRICTED_LABEL_FREE]
    page = [e for e in LFW_VIEW2_VERIFIED if e.category == UNRESTRICTED_LABEL_FREE]
    assert len(t) == len(page) + 1 and "N-pair model (ours)" in set(t.method)
    assert list(t.method)[-1] == "N-pair model (ours)"  # below every entry of the page here
    se = np.std(accs, ddof=1) / np.sqrt(10)
    h = stats.t.ppf(0.975, 9) * se
    row = t[t.method == "N-pair model (ours)"].iloc[0]
    assert row["SE (points)"] == f"{100 * se:.1f}"
    assert row["95% interval"] == f"{100 * (np.mean(accs) - h):.1f}% to {100 * (np.mean(accs) + h):.1f}%"
    show(t)


def test_whitening_table_in_words() -> None:
    study = pd.DataFrame({"space": ["raw cosine", "centred on training people", "PCA whitened"], "dims": [256, 256, 32],
                          "whiten": [False, False, True], "val_accuracy": [0.901, 0.894, 0.857],
                          "val_auc": [0.9558, 0.9508, 0.9296], "val_eer": [0.1, 0.1, 0.2]})
    t = N.whitening_table(study)
    assert list(t["embedding space"]) == ["raw cosine", "centred on training people", "PCA whitened to 32 numbers"]
    assert list(t["validation accuracy"]) == ["90.1%", "89.4%", "85.7%"] and t["validation AUC"][2] == "0.930"


def test_error_tables_and_figures_read_the_scores(tmp_path, tiny_lfw) -> None:
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.95, 0.7, 0.45, 0.1, 0.05, 0.3, 0.6, 0.99]
    rec = _record(tmp_path, "e", labels, scores, threshold=0.4)
    cm = E.confusion(rec).set_index("truth")
    assert cm.loc["same person"].tolist() == [3, 1] and cm.loc["different people"].tolist() == [2, 2]
    right, wrong = E.confident(rec, right=True, n=1), E.confident(rec, right=False, n=2)
    assert right.score.tolist() == [0.95, 0.05]
    assert wrong.score.tolist() == [0.1, 0.99, 0.6] and wrong.label.tolist() == [1, 0, 0]
    ax = E.roc_figure({"npair": [rec]}).axes[0]
    assert "false accept rate" in ax.get_xlabel() and "seed 0" in ax.get_legend().get_texts()[0].get_text()
    ax = E.score_figure(rec).axes[0]
    assert ax.get_ylabel() == "test pairs" and "score" in ax.get_xlabel()
    fig = E.pair_figure(wrong, data=str(tiny_lfw), ncols=2)
    titles = [a.get_title(loc="left") for a in fig.axes if a.get_title(loc="left")]
    assert titles == ["same, score 0.100", "different, score 0.990", "different, score 0.600"]
    plt.close("all")
