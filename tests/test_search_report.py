"""The search table picks its winner on validation alone and counts every candidate."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from lfwsiamese.analysis.report.search import (
    describe_overrides,
    search_noise,
    search_sentence,
    search_table,
    whitening_reading,
)


def _rec(name: str, val: float, auc: float, fit: float, test: float) -> SimpleNamespace:
    return SimpleNamespace(path=Path(name), metrics={"val": {"accuracy": val, "auc": auc}, "test": {"accuracy": test},
                                                     "epochs_run": 25, "fit_seconds": fit})


def test_winner_is_chosen_on_validation_never_on_test() -> None:
    cands = [{"train.loss": "npair"}, {"train.epochs": 50}, {"train.batch_size": 128}]
    recs = [_rec("a", 0.90, 0.95, 100, test=0.99), _rec("b", 0.91, 0.95, 200, test=0.50), None]
    t = search_table(recs, cands)
    assert t.loc[t["chosen"] != "", "run"].tolist() == ["b"]  # the best validation, although its test is worst
    assert "test" not in " ".join(t.columns)
    assert math.isnan(t.loc[2, "val acc"]) and t.loc[2, "run"] == "(not trained)"
    s = search_sentence(t)
    assert s.startswith("2 candidates were tried (1 more planned, not trained yet)") and "candidate 2" in s
    assert describe_overrides(cands[1]) == "improved + train.epochs=50"


def test_ties_go_to_the_cheaper_run() -> None:
    t = search_table([_rec("slow", 0.9, 0.95, 300, 0.8), _rec("fast", 0.9, 0.95, 100, 0.8)], [{}, {}])
    assert t.loc[t["chosen"] != "", "run"].tolist() == ["fast"]
    assert search_sentence(search_table([None], [{}])) == "None of the 1 planned candidates has been trained yet."


def test_labelled_histories_draws_one_line_per_record_and_names_a_missing_metric() -> None:
    import pandas as pd
    import pytest

    from lfwsiamese.analysis.plots import labelled_histories
    a = SimpleNamespace(history=pd.DataFrame({"epoch": [0, 1, 2], "val_auc": [0.7, 0.8, 0.85]}))
    b = SimpleNamespace(history=pd.DataFrame({"epoch": [0, 1], "val_auc": [0.6, 0.9]}))
    fig = labelled_histories({"a": a, "b": b})
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [3, 2]
    with pytest.raises(ValueError, match="'val_loss' is not in the history of \\['a', 'b'\\]"):
        labelled_histories({"a": a, "b": b}, "val_loss")


def test_an_abandoned_candidate_counts_as_tried_but_takes_no_part_in_the_choice() -> None:
    # its partial run has the best validation number, yet it is never chosen: it did not finish its budget
    recs = [_rec("a", 0.90, 0.95, 100, 0.8), _rec("partial", 0.99, 0.99, 50, 0.8), None]
    t = search_table(recs, [{}, {"train.epochs": 50}, {}], abandoned={1: "lost its checkpoint"})
    assert t.loc[t["chosen"] != "", "run"].tolist() == ["a"]
    assert t.loc[1, "run"] == "(abandoned)" and t.loc[1, "note"] == "lost its checkpoint"
    assert math.isnan(t.loc[1, "val acc"])
    s = search_sentence(t)
    assert s.startswith("2 candidates were tried (1 of them abandoned before the end and left out of the choice; "
                        "1 more planned, not trained yet)"), s
    assert "of the 1 trained to the end" in s


def test_abandoned_indices_outside_the_candidates_are_refused() -> None:
    import pytest
    with pytest.raises(ValueError, match=r"abandoned candidates \[3\]"):
        search_table([None], [{}], abandoned={3: "x"})


def test_the_npair_recipe_is_the_chosen_candidate_and_the_search_plan_skips_abandoned_ones() -> None:
    from dataclasses import replace

    from lfwsiamese.recipes import get_config
    from lfwsiamese.runs.plans import (
        NPAIR_SEEDS,
        SEARCH_ABANDONED,
        SEARCH_CANDIDATES,
        get_plan,
        plan_search,
        search_configs,
    )
    assert replace(search_configs()[0], name="npair") == get_config("npair", seed=0)
    assert len(search_configs()) == len(SEARCH_CANDIDATES)
    assert len(plan_search()) == len(SEARCH_CANDIDATES) - len(SEARCH_ABANDONED)
    assert [c.seed for c in get_plan("npair")] == list(NPAIR_SEEDS) and 0 not in NPAIR_SEEDS  # fresh seeds only
    v2 = get_plan("npair-view2")
    assert [c.data.fold for c in v2] == list(range(10)) and {c.data.protocol for c in v2} == {"view2"}
    assert all(c.train.loss == "npair" for c in v2)


def test_search_noise_sets_the_candidates_span_against_binomial_and_seed_noise() -> None:
    import pytest
    recs = [_rec("a", 0.90, 0.95, 100, 0.8), _rec("b", 0.93, 0.95, 100, 0.8), None]
    for r in recs[:2]:
        r.metrics["val"]["n_pairs"] = 1000
    t = search_table(recs, [{}, {}, {}])
    base = [SimpleNamespace(metrics={"val": {"accuracy": a}}) for a in (0.85, 0.86, 0.875)]
    n = search_noise(t, recs, base)
    se2 = 2 * (0.93 * 0.07 / 1000) ** 0.5 * 100  # of the winner, b: 1.6 points
    assert n == {"cand_span": "3.0", "n_val": "1,000", "se2": f"{se2:.1f}", "span_vs_se": "more than",
                 "base_span": "2.5", "base_seeds": "3"}
    recs[1].metrics["val"]["accuracy"] = 0.905
    assert search_noise(search_table(recs, [{}, {}, {}]), recs, base)["span_vs_se"] == "less than"
    with pytest.raises(ValueError, match="no candidate"):
        search_noise(search_table([None], [{}]), [None], base)


def test_whitening_reading_takes_the_raw_cosine_and_the_best_whitened_space() -> None:
    import pandas as pd
    import pytest
    study = pd.DataFrame({"space": ["raw cosine", "PCA", "PCA whitened", "PCA whitened"], "dims": [128, 64, 64, 32],
                          "whiten": [False, False, True, True], "val_accuracy": [0.90, 0.95, 0.87, 0.88]})
    assert whitening_reading(study) == {"raw": "0.900", "best_whitened": "0.880"}  # PCA unwhitened (0.95) is not one
    with pytest.raises(ValueError, match="whitened row"):
        whitening_reading(study[~study["whiten"]])
