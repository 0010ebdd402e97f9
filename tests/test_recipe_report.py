"""Readings of the chosen recipe: the ablation step in words, its cost per processor, and the targets, stated
plainly from the records (fake records scored on synthetic pairs)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from lfwsiamese.analysis.report.recipe import recipe_cost_table, step_sentence, targets_sentence
from tests.test_intervals import _scored


def _runs(tmp_path, name: str, rates: list[float], cpu: str = "Intel(R) Xeon(R) Processor", n: int = 1000):
    out = []
    for seed, p in enumerate(rates):
        right = np.zeros(n)
        right[: int(round(p * n))] = 1
        r = _scored(tmp_path, name, seed, np.random.default_rng(seed).permutation(right))
        out.append(replace(r, env={"cpu": cpu, "device": "CPU"}))
    return out


def test_step_sentence_separates_a_large_gain_and_names_the_processors(tmp_path) -> None:
    base = _runs(tmp_path, "base", [0.80, 0.81, 0.80])
    new = _runs(tmp_path, "new", [0.90, 0.91, 0.90])
    s = step_sentence(base, new, "improved", "npair")
    assert "a difference of +10.0 points" in s and "so npair is above improved" in s
    assert s.endswith("Both were trained on Intel Xeon.")
    amd = _runs(tmp_path, "amd", [0.80, 0.81], cpu="AMD EPYC")
    s = step_sentence(amd, new, "improved", "npair")
    assert "different processors (improved: AMD EPYC; npair: Intel Xeon)" in s
    close = _runs(tmp_path, "close", [0.805, 0.795, 0.81])
    assert "not separated from" in step_sentence(base, close, "improved", "npair")


def test_step_sentence_waits_for_records_and_for_two_seeds(tmp_path) -> None:
    base = _runs(tmp_path, "base", [0.80, 0.81])
    assert step_sentence(base, [], "improved", "npair").startswith("The step from improved to npair is stated once")
    one = _runs(tmp_path, "one", [0.9])
    assert "fewer than two seeds on a side the difference has no interval yet" in step_sentence(base, one, "a", "b")


def test_recipe_cost_table_reads_records_and_the_stored_bench_by_processor(tmp_path) -> None:
    runs = _runs(tmp_path, "npair", [0.9, 0.9])
    runs[0].metrics["fit_seconds"], runs[1].metrics["fit_seconds"] = 1200.0, 1800.0
    runs[0].metrics["train_pairs_per_second"], runs[1].metrics["train_pairs_per_second"] = 200.0, 100.0
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "recipe-npair-intel.json").write_text(json.dumps({
        "recipe": "npair", "train_pairs_per_s": 210.0, "train_gflop_per_s": 300.0, "fraction_of_peak": 0.05,
        "precision": "mixed_bfloat16", "estimated_fit_minutes": 15.9, "env": {"cpu": "Intel(R) Xeon(R) Processor"}}))
    (bench / "recipe-other-intel.json").write_text(json.dumps({"recipe": "other"}))  # not asked for: left out
    t = recipe_cost_table({"npair": runs}, bench)
    assert t.index.tolist() == [("npair", "Intel Xeon")]
    row = t.loc[("npair", "Intel Xeon")]
    assert row["runs"] == 2 and row["training minutes per run (measured)"] == pytest.approx(25.0)
    assert row["train pairs/s (measured)"] == pytest.approx(150.0)
    assert row["bench: train pairs/s"] == 210.0 and row["bench: share of nominal peak"] == 0.05


def test_targets_sentence_states_misses_plainly_and_waits_for_ten_folds(tmp_path) -> None:
    seeds = _runs(tmp_path, "npair", [0.86, 0.87, 0.86])
    s = targets_sentence(seeds, seeds[:2])
    assert s.startswith("DevTest, 3 fresh seeds: 0.863") and "below 88%" in s
    assert s.endswith("View 2: 1 of 10 folds recorded, so no ten-fold mean yet.")  # two fake records share fold 0
    folds = [replace(r, config=replace(r.config, data=replace(r.config.data, protocol="view2", fold=k)))
             for k, r in enumerate(_runs(tmp_path, "v2", [0.9] * 10))]
    s = targets_sentence([], folds)
    assert s.startswith("DevTest: no fresh seed recorded yet") and "View 2: 0.900 ± 0.000" in s and "at or above 88%" in s
