"""The hand-crafted channel and the fusion (issue 33): Joint Bayesian, LBP features, fusion, records."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lfwsiamese.config import DataConfig, ExperimentConfig
from lfwsiamese.data.protocols import ImageRef, Pair
from lfwsiamese.evaluate import best_threshold, evaluate_scores
from lfwsiamese.experiments import fusion
from lfwsiamese.experiments.jointbayes import JointBayes
from lfwsiamese.experiments.lbp import POINTS, LbpSpec, lbp_features
from lfwsiamese.records.store import load_record

ROOT = Path(__file__).resolve().parents[1]


def gaussian_identities(n_people: int, d: int, seed: int = 0):
    """People with a known identity covariance S_mu and within-person covariance S_eps, 1-7 images each."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s_mu, s_eps = a @ a.T / d + 0.5 * np.eye(d), 0.5 * b @ b.T / d + 0.2 * np.eye(d)
    counts = rng.integers(1, 8, n_people)
    labels = np.repeat(np.arange(n_people), counts)
    x = rng.multivariate_normal(np.zeros(d), s_mu, n_people)[labels]
    x += rng.multivariate_normal(np.zeros(d), s_eps, len(labels)) + 3.0  # an offset the model must remove
    return x, labels, s_mu, s_eps


def test_joint_bayes_recovers_known_covariances():
    x, labels, s_mu, s_eps = gaussian_identities(4000, 5)
    jb = JointBayes().fit(x, labels)
    assert np.abs(jb.s_mu_ - s_mu).max() < 0.06 * np.abs(s_mu).max()
    assert np.abs(jb.s_eps_ - s_eps).max() < 0.06 * np.abs(s_eps).max()


def test_joint_bayes_ranks_same_identity_pairs_first():
    x, labels, _, _ = gaussian_identities(3000, 8, seed=1)
    jb = JointBayes().fit(x[labels < 2000], labels[labels < 2000])  # scored on people it never saw
    rng = np.random.default_rng(2)
    idx = {p: np.flatnonzero(labels == p) for p in range(2000, 3000) if (labels == p).sum() >= 2}
    same = [tuple(rng.choice(v, 2, replace=False)) for v in idx.values()]
    diff = [(idx[p][0], idx[q][0]) for p, q in rng.choice(list(idx), (len(same), 2)) if p != q]
    pairs = np.array(same + diff)
    y = np.r_[np.ones(len(same)), np.zeros(len(diff))]
    s = jb.score(x[pairs[:, 0]], x[pairs[:, 1]])
    euclid = -np.linalg.norm(x[pairs[:, 0]] - x[pairs[:, 1]], axis=1)
    assert roc_auc_score(y, s) > 0.9 and roc_auc_score(y, s) > roc_auc_score(y, euclid)


def test_lbp_features_shape_deterministic_and_mirror_invariant():
    img = np.random.default_rng(0).integers(0, 256, (250, 250)).astype(np.uint8)
    spec = LbpSpec()
    f = lbp_features(img)
    assert f.shape == (spec.dims,) == (18 * 16 * 59 * 4,) and len(POINTS) == 18
    assert np.array_equal(f, lbp_features(img)) and np.isfinite(f).all() and f.min() >= 0
    # each cell's histogram sums to 1 before the square root
    assert np.allclose((f.reshape(-1, 59) ** 2).sum(1), 1.0, atol=1e-5)
    # the mirror averaging makes the features of an image and of its mirror equal (the points are symmetric)
    assert np.allclose(f, lbp_features(img[:, ::-1]), atol=1e-6)


def test_whitened_pca_whitens_its_training_data():
    x = np.random.default_rng(0).normal(size=(300, 50)) @ np.random.default_rng(1).normal(size=(50, 80))
    mean, w = fusion.whitened_pca(x.astype(np.float32), 20)
    z = (x - mean) @ w
    assert np.allclose(np.cov(z.T), np.eye(20), atol=1e-3)


def _channels(seed: int):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(500), np.zeros(500)].astype(int)
    return {"npair": rng.normal(y * 1.5), "lbp-jb": rng.normal(y * 2.0) * 30}, y


def test_fusion_never_sees_test_labels():
    val, yv = _channels(0)
    test, yt = _channels(1)
    w, fv, ft = fusion.fuse(val, yv, test)
    m = evaluate_scores(yv, fv, yt, ft)
    shuffled = np.random.default_rng(3).permutation(yt)
    w2, fv2, ft2 = fusion.fuse(val, yv, test)
    m2 = evaluate_scores(yv, fv2, shuffled, ft2)
    assert w == w2 and np.array_equal(ft, ft2) and m["threshold"] == m2["threshold"]
    assert all(c > 0 for c in w["weights"]) and m["test"]["auc"] > max(
        roc_auc_score(yt, test["npair"]), roc_auc_score(yt, test["lbp-jb"]))


def test_written_record_recomputes_from_its_scores(tmp_path):
    val, yv = _channels(4)
    test, yt = _channels(5)
    w, fv, ft = fusion.fuse(val, yv, test)
    pairs = [Pair(ImageRef(f"P{k}", 1), ImageRef(f"P{k}", 2)) if y else Pair(ImageRef(f"P{k}", 1), ImageRef(f"Q{k}", 1))
             for k, y in enumerate(yv)]
    cfg = ExperimentConfig(name="fused-test", data=DataConfig(protocol="view2", fold=3, sampling="identities"))
    m = {**evaluate_scores(yv, fv, yt, ft), "fusion": w, "fit_seconds": 1.0}
    rec = fusion._write(cfg, m, pd.DataFrame([{"channel": "x", "weight": 1.0}]), pairs, fv, pairs, ft, tmp_path)
    _check_record(load_record(rec.path))


def _check_record(rec):
    """Threshold from val_scores.csv, test accuracy and AUC from scores.csv, as stored."""
    val, test, m = rec.val_scores, rec.scores, rec.metrics
    assert m["threshold"] == pytest.approx(best_threshold(val["label"], val["score"]))
    acc = float(((test["score"] > m["threshold"]).astype(int) == test["label"]).mean())
    assert acc == pytest.approx(m["test"]["accuracy"])
    assert roc_auc_score(test["label"], test["score"]) == pytest.approx(m["test"]["auc"])


STORED = sorted(d for pat in ("lbp-jb-*", "fused-*") for d in (ROOT / "results" / "runs").glob(pat)
                if (d / "metrics.json").is_file())


@pytest.mark.skipif(not STORED, reason="no channel records stored yet (`lfwsiamese channels`)")
def test_stored_channel_records_recompute_and_match_their_base():
    for d in STORED:
        rec = load_record(d)
        _check_record(rec)
        for src in rec.metrics.get("sources", []):  # same validation and test pairs as the records it fuses
            base = load_record(ROOT / "results" / "runs" / src)
            cols = ["name_a", "index_a", "name_b", "index_b", "label"]
            assert base.scores[cols].equals(rec.scores[cols]) and base.val_scores[cols].equals(rec.val_scores[cols])
            assert base.metrics["train_people_sha256"] == rec.metrics["train_people_sha256"]
        assert json.loads((d / "config.json").read_text())["data"]["protocol"] in ("view1", "view2")


def test_subset_search_tries_every_subset_and_drops_noise():
    rng = np.random.default_rng(6)
    y = np.r_[np.ones(400), np.zeros(400)].astype(int)
    val = {"a": rng.normal(y * 1.5), "b": rng.normal(y * 1.5), "noise": rng.normal(size=len(y))}
    chosen, tried = fusion.choose_subset(val, y)
    assert len(tried) == 7 and {"a", "b"} <= set(chosen)


def test_lbp_at_per_image_points_is_mirror_invariant_through_the_point_pairs():
    from lfwsiamese.data.landmarks import MIRROR
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (250, 250)).astype(np.uint8)
    pts = np.array(POINTS, np.float32) + rng.uniform(-6, 6, (18, 2)).astype(np.float32)  # not symmetric
    spec = LbpSpec(landmarks=True)
    f = lbp_features(img, spec, pts)
    # the mirror image's landmarks: each point mirrored, left and right swapped
    mirrored = np.column_stack([249 - pts[list(MIRROR), 0], pts[list(MIRROR), 1]])
    assert np.allclose(f, lbp_features(img[:, ::-1], spec, mirrored), atol=1e-6)
    assert not np.allclose(f, lbp_features(img, spec), atol=1e-3)  # the points are used
    assert sorted(MIRROR) == list(range(18)) and all(MIRROR[MIRROR[i]] == i for i in range(18))


def test_points_of_maps_dlib_landmarks_to_the_fixed_points_order():
    from lfwsiamese.data.landmarks import points_of
    lm = np.zeros((68, 2), np.float32)
    lm[:, 0] = np.arange(68)
    p = points_of(lm)
    assert p.shape == (18, 2) and p[0, 0] == np.mean(range(36, 42)) and p[1, 0] == np.mean(range(42, 48))
    assert p[2:, 0].tolist() == [36, 45, 39, 42, 17, 26, 21, 22, 27, 30, 31, 35, 48, 54, 51, 57]


def test_a_missing_landmark_model_names_the_extra_to_install(monkeypatch):
    from lfwsiamese.data import landmarks
    monkeypatch.setattr(landmarks.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(landmarks.LandmarkModelMissingError, match=r"lfwsiamese\[landmarks\]"):
        landmarks.model_file()


def test_an_unknown_channel_is_refused_with_the_choices(capsys):
    from lfwsiamese.cli import main
    assert main(["channels", "--protocol", "view1", "--channels", "lbp-xx"]) == 2
    err = capsys.readouterr().err
    assert "lbp-xx" in err and "lbp-lm-jb" in err


@pytest.mark.realdata
def test_dlib_landmarks_of_lfwa_faces_lie_near_the_fixed_points(real_data):
    from PIL import Image
    from lfwsiamese.data.check import list_images
    from lfwsiamese.data.landmarks import Landmarker, points_of
    from lfwsiamese.data.paths import images_dir
    lm = Landmarker()
    rels = list_images(real_data)[::1500]
    found, dist = [], []
    for r in rels:
        img = np.asarray(Image.open(images_dir(real_data) / r).convert("L"))
        pts, f = lm.lfwa_points(img)
        found.append(f)
        dist.append(np.linalg.norm(points_of(pts) - np.array(POINTS), axis=1).mean())
    assert len(rels) >= 8 and np.mean(found) > 0.8 and np.median(dist) < 8  # LFW-a is aligned: a few pixels off


@pytest.mark.realdata
@pytest.mark.parametrize("protocol", ["view1", "view2"])
def test_a_rerun_on_finished_records_reads_them_and_computes_no_features(real_data, protocol, capsys, monkeypatch,
                                                                        tmp_path):
    """`make records` on a fresh machine whose results/ is complete: no feature is computed (minutes each)."""
    from lfwsiamese.cli import main
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(tmp_path / "empty-cache"))
    argv = ["channels", "--protocol", protocol, "--data", str(real_data), "--results", str(ROOT / "results"),
            "--channels", "lbp-lm-jb", "--quiet"]
    argv += ["--base", "npair", "--seed", "1", "--name", "fused-npair-lbp-lm-jb"] if protocol == "view1" else []
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "features:" not in err and not (tmp_path / "empty-cache").exists()
    assert ("fused-npair-lbp-lm-jb-s1-" in out) if protocol == "view1" else (out.count("fold ") == 10)
