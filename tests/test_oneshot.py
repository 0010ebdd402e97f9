"""One-shot N-way trials: fair, seeded trials; honest intervals; baselines and the model scored the same way."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lfwsiamese.experiments import oneshot as O
from lfwsiamese.cli import main
from lfwsiamese.data.images import Preprocess
from lfwsiamese.data.protocols import PeopleSet, format_people
from lfwsiamese.errors import LfwSiameseError
from lfwsiamese.records.store import load_run_model
from lfwsiamese.training.scoring import predict_pairs
from tests.synth import make_dataset, tiny_config

#: A mix of counts, including people with one image (never usable in a trial).
COUNTS = {f"P{k:02d}": (1 if k % 7 == 0 else 2 + k % 4) for k in range(40)}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Synthetic people (distinct base pattern each), with a peopleDevTest.txt naming all of them."""
    data = make_dataset(tmp_path_factory.mktemp("synth"))
    counts = {p.name: len(list(p.iterdir())) for p in sorted((data / "lfw2").iterdir())}
    (data / "splits" / "peopleDevTest.txt").write_text(format_people([PeopleSet(tuple(counts.items()))]))
    return data, counts


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory: pytest.TempPathFactory):
    from lfwsiamese.training.run import train_run
    # trained on the same images with the original protocol files: `synth` names every person a test person,
    # which training (rightly) refuses
    data = make_dataset(tmp_path_factory.mktemp("train_data"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFWSIAMESE_CACHE", str(tmp_path_factory.mktemp("cache")))
        results = tmp_path_factory.mktemp("results")
        return train_run(tiny_config(epochs=1), data=str(data), results=results, progress=False), results


# ---------------------------------------------------------------------------------------- trials


def test_trials_are_well_formed() -> None:
    trials = O.make_trials(COUNTS, 5, 3000, seed=0)
    assert len(trials) == 3000
    for query, support, correct in trials:
        names = [r.name for r in support]
        assert len(set(names)) == 5  # never a person twice
        assert query not in support  # the query image is never in its own support set
        assert support[correct].name == query.name
        assert all(n != query.name for k, n in enumerate(names) if k != correct)
        for r in (query, *support):
            assert COUNTS[r.name] >= 2 and 1 <= r.index <= COUNTS[r.name]


def test_correct_index_is_uniform() -> None:
    n, n_way = 3000, 5
    freq = Counter(t.correct for t in O.make_trials(COUNTS, n_way, n, seed=1))
    assert set(freq) == set(range(n_way))
    expected = n / n_way
    chi2 = sum((freq[k] - expected) ** 2 / expected for k in range(n_way))
    assert chi2 < 18.5  # chi-square, 4 degrees of freedom, p = 0.001


def test_people_with_one_image_are_never_used() -> None:
    used = {r.name for t in O.make_trials(COUNTS, 10, 500, seed=2) for r in (t.query, *t.support)}
    assert used and all(COUNTS[n] >= 2 for n in used)


def test_same_seed_same_trials() -> None:
    assert O.make_trials(COUNTS, 10, 50, seed=3) == O.make_trials(COUNTS, 10, 50, seed=3)
    assert O.make_trials(COUNTS, 10, 50, seed=3) != O.make_trials(COUNTS, 10, 50, seed=4)


@pytest.mark.parametrize("n_way, n_trials, match", [(1, 10, "at least 2"), (40, 10, "only 34 available"), (5, 0, "n_trials")])
def test_bad_trial_requests_are_clear_errors(n_way: int, n_trials: int, match: str) -> None:
    with pytest.raises(LfwSiameseError, match=match):
        O.make_trials(COUNTS, n_way, n_trials, seed=0)


# ------------------------------------------------------------------------------------- intervals


def _random_scorer(seed: int):
    rng = np.random.default_rng(seed)
    return lambda trials: rng.random((len(trials), len(trials[0].support)))


def test_interval_contains_accuracy_and_narrows_with_more_trials() -> None:
    widths = []
    for n in (50, 400, 3200):
        res = O.nway_accuracy(_random_scorer(0), O.make_trials(COUNTS, 5, n, seed=0))
        assert res["n_trials"] == n
        assert 0.0 <= res["ci95_low"] <= res["accuracy"] <= res["ci95_high"] <= 1.0
        widths.append(res["ci95_high"] - res["ci95_low"])
    assert widths[0] > widths[1] > widths[2]
    assert res["ci95_low"] < 0.2 < res["ci95_high"]  # a random scorer is at chance


def test_perfect_scores_keep_the_interval_inside_0_1() -> None:
    trials = O.make_trials(COUNTS, 5, 30, seed=0)
    oracle = lambda ts: np.array([[float(k == t.correct) for k in range(5)] for t in ts])  # noqa: E731
    res = O.nway_accuracy(oracle, trials)
    assert res["accuracy"] == 1.0 and res["ci95_high"] == 1.0 and 0.85 < res["ci95_low"] < 1.0


def test_ties_earn_chance_not_argmax_luck() -> None:
    trials = O.make_trials(COUNTS, 4, 100, seed=0)
    res = O.nway_accuracy(lambda ts: np.ones((len(ts), 4)), trials)
    assert res["accuracy"] == pytest.approx(O.random_baseline(4))


# ------------------------------------------------------------------------------- synthetic faces


def test_pixel_baseline_beats_chance_by_far(synth) -> None:
    data, counts = synth
    trials = O.make_trials(counts, 10, 300, seed=0)
    store = O.load_refs(O.trial_refs(trials), data, Preprocess(size=32), progress=False)
    res = O.nway_accuracy(O.pixel_baseline(store), trials)
    assert res["accuracy"] > O.random_baseline(10) + 0.5
    assert res["ci95_low"] > 0.5


def test_model_scores_equal_the_full_model_on_each_pair(synth, trained, monkeypatch) -> None:
    """Tower once per image + the head == model.predict on every (query, support) pair; the fallback too."""
    data, counts = synth
    rec, _ = trained
    model = load_run_model(rec.path)
    trials = O.make_trials(counts, 5, 40, seed=0)
    pre = Preprocess(tuple(rec.config.data.crop), rec.config.data.size)
    store = O.load_refs(O.trial_refs(trials), data, pre, progress=False)
    fast = O.model_scores(model, store, rec.config.data.pixel_scale)(trials)
    from lfwsiamese.data.protocols import Pair
    pairs = [Pair(t.query, s) for t in trials for s in t.support]
    full = predict_pairs(model, store, pairs, rec.config.data.pixel_scale).reshape(len(trials), 5)
    np.testing.assert_allclose(fast, full, atol=1e-5)
    monkeypatch.setattr(O, "_head_layers", lambda m: None)
    np.testing.assert_allclose(O.model_scores(model, store, rec.config.data.pixel_scale)(trials), full, atol=1e-6)


def test_evaluate_nway_table_and_file(synth, trained) -> None:
    data, counts = synth
    rec, _ = trained
    df = O.evaluate_nway(rec.path, ns=(3, 5), n_trials=60, seed=0, data=data, people_counts=counts, progress=False)
    assert list(df.columns) == O.COLUMNS
    assert df[["method", "N"]].values.tolist() == [[m, n] for n in (3, 5) for m in ("random", "pixels_nn", "siamese")]
    assert (df["n_trials"] == 60).all()
    assert ((df["ci95_low"] <= df["accuracy"]) & (df["accuracy"] <= df["ci95_high"])).all()
    rnd = df[df.method == "random"]
    assert rnd["accuracy"].tolist() == [1 / 3, 1 / 5]
    stored = pd.read_csv(rec.path / "oneshot.csv")
    pd.testing.assert_frame_equal(stored, df, check_dtype=False)
    assert not [p for p in rec.path.iterdir() if p.name.endswith(".tmp")]
    again = O.evaluate_nway(None, ns=(3,), n_trials=60, seed=0, data=data, people_counts=counts, progress=False)
    assert again["method"].tolist() == ["random", "pixels_nn"]  # no run: baselines only
    assert again.iloc[1]["accuracy"] > 0.8  # default preprocessing (105x105), pixels still separate the people


def test_cli_oneshot_prints_the_table(synth, trained, capsys) -> None:
    data, _ = synth
    rec, _ = trained
    rc = main(["oneshot", "--run", str(rec.path), "--ways", "3,5", "--trials", "40", "--data", str(data), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "pixels_nn" in out and "siamese" in out and "oneshot.csv" in out
    rc = main(["oneshot", "--run", str(rec.path), "--ways", "5,one", "--data", str(data)])
    out, err = capsys.readouterr()
    assert rc == 2 and err.count("error:") == 1 and "--ways" in err and "Traceback" not in err


def test_cli_oneshot_without_a_run_uses_the_shipped_model(synth, capsys, tmp_path, monkeypatch) -> None:
    data, _ = synth
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path))
    rc = main(["oneshot", "--ways", "5", "--trials", "30", "--data", str(data), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "shipped" in err and "pixels_nn" in out and "siamese" in out
    assert not list(tmp_path.rglob("oneshot.csv"))  # nothing written for the shipped model


def test_wilson_interval_equals_scipys_for_integer_counts() -> None:
    from scipy.stats import binomtest

    from lfwsiamese.experiments.oneshot import wilson_interval
    for k, n in ((0, 20), (3, 20), (10, 20), (19, 20), (20, 20), (612, 1000)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
