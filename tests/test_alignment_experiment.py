"""The alignment experiment the verifier chapter reads (`lfwsiamese alignment-experiment`), run on a few real DevTest
pairs with the shipped model: its conditions, how failures are counted, and that a quick look never stands in for
the full result."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfwsiamese.experiments.alignment import CONDITIONS, balanced_subset, result_path, run_alignment_experiment
from lfwsiamese.data import protocols as P
from lfwsiamese.errors import LfwSiameseError
from lfwsiamese.serve.scorer import ALIGNMENT_LANDMARKS, alignment_name, load_shipped
from tests.cli_helpers import one_error, run_cli

pytestmark = pytest.mark.realdata

N = 8


@pytest.fixture(scope="module")
def experiment(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFWSIAMESE_CACHE", str(tmp_path_factory.mktemp("cache")))
        out = run_alignment_experiment(load_shipped(), data=real_data, results=results, n_pairs=N, eye_sample=2 * N,
                                       progress=False)
    return out, results


def test_a_subset_holds_both_kinds_of_pair(real_data) -> None:
    pairs = P.load_pairs("pairsDevTest.txt", real_data / "splits")
    sub = balanced_subset(pairs, 7)
    assert [p.label for p in sub] == [1, 1, 1, 0, 0, 0, 0]
    assert all(p in pairs for p in sub)
    for bad in (1, len(pairs) + 1):
        with pytest.raises(LfwSiameseError, match=f"{bad} pairs asked for"):
            balanced_subset(pairs, bad)


def test_every_condition_is_scored_and_failures_count_as_wrong(experiment) -> None:
    out, _ = experiment
    assert out["n_pairs"] == N
    shipped = f"unaligned_{alignment_name(load_shipped().landmarks)}"  # scored as "unaligned_aligned"
    assert set(out["conditions"]) == set(CONDITIONS) - {shipped}  # every other alignment, for comparison
    assert set(out["accuracy"]) == set(out["failed"]) == set(out["accuracy_scored"]) == set(out["conditions"])
    for cond in out["conditions"]:
        failed, acc, scored = out["failed"][cond], out["accuracy"][cond], out["accuracy_scored"][cond]
        assert 0 <= failed <= N and 0.0 <= acc <= 1.0
        if failed < N:
            # a pair whose face was not found is a wrong decision: correct = scored accuracy over the scored pairs
            assert acc == pytest.approx(scored * (N - failed) / N)
    # nothing is detected in LFW-a crops, in renders scored whole, or in renders put back by their own transform
    assert out["failed"]["aligned"] == out["failed"]["unaligned"] == out["failed"]["unaligned_oracle"] == 0


def test_the_eye_error_is_measured_on_every_render(experiment, real_data) -> None:
    e = experiment[0]["eye_error_px"]
    sub = balanced_subset(P.load_pairs("pairsDevTest.txt", real_data / "splits"), N)
    images = {ref for p in sub for ref in (p.a, p.b)}  # one render per distinct image (eye_sample is above this)
    assert e["n"] == len(images) and 0 <= e["not_found"] < e["n"]
    assert 0.0 <= e["median"] <= e["p90"]
    assert e["median"] < 10.0  # the aligner puts the eyes of real faces back within a few pixels (test_align)
    others = [k for k in experiment[0] if k.startswith("eye_error_px_")]  # the other alignments, same renders
    assert len(others) == len(ALIGNMENT_LANDMARKS) - 1 and all(experiment[0][k]["n"] == e["n"] for k in others)


def test_a_quick_look_is_stored_apart_from_the_full_result(experiment) -> None:
    out, results = experiment
    scorer = load_shipped()
    quick = result_path(scorer, results, 0, N)
    assert json.loads(quick.read_text()) == json.loads(json.dumps(out))  # (JSON keeps tuples as lists)
    assert not result_path(scorer, results, 0).exists()  # the book's file is only ever the 1,000 pairs
    assert quick != result_path(scorer, results, 0)


def test_the_command_rejects_a_subset_of_one_pair(real_data, tmp_path, capsys) -> None:
    rc, _, err = run_cli(capsys, "alignment-experiment", "--pairs", "1", "--data", str(real_data),
                         "--results", str(tmp_path), "--quiet")
    one_error(rc, err, "1 pairs asked for", "leave the number out")


def test_the_examples_are_the_experiments_renders(real_data) -> None:
    from lfwsiamese.experiments.alignment import examples
    refs = [p.a for p in balanced_subset(P.load_pairs("pairsDevTest.txt", real_data / "splits"), 3)]
    shots = examples(refs, data=real_data)
    assert [img.shape for img, _, _ in shots] == [(250, 250)] * 3
    assert all(canvas.shape == (400, 400) for _, canvas, _ in shots)
    assert all(again is None or again.shape == (250, 250) for _, _, again in shots)


def test_the_chapters_render_figure_has_a_row_per_stage_and_a_column_per_image(real_data) -> None:
    import matplotlib
    matplotlib.use("Agg")

    from lfwsiamese.report.verifier import examples_figure
    pairs = P.load_pairs("pairsDevTest.txt", real_data / "splits")
    refs = sorted({r for p in pairs for r in (p.a, p.b)})
    fig = examples_figure(refs, [0, 1, 2], data=real_data)
    axes = fig.get_axes()
    assert len(axes) == 2 * 3
    assert [axes[3 * r].get_ylabel() for r in range(2)] == ["rendered photo", "aligned again"]
    assert axes[0].images[0].get_array().shape[:2] == (400, 400) and axes[3].images[0].get_array().shape == (250, 250)
