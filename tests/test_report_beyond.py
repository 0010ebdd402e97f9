"""The two "Beyond the reference" chapters' library: tables and figures from records, no prose, no empty cells."""
from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

from lfwsiamese.recipes import get_config  # noqa: E402
from lfwsiamese.records.store import Record  # noqa: E402
from lfwsiamese.report import beyond as B  # noqa: E402
from lfwsiamese.report import beyond_view2 as V  # noqa: E402
from lfwsiamese.report import error_analysis as E  # noqa: E402
from lfwsiamese.report import literature as L  # noqa: E402
from lfwsiamese.report.stats import interval, paired_difference  # noqa: E402
from lfwsiamese.report.tables import show  # noqa: E402
from tests.synth import scores_right_where  # noqa: E402


def _record(tmp_path, name: str, seed: int, right: np.ndarray, val: float = 0.8, **data) -> Record:
    """A record right exactly where `right` is 1 at threshold 0.5, named `name` (a recipe or `improved-<step>`)."""
    base = "reference" if name == "reference" else "improved"
    cfg = replace(get_config(base), name=name, seed=seed)
    if data:
        cfg = replace(cfg, data=replace(cfg.data, **data))
    path = tmp_path / f"{name}-s{seed}-f{data.get('fold', 0)}"
    path.mkdir(parents=True)
    n = len(right)
    keys = {"name_a": [f"P{i}" for i in range(n)], "index_a": 1, "name_b": [f"Q{i}" for i in range(n)], "index_b": 1}
    scores_right_where(right, keys, wrong=(0.2, 0.8)).to_csv(path / "scores.csv", index=False)
    acc = float(right.mean())
    test = {"accuracy": acc, "accuracy_at_0.5": acc, "auc": 0.9, "n_pairs": n}
    m = {"threshold": 0.5, "fit_seconds": 600.0 + 60 * seed, "test": test, "val": {"accuracy": val},
         "train_people_count": 4000, "without_tta": {"test": {"accuracy": acc - 0.01}, "val": {"accuracy": val}}}
    return Record(path, cfg, m, pd.DataFrame(), {"cpu": "Intel(R) Xeon(R) Processor"})


def _rights(rng, p: float, k: int = 3, n: int = 200) -> list[np.ndarray]:
    return [(rng.random(n) < p).astype(float) for _ in range(k)]


def test_summary_peers_and_difference(tmp_path) -> None:
    rng = np.random.default_rng(0)
    ref = [_record(tmp_path, "reference", s, r) for s, r in enumerate(_rights(rng, 0.7))]
    imp = [_record(tmp_path, "improved", s, r) for s, r in enumerate(_rights(rng, 0.85))]
    t = B.summary({"reference": ref, "improved": imp})
    assert list(t["model"]) == ["reference network", "improved model"] and list(t["seeds"]) == [3, 3]
    assert t["DevTest accuracy"].str.match(r"^\d+\.\d% ± \d+\.\d$").all() and t["training per run"][0] == "11 min"
    show(t)  # no empty cells
    d = B.difference(imp, ref)
    assert d["mean"] == pytest.approx(interval(imp)["mean"] - interval(ref)["mean"]) and d["low"] < d["mean"]
    peers = B.peers({"improved": imp, "reference": ref})
    assert len(peers) == len(L.PEERS_DEVTEST) + 2 and list(peers.columns) == ["implementation", "protocol",
                                                                            "DevTest accuracy", "how"]
    acc = peers["DevTest accuracy"].str.extract(r"^([\d.]+)%")[0].astype(float)
    assert acc.is_monotonic_decreasing  # best first
    assert "nevoit (the reference)" in set(peers["implementation"]) and not peers["implementation"].str.contains("/").any()
    assert set(peers.loc[peers["implementation"] == "improved model (ours)", "protocol"]) == {L.VIEW1_UNRESTRICTED}
    show(peers)
    ax = E.roc_figure({"reference": ref, "improved": imp}).axes[0]
    assert ax.get_xlabel().startswith("false accept rate")
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["reference network", "improved model"]


def test_ablation_pairs_each_variant_with_the_full_model_of_its_seed(tmp_path) -> None:
    rng = np.random.default_rng(1)
    full = [_record(tmp_path, "improved", s, r, val=0.86 + 0.002 * s) for s, r in enumerate(_rights(rng, 0.85))]
    crop = [_record(tmp_path, "improved-no-crop", s, r, val=0.80 + 0.003 * s)
            for s, r in enumerate(_rights(rng, 0.8, k=2))]
    ch = B.changes(full, crop)
    assert set(ch) == {"no-flip", "no-crop"} and ch["no-crop"]["seeds"] == 2
    want = paired_difference([0.80, 0.803], [0.86, 0.862])
    assert ch["no-crop"]["val"]["mean"] == pytest.approx(want["mean"])
    assert ch["no-crop"]["val"]["half"] == pytest.approx(want["half"])
    assert ch["no-flip"]["test"]["mean"] == pytest.approx(-0.01)
    t = B.ablation_table(ch)
    assert list(t["taken away"]) == ["no test-time flip", "no face crop (whole frame)"]
    assert t["validation change (points)"][1].startswith("-5.9 [")
    show(t)


def test_view2_page_places_ours_among_the_results_page(tmp_path) -> None:
    accs = [0.83, 0.85, 0.84, 0.86, 0.82, 0.85, 0.84, 0.83, 0.87, 0.85]
    folds = [_record(tmp_path, "improved", 0, (np.arange(100) < a * 100).astype(float), protocol="view2", fold=f)
             for f, a in enumerate(accs)]
    page = V.page({"improved": folds})
    assert len(page) == len(L.LFW_VIEW2_VERIFIED) + 1
    ours = page[page["method"] == "improved model (ours)"].iloc[0]
    se = np.std(accs, ddof=1) / np.sqrt(10)
    half = stats.t.ppf(0.975, 9) * se
    assert ours["accuracy"] == "84.4%" and ours["SE (points)"] == f"{100 * se:.1f}"
    assert ours["95% interval"] == f"{100 * (0.844 - half):.1f}% to {100 * (0.844 + half):.1f}%"
    assert ours["results-page category"] == L.UNRESTRICTED_LABEL_FREE
    assert (page.loc[page["method"] == "Nowak, on LFW-a", "SE (points)"] == "not given").all()
    show(page)


def test_overlap_and_the_worst_pairs_figure(tmp_path) -> None:
    a = _record(tmp_path, "reference", 0, np.array([1, 1, 0, 0, 1, 0, 1, 1], float))
    b = _record(tmp_path, "improved", 0, np.array([1, 0, 1, 1, 1, 1, 0, 1], float))
    t = V.overlap(a, b)
    assert t.to_dict("list") == {"reference network": ["right", "wrong"], "improved model right": [3, 3],
                                 "improved model wrong": [2, 0]}
    other = _record(tmp_path / "o", "improved", 0, np.ones(6))
    with pytest.raises(ValueError, match="different pairs"):
        V.overlap(a, other)
    w = E.confident(b, right=False, n=1)  # one wrong same-person pair (label 1), one wrong different one
    assert list(w["label"]) == [1, 0] and (w["margin"] > 0).all()
    for name in set(w["name_a"]) | set(w["name_b"]):
        (tmp_path / "lfw2" / name).mkdir(parents=True)
        Image.new("L", (250, 250), 128).save(tmp_path / "lfw2" / name / f"{name}_0001.jpg")
    fig = E.pair_figure(w, data=str(tmp_path))
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["same, score 0.200", "different, score 0.800"]


def test_oneshot_reads_the_stored_tables(tmp_path) -> None:
    recs = {"reference": [_record(tmp_path, "reference", 0, np.ones(4))],
            "improved": [_record(tmp_path, "improved", s, np.ones(4)) for s in (0, 1)]}
    for name, rs in recs.items():
        for k, r in enumerate(rs):
            rows = [("random", n, 1 / n) for n in (5, 20)] + [("pixels_nn", n, 0.3 if name == "reference" else 0.4)
                                                               for n in (5, 20)]
            rows += [("siamese", n, 0.5 + 0.1 * k + (0.2 if name == "improved" else 0)) for n in (5, 20)]
            pd.DataFrame([{"method": m, "N": n, "accuracy": a, "ci95_low": a, "ci95_high": a, "n_trials": 1000,
                           "seed": 0} for m, n, a in rows]).to_csv(r.path / "oneshot.csv", index=False)
    res = V.oneshot(recs)
    assert res["improved model", 20]["mean"] == pytest.approx(0.75) and res["improved model", 20]["runs"] == 2
    assert res["pixels, face crop", 5]["runs"] == 1  # the same baseline for every seed, counted once
    t = V.oneshot_table(res)
    assert list(t.columns) == ["N", "chance", "pixels, whole frame", "reference network", "pixels, face crop",
                               "improved model"]
    assert list(t["chance"]) == ["20%", "5%"] and t["reference network"][0].startswith("50% ± ")
    show(t)
