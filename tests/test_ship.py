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
