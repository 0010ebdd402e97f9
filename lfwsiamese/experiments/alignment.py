"""How much face alignment matters: the 1,000 DevTest pairs scored as LFW-a's aligned crops, as unaligned photos
(`data.unaligned`: rotated, rescaled, shifted, pasted on a noisy canvas) resized whole, and as the same photos
detected and aligned (`data.align`); plus how far the alignment lands from the known eye positions.

The result is stored as JSON under results/alignment/ (keyed by the model's checksum); the book reads it.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..data import protocols as P
from ..data.align import CANONICAL_EYES, FaceNotFoundError, align_face, apply, compose
from ..data.paths import cache_dir, images_dir, require_data_dir, splits_dir
from ..data.unaligned import Render, render_pairs, render_unaligned
from ..errors import LfwSiameseError
from ..files import atomic_write_json
from ..records.store import results_dir
from ..serve.scorer import ALIGNMENT_LANDMARKS, alignment_name
from ..serve.verify import verify_pairs

CONDITIONS = {"aligned": "LFW-a's aligned crops", "unaligned": "unaligned photos, resized whole (--align off)",
              "unaligned_aligned": "unaligned photos, detected and aligned as the model ships (--align on)",
              "unaligned_cascade": "unaligned photos, detected and aligned by the Haar cascades alone",
              "unaligned_landmarks": "unaligned photos, aligned by the cascades, then 18 of dlib's 68 points",
              "unaligned_landmarks5": "unaligned photos, aligned by the cascades, then dlib's 5 points",
              "unaligned_oracle": "unaligned photos, put back by their known transform"}


def result_path(scorer: Any, results: str | os.PathLike | None = None, seed: int = 0,
                n_pairs: int | None = None) -> Path:
    """Where the result for this model and render seed is stored; a run on a subset (`n_pairs`) has its own file, so
    it is never read as the full experiment."""
    return results_dir(results) / "alignment" / f"devtest-{scorer.model_id[:12]}-s{seed}{_subset(n_pairs)}.json"


def _subset(n_pairs: int | None) -> str:
    """The name suffix of a run on a subset of DevTest ("" for the full experiment)."""
    return "" if n_pairs is None else f"-n{n_pairs}"


def balanced_subset(pairs: list[P.Pair], n_pairs: int) -> list[P.Pair]:
    """The first `n_pairs // 2` same-person pairs and the first `n_pairs - n_pairs // 2` different-person pairs
    (DevTest lists all same-person pairs first, so its first rows alone would hold one class)."""
    if n_pairs < 2 or n_pairs > len(pairs):
        raise LfwSiameseError(f"{n_pairs} pairs asked for: a subset takes between 2 and {len(pairs)} DevTest pairs; "
                              "leave the number out for the full experiment")
    same = [p for p in pairs if p.label]
    diff = [p for p in pairs if not p.label]
    return same[: n_pairs // 2] + diff[: n_pairs - n_pairs // 2]


def eye_errors(folder: Path, limit: int | None = None, landmarks: bool | str | None = True) -> np.ndarray:
    """Per render: the larger of the two eyes' distances (in 250x250 frame pixels) between where alignment (with or
    without the landmark step) put the canonical eyes and where they belong; NaN where no face was found."""
    import cv2
    with np.load(folder / "transforms.npz") as z:
        names, mats = z["names"].tolist(), z["transforms"]
    out = []
    for name, s in list(zip(names, mats))[:limit]:
        gray = cv2.imread(str(folder / "images" / name), cv2.IMREAD_GRAYSCALE)
        try:
            al = align_face(gray, name, warn=False, landmarks=landmarks)
        except FaceNotFoundError:
            out.append(np.nan)
            continue
        back = apply(compose(al.transform, s), CANONICAL_EYES)  # frame -> canvas -> frame: identity if perfect
        out.append(float(np.max(np.linalg.norm(back - np.array(CANONICAL_EYES), axis=1))))
    return np.array(out)


def oracle_pairs(folder: Path) -> Path:
    """The renders warped back into the frame by the inverse of their own transform: perfect alignment, but with the
    render's resampling (the upper bound of any aligner); returns their pairs file."""
    import csv

    import cv2

    from ..data.align import invert
    from ..data.unaligned import write_pairs_csv
    out = folder / "oracle"
    (out / "images").mkdir(parents=True, exist_ok=True)
    with np.load(folder / "transforms.npz") as z:
        for name, s in zip(z["names"].tolist(), z["transforms"]):
            gray = cv2.imread(str(folder / "images" / name), cv2.IMREAD_GRAYSCALE)
            back = cv2.warpAffine(gray, invert(s), (250, 250), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            cv2.imwrite(str(out / "images" / name), back)
    with open(folder / "unaligned.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    moved = [(str(out / "images" / Path(r["path_a"]).name), str(out / "images" / Path(r["path_b"]).name), int(r["label"]))
             for r in rows]
    return write_pairs_csv(out / "oracle.csv", moved)


def run_alignment_experiment(scorer: Any, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
                             seed: int = 0, eye_sample: int = 300, n_pairs: int | None = None,
                             progress: bool = True) -> dict[str, Any]:
    """Render, score the four conditions, measure the eye error on `eye_sample` renders; store and return.

    `n_pairs` runs it on a balanced subset of DevTest (a quick look; stored under its own name, never read by the
    book). The whole of it takes about 5 minutes on 2 cores with the shipped model, most of it face detection."""
    from tqdm.auto import tqdm
    data_dir = require_data_dir(data)
    pairs = P.load_pairs("pairsDevTest.txt", splits_dir(data_dir))
    if n_pairs is not None:
        pairs = balanced_subset(pairs, n_pairs)
    work = cache_dir() / f"unaligned-devtest-s{seed}{_subset(n_pairs)}"
    t0 = time.perf_counter()
    aligned_csv, unaligned_csv = render_pairs(pairs, work, data_dir, seed)
    out: dict[str, Any] = {"model": scorer.name, "model_id": scorer.model_id, "threshold": scorer.threshold,
                           "n_pairs": len(pairs), "seed": seed, "render": asdict(Render()),
                           "accuracy": {}, "accuracy_scored": {}, "failed": {}, "seconds": {}}
    shipped = scorer.landmarks
    # every alignment the calibration could have chosen besides the shipped one, on the same renders
    shipped_name = alignment_name(shipped)
    others = {a: lm for a, lm in ALIGNMENT_LANDMARKS.items() if a != shipped_name}
    runs = (("aligned", aligned_csv, "auto", shipped), ("unaligned", unaligned_csv, "off", shipped),
            ("unaligned_aligned", unaligned_csv, "on", shipped),
            *((f"unaligned_{a}", unaligned_csv, "on", lm) for a, lm in others.items()),
            ("unaligned_oracle", oracle_pairs(work), "auto", shipped))
    out["conditions"] = {c: CONDITIONS[c] for c, *_ in runs}
    out["alignment"] = shipped_name
    out["images_per_second"] = {}
    bar = tqdm(runs, desc="alignment experiment", unit="condition", disable=not progress)
    for cond, csv_file, align, landmarks in bar:
        bar.set_postfix_str(cond)
        scorer.landmarks = landmarks
        try:
            res = verify_pairs(scorer, csv_file, align=align)
        finally:
            scorer.landmarks = shipped
        correct = sum(1 for r in res.rows if r.error is None and r.same == bool(r.label))
        out["accuracy"][cond] = correct / len(res.rows)  # a pair whose face was not found counts as a wrong decision
        out["accuracy_scored"][cond] = res.accuracy
        out["failed"][cond] = len(res.failed)
        out["seconds"][cond] = res.seconds
        out["images_per_second"][cond] = res.images_per_second
    for key, landmarks in (("eye_error_px", shipped), *((f"eye_error_px_{a}", lm) for a, lm in others.items())):
        err = eye_errors(work, eye_sample, landmarks)
        ok = err[np.isfinite(err)]
        out[key] = {"n": int(len(err)), "not_found": int((~np.isfinite(err)).sum()),
                    "median": float(np.median(ok)), "p90": float(np.percentile(ok, 90)),
                    "within_5px": float(np.mean(ok <= 5)), "within_10px": float(np.mean(ok <= 10))}
    out["seconds"]["total"] = time.perf_counter() - t0
    atomic_write_json(result_path(scorer, results, seed, n_pairs), out)
    return out


def load_alignment_experiment(scorer: Any, data: str | os.PathLike | None = None,
                              results: str | os.PathLike | None = None, seed: int = 0) -> dict[str, Any]:
    """The stored result of the full experiment for this model and its alignment, else run it (about 5 minutes on
    2 cores; a result stored for the same weights aligned another way is run again and replaced)."""
    f = result_path(scorer, results, seed)
    if f.is_file():
        stored = json.loads(f.read_text())
        if stored.get("alignment") == alignment_name(scorer.landmarks):
            return stored
    return run_alignment_experiment(scorer, data, results, seed)


def examples(refs: list[P.ImageRef], data: str | os.PathLike | None = None, seed: int = 0,
             all_refs: list[P.ImageRef] | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(LFW-a crop, its unaligned render, the render aligned again or None) for a few images, rendered as in the
    experiment (image k of the sorted distinct DevTest images uses the generator seeded by (seed, k))."""
    from PIL import Image
    root = images_dir(require_data_dir(data))
    if all_refs is None:
        pairs = P.load_pairs("pairsDevTest.txt", splits_dir(require_data_dir(data)))
        all_refs = sorted({r for p in pairs for r in (p.a, p.b)})
    out = []
    for ref in refs:
        with Image.open(root / ref.relpath) as im:
            img = np.asarray(im.convert("L"), np.uint8)
        canvas, _ = render_unaligned(img, np.random.default_rng([seed, all_refs.index(ref)]))
        try:
            again = align_face(canvas, ref.relpath, warn=False).image
        except FaceNotFoundError:
            again = None
        out.append((img, canvas, again))
    return out
