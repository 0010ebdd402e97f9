"""`verify` and `embed` with a stored record (`--run`): a trained run used on image files, preprocessed and scored as in
training, with clear errors. (The shipped model, the default, is tested in test_serving.py and test_align.py.)"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lfwsiamese.serve import embed as E
from lfwsiamese.serve import models as M
from lfwsiamese.serve import verify as V
from lfwsiamese.records.store import load_run_model
from tests.cli_helpers import one_error, run_cli
from tests.synth import trained_record

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A 1-epoch tiny model on synthetic people (its own image cache, never the user's)."""
    return trained_record(tmp_path_factory)


@pytest.fixture
def env(trained, monkeypatch: pytest.MonkeyPatch):
    rec, data, results = trained
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(results))
    return rec, data, results


def img(data: Path, name: str, i: int) -> str:
    return str(data / "lfw2" / name / f"{name}_{i:04d}.jpg")


# ---------------------------------------------------------------------------------------- verify


@pytest.mark.parametrize("b", [("Person_AA", 2), ("Person_AB", 1)], ids=["same", "different"])
def test_verify_gives_decision_score_and_the_records_threshold(env, capsys, b) -> None:
    rec, data, _ = env
    rc, out, _ = run_cli(capsys, "verify", img(data, "Person_AA", 1), img(data, *b), "--json", "--run", "best")
    assert rc == 0
    res = json.loads(out)
    assert 0.0 <= res["score"] <= 1.0
    assert res["threshold"] == rec.metrics["threshold"]
    assert res["same"] == (res["score"] > res["threshold"])
    assert res["decision"] == ("same person" if res["same"] else "different people")
    assert Path(res["model"]) == rec.path


def test_verify_text_output(env, capsys) -> None:
    rec, data, _ = env
    rc, out, _ = run_cli(capsys, "verify", img(data, "Person_AA", 1), img(data, "Person_AB", 1), "--run", "best")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] in ("same person", "different people")
    assert any(line.split()[:1] == ["score"] for line in lines)
    assert f"{rec.metrics['threshold']:.4f}" in out and "validation" in out
    assert str(rec.path) in out


def test_verify_scores_like_training_did(env) -> None:
    """The stored test score of a pair is reproduced from the image files: same preprocessing, same model."""
    rec, data, results = env
    row = pd.read_csv(rec.path / "scores.csv").iloc[-1]
    v = V.verify_images(img(data, row.name_a, row.index_a), img(data, row.name_b, row.index_b), run="best",
                        results=results)
    assert v.score == pytest.approx(row.score, abs=1e-5)
    assert v.warnings == []


def test_rgb_png_of_another_size_works_with_a_warning(env, capsys, tmp_path) -> None:
    _, data, _ = env
    rgb = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)  # 300 wide, 200 high
    png = tmp_path / "face.png"
    Image.fromarray(rgb, "RGB").save(png)
    rc, out, err = run_cli(capsys, "verify", str(png), img(data, "Person_AA", 1), "--run", "best", "--align", "off")
    assert rc == 0, err
    warn = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any("RGB" in w for w in warn) and any("300x200" in w for w in warn), err
    assert out.splitlines()[0] in ("same person", "different people")


def test_missing_image_is_one_error(env, capsys, tmp_path) -> None:
    _, data, _ = env
    rc, _, err = run_cli(capsys, "verify", str(tmp_path / "nope.jpg"), img(data, "Person_AA", 1))
    one_error(rc, err, "nope.jpg", "not found")


def test_text_file_named_jpg_is_one_error(env, capsys, tmp_path) -> None:
    _, data, _ = env
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image\n")
    rc, _, err = run_cli(capsys, "verify", img(data, "Person_AA", 1), str(fake))
    one_error(rc, err, "fake.jpg", "not an image")


def test_run_without_weights_is_one_error(env, capsys, tmp_path) -> None:
    rec, data, _ = env
    copy = tmp_path / rec.path.name
    shutil.copytree(rec.path, copy)
    (copy / "model.keras").unlink()
    rc, _, err = run_cli(capsys, "verify", img(data, "Person_AA", 1), img(data, "Person_AA", 2), "--run", str(copy))
    one_error(rc, err, "no weights", "lfwsiamese train")


def test_no_run_with_weights_says_how_to_train_one(env, capsys, tmp_path) -> None:
    _, data, _ = env
    rc, _, err = run_cli(capsys, "verify", img(data, "Person_AA", 1), img(data, "Person_AA", 2), "--run", "best",
                         "--results", str(tmp_path))
    one_error(rc, err, "no stored record with weights", "lfwsiamese train --config reference")


def _fake_record(src: Path, dst: Path, val_acc: float, test_acc: float, weights: bool = True) -> Path:
    shutil.copytree(src, dst)
    m = json.loads((dst / "metrics.json").read_text())
    m["val"]["accuracy"], m["test"]["accuracy"] = val_acc, test_acc
    (dst / "metrics.json").write_text(json.dumps(m))
    if not weights:
        (dst / "model.keras").unlink()
    return dst


def test_default_run_is_the_best_by_validation_never_by_test(env, capsys, tmp_path, monkeypatch) -> None:
    rec, data, _ = env
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    val_best = _fake_record(rec.path, runs / "z-val-best", val_acc=0.97, test_acc=0.10)
    _fake_record(rec.path, runs / "a-test-best", val_acc=0.60, test_acc=0.99)
    _fake_record(rec.path, runs / "m-no-weights", val_acc=0.99, test_acc=0.99, weights=False)
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path / "results"))
    assert M.best_run() == val_best
    rc, out, err = run_cli(capsys, "verify", img(data, "Person_AA", 1), img(data, "Person_AA", 2), "--json", "--run", "best")
    assert rc == 0, err
    assert Path(json.loads(out)["model"]) == val_best


def test_record_scores_with_its_flip_averaging(env, tmp_path) -> None:
    """A record trained with train.tta_flip is scored as its test scores were: the mean with the mirrored pair."""
    rec, data, _ = env
    cfg = json.loads((rec.path / "config.json").read_text())
    cfg["train"]["tta_flip"] = True
    copy = tmp_path / "flip"
    shutil.copytree(rec.path, copy)
    (copy / "config.json").write_text(json.dumps(cfg))
    a, b = img(data, "Person_AA", 1), img(data, "Person_AB", 1)
    plain = V.verify_images(a, b, run=str(rec.path)).score
    both = V.verify_images(a, b, run=str(copy)).score
    model = load_run_model(rec.path)
    pre = M.preprocess_for(rec)
    from lfwsiamese.data.images import load_image
    xa, xb = (load_image(p, pre)[None, :, ::-1, None].astype(np.float32) * rec.config.data.pixel_scale for p in (a, b))
    mirrored = float(np.asarray(model([xa, xb], training=False)).ravel()[0])
    assert both == pytest.approx(0.5 * (plain + mirrored), abs=1e-5)


def test_run_by_name(env) -> None:
    rec, data, results = env
    v = V.verify_images(img(data, "Person_AA", 1), img(data, "Person_AA", 2), run=rec.path.name, results=results)
    assert Path(v.model) == rec.path


# ----------------------------------------------------------------------------------------- embed


def _image_folder(data: Path, root: Path) -> list[str]:
    """Nested images (one a copy of another, one RGB PNG) and one unreadable file; returns the readable ones."""
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    shutil.copy(img(data, "Person_AA", 1), root / "a" / "x.jpg")
    shutil.copy(img(data, "Person_AA", 1), root / "b" / "deep" / "copy.JPG")
    shutil.copy(img(data, "Person_AB", 2), root / "b" / "y.jpeg")
    Image.fromarray(np.zeros((40, 60, 3), np.uint8), "RGB").save(root / "c.png")
    (root / "broken.jpg").write_text("not an image")
    (root / "notes.txt").write_text("ignored")
    return ["a/x.jpg", "b/deep/copy.JPG", "b/y.jpeg", "c.png"]


def test_embed_writes_one_row_per_image_and_skips_unreadable(env, capsys, tmp_path) -> None:
    rec, data, _ = env
    expected = _image_folder(data, tmp_path / "imgs")
    out_file = tmp_path / "out" / "emb.npz"
    rc, out, err = run_cli(capsys, "embed", str(tmp_path / "imgs"), "--out", str(out_file), "--quiet", "--batch-size", "2",
                           "--run", "best", "--align", "off")
    assert rc == 0, err
    with np.load(out_file) as z:
        paths, emb = z["paths"].tolist(), z["embeddings"]
    assert paths == expected
    dim = int(load_run_model(rec.path).get_layer("tower").output.shape[-1])
    assert emb.shape == (len(expected), dim) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb[0], emb[1])  # the same file twice, in different batches
    assert not np.array_equal(emb[0], emb[2])
    warn = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any("skipped 1 unusable" in w and "broken.jpg" in w for w in warn), err
    assert "skipped 1 unusable" in out
    assert not [p for p in out_file.parent.iterdir() if p.name != "emb.npz"]  # no temp file left


def test_embed_csv_matches_npz(env, tmp_path) -> None:
    _, data, results = env
    _image_folder(data, tmp_path / "imgs")
    with pytest.warns(UserWarning, match="broken.jpg"):
        r = E.embed_folder(tmp_path / "imgs", tmp_path / "emb.csv", run="best", results=results, progress=False,
                           align="off")
    df = pd.read_csv(tmp_path / "emb.csv")
    assert df["path"].tolist() == r.paths
    np.testing.assert_allclose(df.drop(columns="path").to_numpy(np.float32), r.embeddings, rtol=1e-6)
    assert [p for p, _ in r.skipped] == ["broken.jpg"]


def test_embed_errors(env, capsys, tmp_path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_text("no")
    rc, _, err = run_cli(capsys, "embed", str(bad), "--out", str(tmp_path / "e.npz"))
    one_error(rc, err, "none of the 1 image file(s) could be used")
    assert not (tmp_path / "e.npz").exists()
    rc, _, err = run_cli(capsys, "embed", str(tmp_path / "empty-nothing"), "--out", str(tmp_path / "e.npz"))
    one_error(rc, err, "no such folder")
    rc, _, err = run_cli(capsys, "embed", str(bad), "--out", str(tmp_path / "e.txt"))
    one_error(rc, err, ".npz or *.csv")
