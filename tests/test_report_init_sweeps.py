"""The initialization and sweeps chapters' library: choices made on validation only, numbers for tables, figures in words."""
from __future__ import annotations

import json
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from lfwsiamese.recipes import get_config
from lfwsiamese.records.store import Record
from lfwsiamese.report import initialization as I
from lfwsiamese.report import sweeps as S

N_TEST = 100


def _record(tmp_path, name: str, seed: int, val: float, test: float, history: pd.DataFrame | None = None,
            weights: dict | None = None, cpu: str = "Intel(R) Xeon(R) Processor", **train) -> Record:
    """A record with the given accuracies; its scores.csv is right on the first `test * N_TEST` pairs."""
    base = get_config("reference-fast")
    cfg = replace(base, name=name, seed=seed, train=replace(base.train, **train))
    path = tmp_path / f"{name}-{seed}-{'-'.join(f'{v}' for v in train.values())}"
    path.mkdir(parents=True)
    labels = np.arange(N_TEST) % 2
    right = np.arange(N_TEST) < round(test * N_TEST)
    score = np.where(right == (labels == 1), 0.9, 0.1)
    pd.DataFrame({"name_a": ["A"] * N_TEST, "index_a": range(N_TEST), "name_b": ["B"] * N_TEST,
                  "index_b": range(N_TEST), "label": labels, "score": score}).to_csv(path / "scores.csv", index=False)
    if weights is not None:
        (path / "weights.json").write_text(json.dumps(weights))
    m = {"threshold": 0.5, "fit_seconds": 600.0 / train.get("batch_size", 32) * 32, "epochs_run": 10,
         "val": {"accuracy": val, "n_pairs": 440}, "test": {"accuracy": test, "accuracy_at_0.5": test, "n_pairs": N_TEST}}
    return Record(path, cfg, m, history if history is not None else pd.DataFrame(), {"cpu": cpu})


def _history(val: list[float], test: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(len(val)), "val_accuracy": val, "test_accuracy_unused_for_choices": test})


def test_sweep_frame_chooses_on_validation_never_on_test(tmp_path) -> None:
    # 1e-5 is best on test, 5e-5 on validation: validation decides
    acc = {1e-5: [(0.70, 0.80), (0.72, 0.78)], 5e-5: [(0.74, 0.70), (0.70, 0.70)], 1e-3: [(0.60, 0.60), (0.62, 0.62)]}
    recs = [_record(tmp_path, "sweep-lr", s, v, t, learning_rate=lr)
            for lr, runs in acc.items() for s, (v, t) in enumerate(runs)]
    f = S.sweep_frame(recs, "learning_rate")
    assert list(f["value"]) == [1e-5, 5e-5, 1e-3] and (f["seeds"] == 2).all()
    row = f.set_index("value").loc[5e-5]
    assert row["validation"] == pytest.approx(0.72) and row["seed_gap"] == pytest.approx(0.04)
    assert (row["val_low"], row["val_high"]) == pytest.approx((0.70, 0.74))
    assert f.loc[f["chosen"], "value"].item() == 5e-5 and f["chosen"].sum() == 1
    assert f["processor"].unique().tolist() == ["Intel Xeon"] and (f["minutes"] == 10).all()
    fig = S.sweep_figure(f, "learning rate", logx=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "learning rate" and ax.get_xscale() == "log"
    assert "_" not in ax.get_ylabel() and "chosen on validation" in [t.get_text() for t in ax.get_legend().texts]


def test_epochs_frame_reads_the_grid_of_long_runs(tmp_path) -> None:
    val = [0.5, 0.6, 0.7, 0.72, 0.71, 0.69]
    recs = [_record(tmp_path, "sweep-epochs", s, 0.7, 0.7, history=_history([v + d for v in val], val), epochs=6,
                    early_stopping=False) for s, d in enumerate((0.0, 0.02))]
    f = S.epochs_frame(recs, (1, 2, 3, 5, 6))
    assert list(f["value"]) == [1, 2, 3, 5, 6]  # epoch 4 is not a candidate, although best
    assert f.loc[f["chosen"], "value"].item() == 5
    assert f.set_index("value").loc[5, "validation"] == pytest.approx(0.72)
    assert f["seed_gap"].to_numpy() == pytest.approx(0.02)
    gains = S.choice_table({"epochs": (f, 3), "the same": (f, 5)})
    assert list(gains.columns) == ["setting", "reference's value", "chosen on validation",
                                   "validation gain (points)", "test gain (points)"]
    assert gains.loc[0, "validation gain (points)"] == pytest.approx(1.0)
    assert gains.loc[0, "test gain (points)"] == pytest.approx(1.0)
    assert gains.loc[1, "validation gain (points)"] == pytest.approx(0.0) and not gains.isna().any().any()


def test_histories_figure_names_values_in_words(tmp_path) -> None:
    recs = [_record(tmp_path, "sweep-lr", 0, 0.7, 0.7, history=_history([0.5, 0.6], [0.5, 0.6]), learning_rate=lr)
            for lr in (5e-6, 1e-3)]
    ax = S.histories_figure(recs, "learning_rate", "learning rate").axes[0]
    assert [t.get_text() for t in ax.get_legend().texts] == ["learning rate 0.000005", "learning rate 0.001"]
    assert ax.get_xlabel() == "epoch" and list(ax.lines[0].get_xdata()) == [1, 2]
    f = S.sweep_frame(recs, "learning_rate")
    assert S.choice_table({"learning rate": (f, 1e-3)}).loc[0, "reference's value"] == "0.001"


def _weights(scale: float, zero_bias: bool, bias: bool) -> dict:
    """weights.json of a run: kernels that keep their spread, a dense layer that halves, an output that doubles."""
    edges = list(np.linspace(-1, 1, 5))
    out = {}
    for k in I.LAYERS:
        ratio = {"embedding/kernel": 0.5, "same_probability/kernel": 2.0}.get(k, 1.0)
        out[k] = {"before_std": scale, "after_std": scale * ratio, "before_mean": 0.0, "after_mean": 0.0,
                  "edges": edges, "before": [1, 2, 2, 1], "after": [0, 3, 3, 0]}
    for n in range(1 if bias else 2, 5):
        out[f"conv{n}/bias"] = {"before_std": 0.0 if zero_bias else 0.01, "after_std": 0.001,
                                "before_mean": 0.0 if zero_bias else 0.5,
                                "after_mean": (0.0 if zero_bias else 0.5) + 0.0002 * n,
                                "edges": edges, "before": [0, 1, 0, 0], "after": [0, 1, 0, 0]}
    return out


def _init_records(tmp_path) -> list[Record]:
    recs = []
    for bias in (True, False):
        for scheme, scale in (("koch", 0.01), ("glorot", 0.02), ("he", 0.1)):
            for seed in (0, 1):
                val = 0.70 + 0.01 * seed + (0.02 if scheme == "glorot" else 0) + (0.01 if bias else 0)
                recs.append(_record(tmp_path, f"init-{scheme}-{'bias' if bias else 'nobias'}", seed, val,
                                    0.70 + 0.01 * seed, weights=_weights(scale, scheme != "koch", bias)))
    return recs


def test_variants_and_the_paired_bias_difference(tmp_path) -> None:
    recs = _init_records(tmp_path)
    v = I.variants(recs)
    assert list(v["initialization"]) == ["Koch et al.", "Glorot", "He"] * 2
    assert list(v["first-layer bias"]) == ["yes"] * 3 + ["no"] * 3
    assert v.loc[1, "validation"] == pytest.approx(0.735) and v["seed_gap"].to_numpy() == pytest.approx(0.01)
    assert v.loc[0, "test"]["mean"] == pytest.approx(0.705) and v.loc[0, "test"]["runs"] == 2
    assert v.loc[v["validation"].idxmax(), "initialization"] == "Glorot"
    d = I.bias_difference(recs)  # +1 point in every (scheme, seed) pair
    assert d["runs"] == 6 and d["mean"] == pytest.approx(0.01) and d["half"] == pytest.approx(0, abs=1e-12)


def test_weight_tables_and_figure_read_weights_json(tmp_path) -> None:
    seed0 = [r for r in _init_records(tmp_path) if r.config.seed == 0 and r.config.name.endswith("-bias")]
    ratios = I.spread_ratios(seed0)
    assert list(ratios.columns) == ["layer", "Koch et al.", "Glorot", "He"]
    assert list(ratios["layer"]) == list(I.LAYERS.values())
    assert ratios.set_index("layer").loc["dense layer"].to_numpy() == pytest.approx(0.5)
    assert ratios.set_index("layer").loc["output unit"].to_numpy() == pytest.approx(2.0)
    moves = I.bias_moves(seed0)
    assert len(moves) == 12 and set(moves["variable"]) == {f"conv{n}/bias" for n in range(1, 5)}
    assert moves["shift"].max() == pytest.approx(0.0008)
    assert set(moves.loc[moves["sd before"] == 0, "initialization"]) == {"Glorot", "He"}
    fig = I.weights_figure(seed0)
    assert len(fig.axes) == 3 * len(I.LAYERS)
    assert [a.get_title() for a in fig.axes[: len(I.LAYERS)]] == list(I.LAYERS.values())
    assert fig.axes[0].get_ylabel().startswith("Koch et al.")
