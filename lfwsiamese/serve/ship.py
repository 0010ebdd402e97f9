"""`lfwsiamese ship-model --run RUN_DIR`: put a record's model inside the package, ready for users.

1. The record's weights are loaded into a float32 model built from the record's own config (`load_run_model`: no code
   in the file is run, which is what `safe_mode=True` guards), and its tower is exported to ONNX (tf2onnx, through
   Keras' `export(format="onnx")`); the head's few numbers go into the card.
2. The exported tower must give Keras' scores within 1e-4 on fixed probe images (stored in the card, so a test can
   check the shipped file without TensorFlow).
3. The record's validation and DevTest pairs are scored again through ONNX Runtime, exactly as the record scored them
   (crop, resize, pixel scale, flip averaging); the scores are compared with val_scores.csv / scores.csv, and where
   they differ (a bfloat16 record, another runtime) the threshold is chosen again on the same validation pairs. Both
   thresholds, and both runtimes' accuracies, go into the card.
4. The card also carries the training data and protocol, View 2 accuracy from the config's View 2 records if they
   exist, and the checksum of the shipped file. `model.onnx`, `model.json` and `MODEL_CARD.md` are written atomically.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..data.photos import load_store
from ..data.paths import require_data_dir
from ..errors import RunError
from ..evaluate import best_threshold, fold_summary, metrics
from ..files import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..records.store import find_record, load_record, load_run_model, pairs_from_scores, results_dir
from ..training.setup import precision_policy
from .calibrate import calibrate
from .card import model_card_markdown
from .ensemble import EnsembleScorer, join_towers, mean_head
from .models import head_spec
from .scorer import OnnxScorer, Scorer
from .shipped import CARD_FILE, CARD_FORMAT, MODEL_FILE, checked_model_file, read_card, sha256_file, shipped_dir

PROBE_SEED = 20240601
PROBE_IMAGES = 8
KERAS_TOLERANCE = 1e-4


def probe_pixels(size: int, n: int = PROBE_IMAGES, seed: int = PROBE_SEED) -> np.ndarray:
    """Fixed, face-free probe images (smooth random blobs, uint8): the same on every machine, no data needed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size), np.uint8)
    for k in range(n):
        img = np.zeros((size, size))
        for _ in range(6):
            cx, cy, r, a = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.4), rng.uniform(-1, 1)
            img += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        out[k] = np.clip(128 + 90 * img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    return out


def probe_pairs(n: int = PROBE_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """Every probe image against the next one and against itself: (i, i+1 mod n), then (i, i)."""
    i = np.arange(n)
    return np.concatenate([i, i]), np.concatenate([(i + 1) % n, i])


def keras_pair_scores(model: Any, pixels: np.ndarray, ia: np.ndarray, ib: np.ndarray, pixel_scale: float,
                      tta_flip: bool) -> np.ndarray:
    """The Siamese model itself on pairs (and their mirror images with flip averaging), as training scored them."""
    x = pixels.astype(np.float32)[..., None] * np.float32(pixel_scale)
    s = np.asarray(model([x[ia], x[ib]], training=False), np.float64).ravel()
    if tta_flip:
        xf = x[:, :, ::-1]
        s = 0.5 * (s + np.asarray(model([xf[ia], xf[ib]], training=False), np.float64).ravel())
    return s


def _probe_scores(scorer: Scorer, size: int) -> np.ndarray:
    """A scorer's head scores of the probe pairs."""
    v = scorer.embed(probe_pixels(size))
    ia, ib = probe_pairs()
    return scorer.raw_score(v[ia], v[ib])


def _keras_probe_scores(model: Any, cfg: Any, tta_flip: bool) -> np.ndarray:
    """The Siamese Keras model's scores of the probe pairs, as training scored them."""
    ia, ib = probe_pairs()
    return keras_pair_scores(model, probe_pixels(cfg.data.size), ia, ib, cfg.data.pixel_scale, tta_flip)


def _probe_gap(reference: np.ndarray, scorer: Scorer, size: int, what: str, against: str) -> float:
    """The largest difference between `reference` and `scorer`'s scores of the probe pairs; past `KERAS_TOLERANCE`
    nothing is shipped."""
    gap = float(np.max(np.abs(reference - _probe_scores(scorer, size))))
    if gap > KERAS_TOLERANCE:
        raise RunError(f"{what} scores the probe pairs up to {gap:.2e} away from {against} (tolerance "
                       f"{KERAS_TOLERANCE}); not shipped")
    return gap


def _export_tower(model: Any, path: Path) -> None:
    try:
        import tf2onnx  # noqa: F401  (Keras' ONNX export uses it)
    except ImportError:
        raise RunError("exporting to ONNX needs tf2onnx: pip install 'lfwsiamese[ship]' (or tf2onnx onnx)") from None
    model.get_layer("tower").export(str(path), format="onnx", verbose=False)


def _split_scores(scorer: Scorer, store: Any, pairs: list) -> np.ndarray:
    a, b, _ = store.rows(pairs)
    used = np.unique(np.concatenate([a, b]))
    views = scorer.embed(store.array[used])
    return scorer.raw_score(views[np.searchsorted(used, a)], views[np.searchsorted(used, b)])


def _view2(cfg: Any, results: str | os.PathLike | None) -> dict[str, Any] | None:
    from ..runs.plans import view2_configs
    recs = [r for r in (find_record(c, results) for c in view2_configs(cfg)) if r is not None]
    if not recs:
        return None
    s = fold_summary([r.metrics["test"] for r in recs])
    return {"folds": len(recs), "accuracy_mean": s["accuracy"]["mean"], "accuracy_se": s["accuracy"]["se"],
            "auc_mean": s["auc"]["mean"], "runs": [r.path.name for r in recs]}


def _short(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in ("n_pairs", "accuracy", "accuracy_at_0.5", "auc", "eer", "tar_at_far_1e-2") if k in m}


def _training(cfg: Any, m: dict[str, Any], epochs: Any, seed: Any) -> dict[str, Any]:
    """The card's training entry: protocol, people and images from the (first) record's metrics; an ensemble's epochs
    and seeds are lists, one per member."""
    return {"protocol": "LFW View 1: trained on peopleDevTrain only, tested on pairsDevTest",
            "sampling": cfg.data.sampling, "people": m.get("train_people_count"), "images": m.get("train_images_count"),
            "validation_people": m.get("val_people_count"), "epochs": epochs, "loss": cfg.train.loss, "seed": seed}


def _view1_record(run: str | os.PathLike) -> Any:
    rec = load_record(run)
    if rec.config.data.protocol != "view1":
        raise RunError(f"{rec.path}: a {rec.config.data.protocol} record; ship a View 1 record (trained on peopleDevTrain "
                       f"only, so DevTest stays an honest test)")
    return rec


def ship_model(run: str | os.PathLike | Sequence[str | os.PathLike], data: str | os.PathLike | None = None,
               out: str | os.PathLike | None = None, results: str | os.PathLike | None = None, progress: bool = True,
               calibrate_photos: bool = True) -> dict[str, Any]:
    """Export, check and write the shipped model from a record with weights (several records: their towers as one,
    `ship_ensemble`); returns the card (model.json).

    `calibrate_photos` (the default) then fits and measures the calibration for photos (`serve.calibrate`: about 15
    minutes on 2 cores, face detection mostly); without it the score stays the head's and the threshold the one chosen
    on validation pairs."""
    runs = [run] if isinstance(run, (str, os.PathLike)) else list(run)
    if len(runs) > 1:
        return ship_ensemble(runs, data, out, results, progress, calibrate_photos)
    rec = _view1_record(runs[0])
    out = Path(out) if out else shipped_dir()
    cfg = rec.config
    with precision_policy("float32"):
        model = load_run_model(rec.path)
    head = head_spec(model)
    card: dict[str, Any] = {
        "format": CARD_FORMAT, "file": MODEL_FILE, "run": rec.path.name, "config": cfg.to_dict(), "head": head,
        "embedding_dim": int(model.get_layer("tower").output.shape[-1]), "runtime": "onnxruntime (CPU)",
        "source_model_sha256": sha256_file(rec.model_path), "threshold": float(rec.metrics["threshold"]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / MODEL_FILE
        _export_tower(model, onnx_path)
        card["sha256"] = sha256_file(onnx_path)
        card["bytes"] = onnx_path.stat().st_size
        scorer = OnnxScorer(onnx_path, card)
        # 1. the exported tower against Keras, on probe images
        k_scores = _keras_probe_scores(model, cfg, cfg.train.tta_flip)
        gap = _probe_gap(k_scores, scorer, cfg.data.size, f"the ONNX export of {rec.path.name}", "Keras")
        card["probe"] = {"seed": PROBE_SEED, "n_images": PROBE_IMAGES, "keras_scores": [float(s) for s in k_scores],
                         "max_abs_diff_onnx": gap}
        # 2. the record's own pairs through the shipped runtime
        store = load_store(cfg.data.images, require_data_dir(data), scorer.pre, progress=progress)
        val_df, test_df = rec.val_scores, rec.scores
        val_s = _split_scores(scorer, store, pairs_from_scores(val_df))
        test_s = _split_scores(scorer, store, pairs_from_scores(test_df))
        vy, ty = val_df["label"].to_numpy(), test_df["label"].to_numpy()
        diff = np.abs(val_s - val_df["score"].to_numpy())
        same_scores = float(diff.max()) <= 1e-6
        thr = float(rec.metrics["threshold"]) if same_scores else best_threshold(vy, val_s)
        card["threshold"] = thr
        card["threshold_source"] = ("the record's (its validation scores are reproduced)" if same_scores else
                                    "chosen again on the record's validation pairs, scored by the shipped runtime")
        card["record"] = {"threshold": float(rec.metrics["threshold"]), "precision": rec.env.get("precision_policy"),
                          "val": _short(rec.metrics["val"]), "test": _short(rec.metrics["test"])}
        card["shipped"] = {"val": _short(metrics(vy, val_s, thr)), "test": _short(metrics(ty, test_s, thr)),
                           "val_max_abs_diff": float(diff.max()), "val_mean_abs_diff": float(diff.mean()),
                           "test_max_abs_diff": float(np.max(np.abs(test_s - test_df["score"].to_numpy())))}
        card["view2"] = _view2(cfg, results)
        m = rec.metrics
        card["training"] = _training(cfg, m, m.get("epochs_run"), cfg.seed)
        card["versions"] = _versions(rec.env)
        card["raw_threshold"] = thr
        if calibrate_photos:
            card.update(calibrate(scorer, card, pairs_from_scores(val_df), data, results, progress))
            card["threshold"] = card["calibration"]["threshold"]
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / MODEL_FILE, onnx_path.read_bytes())
    return _write_card(card, out)


def _tower_card(cfg: Any, run: str, path: Path, head: dict[str, Any], dim: int) -> dict[str, Any]:
    """The least card an `OnnxScorer` needs to run one member's tower alone (no mirror, no calibration)."""
    return {"config": cfg.to_dict(), "run": run, "sha256": sha256_file(path), "threshold": 0.5, "head": head,
            "embedding_dim": dim, "tta_flip": False}


def _member_tower(rec: Any, folder: Path, results: str | os.PathLike | None) -> tuple[OnnxScorer, dict[str, Any]]:
    """One member's tower as ONNX, run alone: exported from the record's weights and checked against Keras on the
    probe images, or, for a record whose weights are not on this machine, the tower exported for it before
    (`results/candidates/<run>/`, written by `ship-model --run RUN --out results/candidates/RUN`; checksum checked)."""
    name = rec.path.name
    if rec.model_path.is_file():
        with precision_policy("float32"):
            model = load_run_model(rec.path)
        f = folder / f"{name}.onnx"
        _export_tower(model, f)
        head, dim = head_spec(model), int(model.get_layer("tower").output.shape[-1])
        scorer = OnnxScorer(f, _tower_card(rec.config, name, f, head, dim))
        gap = _probe_gap(_keras_probe_scores(model, rec.config, False), scorer, rec.config.data.size,
                         f"the ONNX export of {name}", "Keras")
        return scorer, {"tower": "exported from the record's model.keras", "source_model_sha256":
                        sha256_file(rec.model_path), "probe_max_abs_diff_keras": gap}
    cand = results_dir(results) / "candidates" / name
    if not (cand / CARD_FILE).is_file():
        raise RunError(f"{rec.path}: no model.keras (weights stay out of git) and no tower exported for it under "
                       f"{cand}; train the record again (`lfwsiamese sweep PLAN` for its plan) to get its weights")
    card = read_card(cand)
    if card["run"] != name or card.get("members"):
        raise RunError(f"{cand / CARD_FILE} is not the card of {name}'s own tower")
    f = checked_model_file(cand, card)
    scorer = OnnxScorer(f, _tower_card(rec.config, name, f, card["head"], int(card["embedding_dim"])))
    return scorer, {"tower": f"the tower exported before, results/candidates/{name}/{MODEL_FILE}, sha256 "
                              f"{card['sha256']}", "source_model_sha256": card["source_model_sha256"],
                    "probe_max_abs_diff_keras": card["probe"]["max_abs_diff_onnx"]}


def ship_ensemble(runs: Sequence[str | os.PathLike], data: str | os.PathLike | None = None,
                  out: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
                  progress: bool = True, calibrate_photos: bool = True) -> dict[str, Any]:
    """Ship several records' towers as one ONNX model (`serve.ensemble.join_towers`), each run once per face with no
    mirror image: the cosine of two faces is the mean of the towers' cosines, under the members' mean head. The
    records must share their validation pairs (`data.split_seed`) and their inputs. Each member's tower is checked
    against Keras (`_member_tower`), the joined file against the members run one by one on probe images and on the
    validation and DevTest pairs; the threshold is chosen on the validation pairs, then the calibration is fitted as
    for one record."""
    recs = [_view1_record(r) for r in runs]
    first, cfg = recs[0], recs[0].config
    if len({r.path.name for r in recs}) != len(recs):
        raise RunError(f"the same record twice among {[r.path.name for r in recs]}: an ensemble needs different towers")
    val_pairs = pairs_from_scores(first.val_scores)
    key = [(p.a, p.b, p.label) for p in val_pairs]
    for r in recs[1:]:
        if [(p.a, p.b, p.label) for p in pairs_from_scores(r.val_scores)] != key:
            raise RunError(f"{r.path.name} and {first.path.name} have different validation pairs, so one trained on "
                           f"people the other holds out: train it with data.split_seed={cfg.validation_seed}")
        d, d0 = r.config.data, cfg.data
        if (d.crop, d.size, d.pixel_scale, d.images) != (d0.crop, d0.size, d0.pixel_scale, d0.images):
            raise RunError(f"{r.path.name} sees its faces differently from {first.path.name} (crop, size, pixel scale "
                           f"or images); combine towers trained on the same inputs")
    out = Path(out) if out else shipped_dir()
    with tempfile.TemporaryDirectory() as tmp:
        built = [_member_tower(r, Path(tmp), results) for r in recs]
        towers = [t for t, _ in built]
        head = mean_head([t.head.spec for t in towers])
        members = [{"run": r.path.name, "seed": r.config.seed, **info, "head": t.head.spec,
                    "epochs": r.metrics.get("epochs_run"), "precision": r.env.get("precision_policy"),
                    "val": _short(r.metrics["val"]), "test": _short(r.metrics["test"])}
                   for r, (t, info) in zip(recs, built)]
        onnx_path = join_towers([t.path for t in towers], Path(tmp) / MODEL_FILE)
        card: dict[str, Any] = {
            "format": CARD_FORMAT, "file": MODEL_FILE, "run": first.path.name, "members": members, "tta_flip": False,
            "config": cfg.to_dict(), "head": head, "embedding_dim": sum(t.dim for t in towers),
            "runtime": "onnxruntime (CPU)", "threshold": 0.5, "sha256": sha256_file(onnx_path),
            "bytes": onnx_path.stat().st_size}
        scorer, reference = OnnxScorer(onnx_path, card), EnsembleScorer(towers)
        r_scores = _probe_scores(reference, cfg.data.size)
        gap = _probe_gap(r_scores, scorer, cfg.data.size, "the joined towers", "the towers run one by one")
        card["probe"] = {"seed": PROBE_SEED, "n_images": PROBE_IMAGES, "keras_scores": [float(v) for v in r_scores],
                         "max_abs_diff_onnx": gap + max(m["probe_max_abs_diff_keras"] for m in members),
                         "reference": "the members' towers one by one, each checked against its Keras model"}
        store = load_store(cfg.data.images, require_data_dir(data), scorer.pre, progress=progress)
        test_pairs = pairs_from_scores(first.scores)
        vy, ty = (np.array([p.label for p in ps]) for ps in (val_pairs, test_pairs))
        val_r, test_r = (_split_scores(reference, store, ps) for ps in (val_pairs, test_pairs))
        val_s, test_s = (_split_scores(scorer, store, ps) for ps in (val_pairs, test_pairs))
        thr_r, thr = best_threshold(vy, val_r), best_threshold(vy, val_s)
        precisions = ", ".join(sorted({str(m["precision"]) for m in members}))
        card.update({
            "threshold": thr, "raw_threshold": thr,
            "threshold_source": "chosen on the members' shared validation pairs, scored by the shipped runtime",
            "record": {"threshold": thr_r, "precision": f"float32 (each tower alone; trained in {precisions})",
                       "val": _short(metrics(vy, val_r, thr_r)), "test": _short(metrics(ty, test_r, thr_r))},
            "shipped": {"val": _short(metrics(vy, val_s, thr)), "test": _short(metrics(ty, test_s, thr)),
                        "val_max_abs_diff": float(np.max(np.abs(val_s - val_r))),
                        "val_mean_abs_diff": float(np.mean(np.abs(val_s - val_r))),
                        "test_max_abs_diff": float(np.max(np.abs(test_s - test_r)))},
            "view2": None, "versions": _versions(first.env)})
        card["training"] = _training(cfg, first.metrics, [mb["epochs"] for mb in members],
                                     [mb["seed"] for mb in members])
        if calibrate_photos:
            card.update(calibrate(scorer, card, val_pairs, data, results, progress))
            card["threshold"] = card["calibration"]["threshold"]
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / MODEL_FILE, onnx_path.read_bytes())
    return _write_card(card, out)


def _write_card(card: dict[str, Any], out: Path) -> dict[str, Any]:
    # as it will be read back (tuples become lists, keys sorted), so MODEL_CARD.md lists things in model.json's order
    card = json.loads(json.dumps(card, default=str, sort_keys=True))
    atomic_write_json(out / CARD_FILE, card)
    atomic_write_text(out / "MODEL_CARD.md", model_card_markdown(card))
    return card


def recalibrate(data: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                results: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Fit and measure the calibration of the shipped model again, through its ONNX file (no TensorFlow, no
    training), on the validation pairs of its record (results/runs/<run>/val_scores.csv); rewrites model.json and
    MODEL_CARD.md, leaves model.onnx as it is."""
    out = Path(out) if out else shipped_dir()
    card = read_card(out)
    scorer = OnnxScorer(checked_model_file(out, card), card)
    val_file = results_dir(results) / "runs" / card["run"] / "val_scores.csv"
    if not val_file.is_file():
        raise RunError(f"{val_file}: missing; the calibration is fitted on the shipped record's validation pairs "
                       f"(restore results/runs/{card['run']} from git, or pass --results)")
    card.setdefault("raw_threshold", card["threshold"])
    card.update(calibrate(scorer, card, pairs_from_scores(pd.read_csv(val_file)), data, results, progress))
    card["threshold"] = card["calibration"]["threshold"]
    return _write_card(card, out)


def _versions(env: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version
    v: dict[str, Any] = {"trained_with": {k: env.get(k) for k in ("tensorflow", "keras", "git_commit")}}
    for pkg in ("keras", "tensorflow", "tf2onnx", "onnx", "onnxruntime"):
        try:
            v[pkg] = version(pkg)
        except PackageNotFoundError:
            v[pkg] = None
    return v
