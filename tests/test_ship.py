"""`ship-model`: a Keras model exported to ONNX scores pairs within 1e-4 of Keras (both heads, with and without flip
averaging), and a shipped record reproduces its own validation scores, threshold and accuracies."""
from __future__ import annotations

import json
from dataclasses import replace
import numpy as np
import pytest

pytest.importorskip("tf2onnx")

from lfwsiamese.serve.ship import _export_tower, keras_pair_scores, probe_pixels, ship_model
from lfwsiamese.serve.models import KerasScorer, head_spec
from lfwsiamese.cli import main
from lfwsiamese.config import ModelConfig
from lfwsiamese.models.towers import build_siamese
from lfwsiamese.serve.scorer import OnnxScorer
from lfwsiamese.serve.shipped import ENV_SHIPPED, sha256_file
from tests.synth import tiny_config, trained_record

pytestmark = pytest.mark.slow

RESNET = ModelConfig(arch="resnet", filters=(8, 16), blocks=(1, 1), kernels=(3, 3), pools=(0, 0), dense_units=16,
                     head="cosine", kernel_init="he_normal", bias_init="zeros", dense_init="glorot_uniform",
                     dense_activation="linear", conv_l2=0.0, dense_l2=0.0, dropout=0.0, bn_fused=True)


@pytest.mark.parametrize("kind", ["koch-l1", "resnet-cosine"])
@pytest.mark.parametrize("flip", [False, True])
def test_onnx_export_scores_like_keras(tmp_path, kind, flip) -> None:
    cfg = tiny_config()
    if kind == "resnet-cosine":
        cfg = replace(cfg, model=RESNET)
    cfg = replace(cfg, train=replace(cfg.train, tta_flip=flip))
    import keras
    keras.utils.set_random_seed(0)  # a fixed initialisation: the spread checked below must not depend on luck
    model = build_siamese(cfg.model, cfg.data.size)
    if kind == "resnet-cosine":  # at initialisation all embeddings point alike: a steep head spreads the scores
        model.get_layer("scaled_cosine").set_weights([np.float32(2000.0), np.float32(-1990.0)])
    path = tmp_path / "tower.onnx"
    _export_tower(model, path)
    card = {"config": json.loads(cfg.to_json()), "run": "test", "sha256": sha256_file(path), "threshold": 0.5,
            "head": head_spec(model), "embedding_dim": int(model.get_layer("tower").output.shape[-1])}
    scorer = OnnxScorer(path, card)
    pix = probe_pixels(cfg.data.size, 6, seed=1)
    ia, ib = np.array([0, 1, 2, 3, 4, 5, 0]), np.array([1, 2, 3, 4, 5, 0, 0])
    keras_s = keras_pair_scores(model, pix, ia, ib, cfg.data.pixel_scale, flip)
    v = scorer.embed(pix)
    np.testing.assert_allclose(scorer.raw_score(v[ia], v[ib]), keras_s, atol=1e-4)
    assert np.ptp(keras_s) > 1e-3  # the pairs do not all score alike
    tower = np.asarray(model.get_layer("tower")(pix.astype(np.float32)[..., None] * cfg.data.pixel_scale))
    np.testing.assert_allclose(v[:, 0], tower, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory):
    return trained_record(tmp_path_factory, tta_flip=True)


def test_ship_model_reproduces_the_record(record, tmp_path, monkeypatch, capsys) -> None:
    rec, data, results = record
    out = tmp_path / "shipped"
    card = ship_model(rec.path, data=data, out=out, results=results, progress=False, calibrate_photos=False)
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "model.json", "model.onnx"]
    assert card == json.loads((out / "model.json").read_text())
    assert card["sha256"] == sha256_file(out / "model.onnx")
    assert card["source_model_sha256"] == sha256_file(rec.model_path)
    assert card["shipped"]["val_max_abs_diff"] < 1e-4  # a float32 record: the runtime gives its scores again
    assert card["shipped"]["test"]["accuracy"] == pytest.approx(rec.metrics["test"]["accuracy"], abs=0.01)
    assert card["record"]["test"]["accuracy"] == rec.metrics["test"]["accuracy"]
    assert card["record"]["threshold"] == rec.metrics["threshold"]
    assert "calibration" not in card and card["raw_threshold"] == card["threshold"]  # synthetic faces: no photos
    assert card["view2"] is None and card["config"]["train"]["tta_flip"] is True
    # the shipped copy and the record through Keras score a pair alike
    monkeypatch.setenv(ENV_SHIPPED, str(out))
    a, b = (str(data / "lfw2" / n / f"{n}_0001.jpg") for n in ("Person_AA", "Person_AB"))
    assert main(["verify", a, b, "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert shipped["model"] == f"shipped:{rec.path.name}"
    keras = KerasScorer(rec.path)
    from lfwsiamese.serve.verify import verify_pair
    assert verify_pair(keras, a, b).score == pytest.approx(shipped["score"], abs=1e-4)
    assert main(["model-card"]) == 0
    assert rec.path.name in capsys.readouterr().out


def test_ship_refuses_a_view2_record(record, tmp_path) -> None:
    rec, data, _ = record
    cfg = json.loads((rec.path / "config.json").read_text())
    cfg["data"]["protocol"] = "view2"
    copy = tmp_path / "v2"
    import shutil
    shutil.copytree(rec.path, copy)
    (copy / "config.json").write_text(json.dumps(cfg))
    from lfwsiamese.errors import RunError
    with pytest.raises(RunError, match="View 1 record"):
        ship_model(copy, data=data, out=tmp_path / "out")


@pytest.fixture(scope="module")
def two_towers(tmp_path_factory: pytest.TempPathFactory):
    """Two tiny cosine-head records of different seeds on one synthetic dataset, sharing their validation people."""
    from lfwsiamese.training.run import train_run
    from tests.synth import make_dataset
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFWSIAMESE_CACHE", str(cache))
        data = make_dataset(tmp_path_factory.mktemp("synth"))
        results = tmp_path_factory.mktemp("results")
        recs = []
        for seed in (0, 1):
            cfg = tiny_config(seed=seed, epochs=1, tta_flip=True)
            cfg = replace(cfg, model=RESNET, data=replace(cfg.data, split_seed=0)).validate()
            recs.append(train_run(cfg, data=str(data), results=results, progress=False))
    return recs, data, results, cache


def test_two_towers_ship_as_one_model_that_scores_like_their_keras_towers(two_towers, tmp_path, monkeypatch,
                                                                            capsys) -> None:
    from lfwsiamese.serve.ensemble import EnsembleScorer
    from lfwsiamese.serve.verify import verify_pair
    recs, data, results, cache = two_towers
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(cache))
    out = tmp_path / "shipped"
    names = [r.path.name for r in recs]
    assert main(["ship-model", "--run", names[0], "--run", str(recs[1].path), "--results", str(results),
                 "--data", str(data), "--out", str(out), "--quiet"]) == 2
    # the command line resolved both names, exported and checked the towers, and stopped at the photo calibration,
    # which synthetic faces cannot give (no face is detected on them)
    assert "calibration needs pairs of both kinds" in capsys.readouterr().err and not out.exists()
    card = ship_model([r.path for r in recs], data=data, out=out, results=results, progress=False,
                      calibrate_photos=False)
    assert [m["run"] for m in card["members"]] == names and card["run"] == names[0]
    assert [m["seed"] for m in card["members"]] == [0, 1] and card["training"]["seed"] == [0, 1]
    assert card["tta_flip"] is False and card["config"]["train"]["tta_flip"] is True  # the members mirror, it does not
    assert card["embedding_dim"] == 2 * RESNET.dense_units and card["sha256"] == sha256_file(out / "model.onnx")
    heads = [m["head"] for m in card["members"]]
    assert card["head"]["scale"] == pytest.approx((heads[0]["scale"] + heads[1]["scale"]) / 2)
    assert card["probe"]["max_abs_diff_onnx"] < 1e-4 and card["shipped"]["val_max_abs_diff"] < 1e-4
    # the shipped file against an ensemble of the two records through Keras, on a pair of the dataset's faces
    monkeypatch.setenv(ENV_SHIPPED, str(out))
    a, b = (str(data / "lfw2" / n / f"{n}_0001.jpg") for n in ("Person_AA", "Person_AB"))
    assert main(["verify", a, b, "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert shipped["model"] == f"shipped:{names[0]}+{names[1]}"
    keras = EnsembleScorer([KerasScorer(r.path) for r in recs])
    assert verify_pair(keras, a, b).score == pytest.approx(shipped["score"], abs=1e-4)
    assert main(["model-card"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"# Model card: `{names[0]}` + `{names[1]}`")
    assert "trained from seeds 0 and 1" in text and "no mirror image" in text


def test_an_ensemble_refuses_towers_that_saw_each_others_validation_people(two_towers, tmp_path) -> None:
    import shutil

    from lfwsiamese.errors import RunError
    recs, data, _, _ = two_towers
    with pytest.raises(RunError, match="the same record twice"):
        ship_model([recs[0].path, recs[0].path], data=data, out=tmp_path / "out", calibrate_photos=False)
    other = tmp_path / recs[1].path.name
    shutil.copytree(recs[1].path, other)
    val = (other / "val_scores.csv").read_text().splitlines()
    (other / "val_scores.csv").write_text("\n".join(val[:-1]) + "\n")  # one validation pair fewer
    with pytest.raises(RunError, match="data.split_seed=0"):
        ship_model([recs[0].path, other], data=data, out=tmp_path / "out", calibrate_photos=False)
    assert not (tmp_path / "out").exists()


def test_a_member_without_weights_ships_from_its_exported_tower(two_towers, tmp_path, monkeypatch) -> None:
    """Weights stay out of git: a record whose tower was exported before (results/candidates/<run>) joins an
    ensemble from that file, and the result is the same as from its weights."""
    import shutil
    recs, data, results, cache = two_towers
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(cache))
    kw = dict(data=data, progress=False, calibrate_photos=False)
    want = ship_model([r.path for r in recs], out=tmp_path / "from-weights", results=results, **kw)
    other = tmp_path / "results"
    for r in recs:
        shutil.copytree(r.path, other / "runs" / r.path.name, ignore=shutil.ignore_patterns("model.keras"))
    second = other / "runs" / recs[1].path.name
    runs = [other / "runs" / r.path.name for r in recs]
    from lfwsiamese.errors import RunError
    with pytest.raises(RunError, match="no model.keras .* and no tower exported for it"):
        ship_model(runs, out=tmp_path / "out", results=other, **kw)
    (other / "runs" / recs[0].path.name / "model.keras").write_bytes(recs[0].model_path.read_bytes())
    ship_model(recs[1].path, out=other / "candidates" / second.name, results=results, **kw)
    got = ship_model(runs, out=tmp_path / "from-file", results=other, **kw)
    assert "results/candidates" in got["members"][1]["tower"] and "model.keras" in got["members"][0]["tower"]
    assert got["members"][1]["source_model_sha256"] == sha256_file(recs[1].model_path)
    np.testing.assert_allclose(got["probe"]["keras_scores"], want["probe"]["keras_scores"], atol=1e-6)
    assert got["shipped"]["val"] == want["shipped"]["val"]  # (two exports of one model differ in bytes, not scores)
