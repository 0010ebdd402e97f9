"""The shipped model out of the box: checksum, Keras-equal scores, the card, the Python API, `verify --pairs`,
`identify` and `model-card`, with no training and no data (images here are synthetic, so alignment is off)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import lfwsiamese
from lfwsiamese.serve.scorer import Calibration, Head, alignment_name, load_shipped, member_runs
from lfwsiamese.serve.shipped import ENV_SHIPPED, read_card, sha256_file, shipped_dir
from tests.cli_helpers import one_error, run_cli

ROOT = Path(__file__).resolve().parents[1]


def blobs(seed: int, n: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (25, 25)).astype(np.uint8)
        out.append(np.asarray(Image.fromarray(small).resize((250, 250), Image.BILINEAR)))
    return out


@pytest.fixture
def pngs(tmp_path: Path) -> list[Path]:
    paths = []
    for k, img in enumerate(blobs(0, 4)):
        p = tmp_path / "imgs" / f"i{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(img, "L").save(p)
        paths.append(p)
    return paths


# ------------------------------------------------------------------------------------- the shipped files


def test_import_is_light_and_verify_is_the_function() -> None:
    code = ("import sys, lfwsiamese; heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'cv2', 'numpy', 'pandas') "
            "if m in sys.modules]; print(heavy, callable(lfwsiamese.verify), callable(lfwsiamese.identify))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[] True True"


def test_shipped_checksum_size_and_package_data() -> None:
    card = read_card()
    f = shipped_dir() / card["file"]
    assert sha256_file(f) == card["sha256"]
    assert f.stat().st_size == card["bytes"] < 20e6
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"shipped/*"' in pyproject  # the shipped files go into the wheel


def test_shipped_onnx_reproduces_keras_within_1e4() -> None:
    """The probe pairs' Keras scores were stored at shipping; ONNX Runtime must give them again."""
    from lfwsiamese.serve.ship import probe_pairs, probe_pixels
    card, scorer = read_card(), load_shipped()
    probes = probe_pixels(scorer.pre.size, card["probe"]["n_images"], card["probe"]["seed"])
    ia, ib = probe_pairs(card["probe"]["n_images"])
    v = scorer.embed(probes)
    np.testing.assert_allclose(scorer.raw_score(v[ia], v[ib]), card["probe"]["keras_scores"], atol=1e-4)


def test_card_numbers_match_the_record() -> None:
    """One record's numbers, or each member's where the shipped model holds several towers."""
    card = read_card()
    members = card.get("members") or [{"run": card["run"], "source_model_sha256": card["source_model_sha256"],
                                       "val": card["record"]["val"], "test": card["record"]["test"]}]
    for member in members:
        run = ROOT / "results" / "runs" / member["run"]
        if not (run / "metrics.json").is_file():
            pytest.skip(f"the shipped model's record {member['run']} is not in results/runs")
        m = json.loads((run / "metrics.json").read_text())
        for split in ("val", "test"):
            for k, v in member[split].items():
                assert v == m[split][k], (member["run"], split, k)
        if (run / "model.keras").is_file():
            assert sha256_file(run / "model.keras") == member["source_model_sha256"]
        if not card.get("members"):  # the runtime gives the record's accuracy again
            assert abs(card["shipped"]["test"]["accuracy"] - m["test"]["accuracy"]) <= 0.01
    run = ROOT / "results" / "runs" / card["run"]
    from lfwsiamese.records.store import load_record
    assert card["config"] == json.loads(load_record(run).config.to_json())  # keys added since default alike
    assert card["config"]["data"]["protocol"] == "view1"  # DevTest stays an honest test
    if card.get("members"):  # the runtime gives the members' Keras towers' accuracy again
        assert abs(card["shipped"]["test"]["accuracy"] - card["record"]["test"]["accuracy"]) <= 0.01
    else:
        assert card["record"]["threshold"] == json.loads((run / "metrics.json").read_text())["threshold"]


def test_model_card_command(capsys) -> None:
    rc, out, _ = run_cli(capsys, "model-card")
    card = read_card()
    assert rc == 0 and out.startswith(f"# Model card: `{card['run']}`")
    for text in ("peopleDevTrain", "Known limits", "light-skinned", f"{card['threshold']:.4f}",
                 f"{100 * card['record']['test']['accuracy']:.1f}%"):
        assert text in out, text
    rc, out, _ = run_cli(capsys, "model-card", "--json")
    assert json.loads(out)["sha256"] == card["sha256"]
    from lfwsiamese.serve.card import model_card_markdown
    assert (shipped_dir() / "MODEL_CARD.md").read_text() == model_card_markdown(card)  # the file beside the model


@pytest.fixture
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "shipped"
    shutil.copytree(shipped_dir(), d)
    monkeypatch.setenv(ENV_SHIPPED, str(d))
    return d


def test_damaged_shipped_model_is_one_clear_error(shipped_copy, pngs, capsys) -> None:
    f = shipped_copy / "model.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    rc, _, err = run_cli(capsys, "verify", str(pngs[0]), str(pngs[1]), "--align", "off")
    one_error(rc, err, "model.onnx", "damaged", "sha256", "reinstall")
    (shipped_copy / "model.json").unlink()
    rc, _, err = run_cli(capsys, "verify", str(pngs[0]), str(pngs[1]), "--align", "off")
    one_error(rc, err, "no shipped model", "--run")


# ------------------------------------------------------------------------------------------------ the API


def test_python_api_on_arrays_pil_and_paths(pngs) -> None:
    a, b = blobs(0, 2)
    v = lfwsiamese.verify(a, a, align="off")
    assert isinstance(v, lfwsiamese.Verification)
    assert v.same and v.score > 0.99 and v.threshold == read_card()["threshold"]
    assert v.model == "shipped:" + "+".join(member_runs(read_card()))
    w = lfwsiamese.verify(Image.fromarray(a), str(pngs[1]), align="off")
    assert w.same == (w.score > w.threshold)
    one = lfwsiamese.embed(a, align="off")
    many = lfwsiamese.embed([a, Image.fromarray(b), pngs[0]], align="off")
    assert one.shape == (read_card()["embedding_dim"],) and many.shape == (3, one.shape[0])
    np.testing.assert_allclose(many[0], one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(many[2], one, rtol=1e-5, atol=1e-6)  # pngs[0] is the same image as a
    with pytest.raises(lfwsiamese.DataError, match="nope.png"):
        lfwsiamese.embed([a, "nope.png"], align="off")


def test_flip_averaging_is_applied_as_in_the_record() -> None:
    scorer, card = load_shipped(), read_card()
    assert scorer.tta_flip == card.get("tta_flip", card["config"]["train"]["tta_flip"])  # an ensemble's: its own
    a, b = blobs(3, 2)
    pix = np.stack([np.asarray(Image.fromarray(x).crop(tuple(scorer.pre.crop)).resize((scorer.pre.size,) * 2))
                    for x in (a, b)])
    v = scorer.embed(pix)
    plain = scorer.head(v[:1, 0], v[1:, 0])
    if scorer.tta_flip:
        mirrored = scorer.embed(pix[:, :, ::-1])[:, 0]
        assert scorer.raw_score(v[:1], v[1:]) == pytest.approx(0.5 * (plain + scorer.head(mirrored[:1], mirrored[1:])))
    else:
        assert scorer.raw_score(v[:1], v[1:]) == pytest.approx(plain)


def test_heads_match_the_keras_layers() -> None:
    a, b = np.random.default_rng(0).normal(size=(2, 5, 16))
    cos = Head({"kind": "cosine", "scale": 10.0, "offset": -5.0})
    an, bn = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-6), b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(cos(a, b), 1 / (1 + np.exp(-(10 * (an * bn).sum(1) - 5))))
    k = np.arange(16) / 16
    l1 = Head({"kind": "l1_sigmoid", "kernel": k.tolist(), "bias": 0.5})
    np.testing.assert_allclose(l1(a, b), 1 / (1 + np.exp(-(np.abs(a - b) @ k + 0.5))))


# ------------------------------------------------------------------------------------------- calibration


def test_the_shipped_score_is_the_calibrated_probability_decided_at_one_half() -> None:
    card, scorer = read_card(), load_shipped()
    cal = card["calibration"]
    assert cal["method"] == "platt" and card["threshold"] == cal["threshold"] == scorer.threshold == 0.5
    assert card["raw_threshold"] < 0.5  # the head's own threshold: why its score was no probability
    a, b = blobs(5, 2)
    v = lfwsiamese.verify(a, b, align="off")
    raw = 1 / (1 + np.exp(-(cal["a"] * np.log(v.raw_score / (1 - v.raw_score)) + cal["b"])))
    assert v.score == pytest.approx(raw) and v.same == (v.score > 0.5) and v.calibrated
    x = np.linspace(0.001, 0.999, 50)
    assert np.all(np.diff(Calibration(cal)(x)) > 0)  # monotone: rankings (identify, one-shot) are unchanged


CANDIDATES = sorted((Path(__file__).resolve().parents[1] / "results" / "candidates").glob("*/model.json"))


@pytest.mark.parametrize("folder", [None, *(c.parent for c in CANDIDATES)],
                         ids=["shipped", *(c.parent.name for c in CANDIDATES)])
def test_the_cards_measurements_come_from_the_stored_scores(folder: Path | None) -> None:
    """Every number of the card's evaluation (the shipped card's, and each candidate's the book compares it with) is
    recomputed from the stored per-pair scores; the fit used validation photos only, and DevTest was measured,
    never fitted."""
    from lfwsiamese.serve.calibrate import fit_platt, read_scores, summary
    card = read_card(folder)
    df = read_scores(card)
    assert set(df["split"]) == {"val", "test"} and set(df["condition"]) == {"crops", "photos"}
    fit = df[(df["split"] == "val") & (df["condition"] == "photos") & df["found"]]
    spec = fit_platt(fit["label"].to_numpy(), fit["raw_score"].to_numpy())
    assert spec["a"] == pytest.approx(card["calibration"]["a"], rel=1e-4)
    assert spec["b"] == pytest.approx(card["calibration"]["b"], rel=1e-4)
    for (split, cond), g in df.groupby(["split", "condition"]):
        got, stored = summary(g), card["evaluation"][split][cond]
        for k, v in got.items():
            # the file keeps 6 significant digits: rounding ties a few scores, moving an AUC in its 6th decimal
            assert v == pytest.approx(stored[k], abs=1e-5), (split, cond, k)
    test = df[df["split"] == "test"]
    assert len(test) == 2 * 1000 and test["found"][test["condition"] == "crops"].all()


@pytest.mark.skipif(len(CANDIDATES) < 2, reason="needs two candidate cards")  # results/candidates holds two
def test_photo_auc_differences_on_validation_and_on_devtest() -> None:
    from sklearn.metrics import roc_auc_score

    from lfwsiamese.errors import RunError
    from lfwsiamese.serve.calibrate import photo_auc_difference, read_scores
    new, old = (read_card(c.parent) for c in CANDIDATES[:2])
    for split in ("val", "test"):
        d = photo_auc_difference(new, old, split=split, resamples=200)
        a, b = (read_scores(c) for c in (new, old))
        keys = ["name_a", "index_a", "name_b", "index_b", "label"]
        both = a.merge(b, on=keys, suffixes=("_n", "_o"))
        both = both[(both["split_n"] == split) & (both["split_o"] == split) & (both["condition_n"] == "photos") &
                    (both["condition_o"] == "photos") & both["found_n"] & both["found_o"]]
        want = roc_auc_score(both["label"], both["raw_score_n"]) - roc_auc_score(both["label"], both["raw_score_o"])
        assert d["difference"] == pytest.approx(want, abs=1e-9) and d["low"] < d["difference"] < d["high"]
    with pytest.raises(RunError, match="expected one of val, test"):
        photo_auc_difference(new, old, split="dev")


def test_calibration_error_and_platt_on_known_data() -> None:
    from lfwsiamese.serve.calibrate import expected_calibration_error, fit_platt, reliability
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15  # over-confident of "same"
    r = reliability(y, p)
    assert len(r) == 10 and r["pairs"].sum() == p.size
    z = rng.normal(0, 2, 20000)
    raw = 1 / (1 + np.exp(-z))
    truth = 1 / (1 + np.exp(-(0.5 * z + 1.0)))
    spec = fit_platt((rng.uniform(0, 1, z.size) < truth).astype(int), raw)
    assert spec["a"] == pytest.approx(0.5, abs=0.05) and spec["b"] == pytest.approx(1.0, abs=0.1)


# ------------------------------------------------------------------------------------------ verify --pairs


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pairs_json_with_labels_and_a_bad_row(pngs, tmp_path, capsys) -> None:
    (tmp_path / "imgs" / "broken.png").write_text("not an image")
    csv_file = write_csv(tmp_path / "imgs" / "pairs.csv",
                         "path_a,path_b,label\ni0.png,i0.png,1\ni0.png,i1.png,0\nmissing.png,i1.png,1\n"
                         f"{pngs[2]},broken.png,0\ni2.png,i3.png,2\n")
    rc, out, err = run_cli(capsys, "verify", "--pairs", str(csv_file), "--json", "--align", "off")
    assert rc == 1, err  # some rows failed
    res = json.loads(out)
    assert res["n_pairs"] == 5 and res["n_failed"] == 3 and res["threshold"] == read_card()["threshold"]
    assert res["model"].startswith("shipped:")
    assert [p["row"] for p in res["pairs"]] == [1, 2, 3, 4, 5]
    assert set(res["pairs"][0]) >= {"path_a", "path_b", "score", "same"}
    assert res["pairs"][0]["same"] is True and res["pairs"][0]["score"] > 0.99
    assert res["pairs"][2]["score"] is None and "missing.png" in res["pairs"][2]["error"]
    assert "not an image" in res["pairs"][3]["error"] and "label" in res["pairs"][4]["error"]
    assert res["accuracy"] == (1.0 if res["pairs"][1]["same"] is False else 0.5)
    for k in (3, 4, 5):
        assert any(line.startswith(f"error: row {k}:") for line in err.splitlines()), err
    assert "3 of 5 rows failed" in err


def test_pairs_without_labels_text_output(pngs, tmp_path, capsys) -> None:
    csv_file = write_csv(tmp_path / "p.csv", f"path_b,path_a\n{pngs[0]},{pngs[1]}\n{pngs[2]},{pngs[3]}\n")
    rc, out, err = run_cli(capsys, "verify", "--pairs", str(csv_file), "--align", "off")
    assert rc == 0, err
    assert "accuracy" not in out and "pairs/s" in err
    rc, out, _ = run_cli(capsys, "verify", "--pairs", str(csv_file), "--align", "off", "--json")
    assert "accuracy" not in json.loads(out)


@pytest.mark.parametrize("text, fragment", [("a,b\nx,y\n", "lacks path_a and path_b"), ("path_a,path_b\n", "no rows")])
def test_bad_pairs_files_are_one_error(tmp_path, capsys, text, fragment) -> None:
    rc, _, err = run_cli(capsys, "verify", "--pairs", str(write_csv(tmp_path / "p.csv", text)))
    one_error(rc, err, fragment)
    rc, _, err = run_cli(capsys, "verify", "--pairs", str(tmp_path / "none.csv"))
    one_error(rc, err, "no such file")
    rc, _, err = run_cli(capsys, "verify", "only_one.jpg")
    one_error(rc, err, "two images")


# ------------------------------------------------------------------------------------------------ identify


def test_identify_ranks_people_caches_and_says_unknown(tmp_path, capsys) -> None:
    imgs = blobs(7, 5)
    g = tmp_path / "gallery"
    (g / "Ann").mkdir(parents=True)
    Image.fromarray(imgs[0]).save(g / "Ann" / "1.png")
    Image.fromarray(imgs[1]).save(g / "Ann" / "2.png")
    Image.fromarray(imgs[2]).save(g / "Bob.png")
    Image.fromarray(imgs[3]).save(g / "Cy.jpg", quality=95)
    q = tmp_path / "q.png"
    Image.fromarray(imgs[1]).save(q)
    rc, out, err = run_cli(capsys, "identify", str(q), "--gallery", str(g), "--json", "--align", "off", "--top", "2")
    assert rc == 0, err
    res = json.loads(out)
    assert res["person"] == "Ann" and res["n_people"] == 3 and len(res["candidates"]) == 2
    assert res["candidates"][0] == {"person": "Ann", "score": res["score"], "n_images": 2, "best_image": "Ann/2.png"}
    assert res["cached_images"] == 0
    again = lfwsiamese.identify(q, g, align="off")
    assert again.cached_images == 4 and again.person == "Ann"
    assert again.score == pytest.approx(res["score"], abs=1e-6)
    Image.fromarray(imgs[4]).save(g / "Bob.png")  # changed file: embedded again, the others from the cache
    assert lfwsiamese.identify(q, g, align="off").cached_images == 3
    mean = lfwsiamese.identify(q, g, align="off", combine="mean")
    assert mean.candidates[0].score <= res["score"]
    other = tmp_path / "stranger.png"
    Image.fromarray(blobs(99)[0][::-1].copy()).save(other)
    stranger = lfwsiamese.identify(other, g, align="off")
    assert (stranger.person == "unknown") == (stranger.score <= stranger.threshold)
    rc, _, err = run_cli(capsys, "identify", str(q), "--gallery", str(tmp_path / "none"))
    one_error(rc, err, "--gallery", "no such folder")


# ------------------------------------------------------------------------------------------- speed
@pytest.mark.realdata
def test_bench_verifier_times_devtest_crops_and_photos(real_data, capsys) -> None:
    rc, out, err = run_cli(capsys, "bench", "--verifier", "--photo-pairs", "4", "--photo-side", "1200", "--cold-runs",
                           "2", "--json", "--data", str(real_data))
    assert rc == 0
    res = json.loads(out)
    cold = res["cold_verify"]  # new processes verifying two 1200x1200 photos (a failed run raises)
    assert cold["runs"] == 2 == len(cold["seconds"]) and cold["side_px"] == res["photos"]["side_px"] == 1200
    assert 0.3 < cold["median_seconds"] <= cold["max_seconds"] == max(cold["seconds"]) < 120
    assert "cold `verify` of two photos" in err and "1200px photos" in err
    crops, photos = res["crops"], res["photos"]
    assert (crops["pairs"], crops["images"], crops["images_aligned"]) == (1000, 1549, 0)  # LFW-a crops: none detected
    assert photos["pairs"] == 4 and photos["images_aligned"] == photos["images"] - photos["faces_not_found"] > 0
    for r in (crops, photos):
        assert r["pairs_per_second"] == pytest.approx(r["pairs"] / r["seconds"], rel=0.3)  # (scored pairs only)
        assert r["images_per_second"] == pytest.approx(r["images"] / r["seconds"])
    assert crops["images_per_second"] > photos["images_per_second"]  # detection is the slow part
    runs = crops["pairs_per_second_runs"]  # three passes over the crops, the median one reported
    assert crops["runs"] == len(runs) == 3 and runs == sorted(runs, reverse=True)
    assert crops["pairs_per_second"] == runs[1] and "median of 3 passes" in err
    assert res["alignment"] == alignment_name(load_shipped().landmarks) and res["cpu"]
    assert "DevTest as LFW-a crops" in err and "pairs/s" in err
    rc, _, err = run_cli(capsys, "bench", "--verifier", "--photo-pairs", "0", "--data", str(real_data))
    one_error(rc, err, "--photo-pairs 0", "between 2 and 1000")
    rc, _, err = run_cli(capsys, "bench", "--verifier", "--photo-side", "50", "--data", str(real_data))
    one_error(rc, err, "--photo-side 50", "between 100 and 8000")


def test_the_card_names_the_alignment_the_scorer_uses() -> None:
    """Each alignment a calibration may name maps to `align_face`'s landmarks and back; a card naming one this
    version does not know is refused with the fix, not served with another alignment."""
    from lfwsiamese.serve.scorer import ALIGNMENT_LANDMARKS, OnnxScorer
    from lfwsiamese.serve.shipped import ShippedModelError, checked_model_file
    assert list(ALIGNMENT_LANDMARKS) == ["landmarks5", "landmarks", "cascade"]  # ties go to the first
    for name, landmarks in ALIGNMENT_LANDMARKS.items():
        assert alignment_name(landmarks) == name
    assert alignment_name(True) == "landmarks" and alignment_name(False) == "cascade"
    card = read_card(shipped_dir())
    assert load_shipped().landmarks == ALIGNMENT_LANDMARKS[card["calibration"]["alignment"]]
    bad = {**card, "calibration": {**card["calibration"], "alignment": "mesh"}}
    with pytest.raises(ShippedModelError, match="'mesh'.*upgrade lfwsiamese"):
        OnnxScorer(checked_model_file(shipped_dir(), card), bad)


def test_only_alignments_that_allow_any_use_are_chosen() -> None:
    """The 68-point model's training data exclude commercial use: it is measured beside the others, and never
    chosen even where it separates the validation photos best; ties go to the first of `ALIGNMENTS`."""
    from lfwsiamese.errors import RunError
    from lfwsiamese.serve.calibrate import choose_alignment
    from lfwsiamese.serve.scorer import SHIPPABLE_ALIGNMENTS
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    noise = {"landmarks": 0.2, "landmarks5": 0.6, "cascade": 1.0}  # the 68 points separate best
    df = pd.concat([pd.DataFrame({"alignment": a, "label": y, "found": True,
                                  "raw_score": 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, s, y.size))))})
                    for a, s in noise.items()], ignore_index=True)
    best, cands = choose_alignment(df)
    assert set(cands) == set(noise) and max(cands, key=lambda a: cands[a]["auc"]) == "landmarks"
    assert best == "landmarks5" and best in SHIPPABLE_ALIGNMENTS and "landmarks" not in SHIPPABLE_ALIGNMENTS
    tied = df[df["alignment"] != "landmarks"].copy()
    tied.loc[tied["alignment"] == "cascade", "raw_score"] = tied.loc[tied["alignment"] == "landmarks5",
                                                                     "raw_score"].to_numpy()
    assert choose_alignment(tied)[0] == "landmarks5"  # a tie: the first
    with pytest.raises(RunError, match="may ship"):
        choose_alignment(df[df["alignment"] == "landmarks"])
