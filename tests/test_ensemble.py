"""Two towers as one scorer (`experiments.ensemble`): the ensemble's cosine is the mean of its members', the rule
chooses only on the interval, and the stored result recomputes from its per-pair scores."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lfwsiamese.data.images import Preprocess
from lfwsiamese.errors import RunError
from lfwsiamese.experiments.ensemble import CANDIDATES, choose, recompute, summarise, with_flip
from lfwsiamese.serve.ensemble import EnsembleScorer
from lfwsiamese.serve.scorer import Head, Scorer

ROOT = Path(__file__).resolve().parents[1]


class LinearScorer(Scorer):
    """A tower that is a fixed random projection of the pixels: enough to check how towers are combined."""

    def __init__(self, seed: int, head: str = "cosine", crop: tuple[int, int, int, int] = (60, 68, 190, 198)) -> None:
        self.w = np.random.default_rng(seed).normal(size=(8 * 8, 5)).astype(np.float32)
        self.name, self.model_id = f"linear{seed}", f"linear{seed}"
        self.pre, self.pixel_scale, self.tta_flip, self.threshold = Preprocess(crop, 8), 1 / 255, True, 0.5
        spec = {"kind": "cosine", "scale": 10.0 + seed, "offset": -5.0} if head == "cosine" else \
            {"kind": "l1_sigmoid", "kernel": [0.1] * 5, "bias": 0.0}
        self.head, self.dim, self.calibration, self.landmarks = Head(spec), 5, None, "5"

    def tower(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1) @ self.w


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_the_ensembles_cosine_is_the_mean_of_its_members_cosines() -> None:
    pix = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    a, b = LinearScorer(1), LinearScorer(2)
    ens = EnsembleScorer([a, b])
    x = pix.astype(np.float32)[..., None] / 255
    e = ens.tower(x)
    assert e.shape == (6, 10) and ens.views == 1
    np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, atol=1e-5)
    want = 0.5 * (cosine(a.tower(x)[:3], a.tower(x)[3:]) + cosine(b.tower(x)[:3], b.tower(x)[3:]))
    np.testing.assert_allclose(cosine(e[:3], e[3:]), want, atol=1e-5)
    v = ens.embed(pix)  # and through the scorer's path: the head on the mean cosine
    raw = ens.raw_score(v[:3], v[3:])
    np.testing.assert_allclose(raw, 1 / (1 + np.exp(-(11.5 * want - 5.0))), atol=1e-4)
    assert EnsembleScorer([a, b], tta_flip=True).embed(pix).shape == (6, 2, 10)


def test_an_ensemble_refuses_towers_it_cannot_average() -> None:
    with pytest.raises(RunError, match="cosine head"):
        EnsembleScorer([LinearScorer(1), LinearScorer(2, head="l1")])
    with pytest.raises(RunError, match="trained on the same inputs"):
        EnsembleScorer([LinearScorer(1), LinearScorer(2, crop=(0, 0, 250, 250))])
    with pytest.raises(RunError, match="at least two"):
        EnsembleScorer([LinearScorer(1)])


def test_with_flip_copies_the_scorer_and_leaves_the_original_alone() -> None:
    s = LinearScorer(1)
    s.calibration = object()
    t = with_flip(s, False)
    assert (t.tta_flip, t.calibration) == (False, None) and s.tta_flip and s.calibration is not None


def test_the_rule_needs_the_whole_interval_above_zero() -> None:
    assert choose({"difference": 0.02, "low": 0.001, "high": 0.04}) == "two_towers"
    assert choose({"difference": 0.02, "low": -0.001, "high": 0.04}) == "shipped"
    assert choose({"difference": 0.0, "low": 0.0, "high": 0.01}) == "shipped"


def test_summarise_scores_only_the_pairs_whose_faces_were_found() -> None:
    rng = np.random.default_rng(3)
    n = 200
    y = np.repeat([1, 0], n // 2)
    df = pd.DataFrame({"label": y, "found": np.arange(n) % 10 != 0})
    for k in CANDIDATES:
        df[k] = y * rng.uniform(0.2, 1, n) + rng.uniform(0, 0.8, n)
    df.loc[~df["found"], list(CANDIDATES)] = np.nan
    out = summarise(df)
    g = df[df["found"]]
    assert out["pairs"] == n and out["pairs_scored"] == len(g) == 180
    for k in CANDIDATES:
        assert out["candidates"][k]["auc"] == pytest.approx(roc_auc_score(g["label"], g[k]))
    d = out["two_towers_minus_shipped"]
    assert d["difference"] == pytest.approx(out["candidates"]["two_towers"]["auc"] - out["candidates"]["shipped"]["auc"])
    assert d["low"] <= d["difference"] <= d["high"] and out["chosen"] == choose(d)


def test_every_stored_ensemble_result_recomputes_from_its_scores() -> None:
    stored = sorted((ROOT / "results" / "ensemble").glob("*.json"))
    assert stored, "the ensemble experiment's result is a record of the project (results/ensemble/)"
    for f in stored:
        res = json.loads(f.read_text())
        again = recompute(f)
        for k in CANDIDATES:
            assert again["candidates"][k]["auc"] == pytest.approx(res["candidates"][k]["auc"], abs=1e-6)
        for key in ("difference", "low", "high"):
            assert again["two_towers_minus_shipped"][key] == pytest.approx(res["two_towers_minus_shipped"][key],
                                                                            abs=1e-6)
        assert again["chosen"] == res["chosen"] and again["pairs_scored"] == res["pairs_scored"]


def test_once_two_towers_ship_the_result_that_chose_them_is_still_found(tmp_path, monkeypatch) -> None:
    from lfwsiamese.experiments.ensemble import load_ensemble_experiment, run_ensemble_experiment
    from lfwsiamese.serve.shipped import CARD_FORMAT, ENV_SHIPPED
    shipped, results = tmp_path / "shipped", tmp_path / "results"
    (results / "ensemble").mkdir(parents=True)
    shipped.mkdir()
    card = {"format": CARD_FORMAT, "run": "first-s0", "members": [{"run": "first-s0"}, {"run": "second-s1"}]}
    (shipped / "model.json").write_text(json.dumps(card))
    monkeypatch.setenv(ENV_SHIPPED, str(shipped))
    with pytest.raises(RunError, match="0 stored results"):
        load_ensemble_experiment("second-s1", results)
    chose = {"shipped": "first-s0", "second": "second-s1", "chosen": "two_towers"}
    (results / "ensemble" / "val-photos-0123456789ab-second-s1.json").write_text(json.dumps(chose))
    (results / "ensemble" / "val-photos-ba9876543210-second-s1.json").write_text(
        json.dumps({**chose, "shipped": "other-s0"}))  # another first tower's: not this one
    assert load_ensemble_experiment("second-s1", results) == chose
    with pytest.raises(RunError, match="already holds 2 towers"):
        run_ensemble_experiment("second-s1", results=results)
