"""`lfwsiamese bench --verifier`: how fast the verifier is where users run it, in the two cases the issue names: the
1,000 DevTest pairs as LFW-a crops (`verify --pairs`, 1,549 distinct images, nothing to detect) and DevTest pairs
rendered as ordinary photos (`data.unaligned.PHOTO`, detected and aligned, landmarks included where the model says
so), enlarged to a few megapixels as phones write them. The model is loaded before the clock starts; images are read
from disk inside it, as `verify --pairs` reads them. Then a cold start: `lfwsiamese verify` of two of those photos in
a new process, as a user first runs it (the Python start, imports, model loads, decoding, detection and alignment).
"""
from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..data import protocols as P
from ..data.paths import require_data_dir, splits_dir
from ..data.unaligned import PHOTO, protocol_pairs_csv, render_pairs
from ..records.provenance import cpu_model
from ..training.setup import cpu_features
from .scorer import Scorer, alignment_name
from .verify import BatchVerification, verify_pairs

PHOTO_SIDE = 2000  # px: the renders are enlarged to 2000x2000 (4 megapixels), the size of an ordinary photo
COLD_RUNS = 3
CROP_RUNS = 3  # the crops pass takes seconds: repeated, so the record shows how much one run varies
PHOTO_SEED = 2  # the seed of the calibration's DevTest photos (`serve.calibrate.TEST_SEED`); the subset draws its own


def _row(res: BatchVerification) -> dict[str, Any]:
    return {"pairs": len(res.rows), "images": res.n_images, "images_aligned": res.n_aligned,
            "faces_not_found": res.n_failed_images, "seconds": res.seconds,
            "pairs_per_second": res.pairs_per_second, "images_per_second": res.images_per_second}


def _enlarge(csv_path: Path, side: int) -> list[str]:
    """Every image of a pairs file resized in place to side x side (bicubic) and stored as JPEG quality 90 under its
    own name, so the pairs file still points at it; returns the image paths in file order."""
    from PIL import Image
    with open(csv_path, newline="") as f:
        paths = list(dict.fromkeys(q for row in csv.DictReader(f) for q in (row["path_a"], row["path_b"])))
    for q in paths:
        with Image.open(q) as im:
            big = im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
        big.save(q, format="JPEG", quality=90)
    return paths


def cold_verify(a: str, b: str, runs: int = COLD_RUNS) -> dict[str, Any]:
    """Seconds for `lfwsiamese verify a b` in `runs` new processes, one after the other (the first may also read the
    model files from disk; later ones find them in the OS cache, as a second call would)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "lfwsiamese", "verify", a, b, "--json"], capture_output=True,
                              text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"the cold `lfwsiamese verify` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return {"runs": runs, "seconds": times, "median_seconds": statistics.median(times), "max_seconds": max(times)}


def bench_verifier(scorer: Scorer, data: str | os.PathLike | None = None, photo_pairs: int = 100,
                   progress: bool = True, photo_side: int = PHOTO_SIDE, cold_runs: int = COLD_RUNS) -> dict[str, Any]:
    """Pairs and images per second on DevTest crops (all 1,000 pairs; the median of `CROP_RUNS` passes) and on
    `photo_pairs` DevTest pairs rendered as photos of photo_side x photo_side px (half same-person, half different;
    rendered before the clock starts), then `cold_runs` cold starts of `verify` on two of those photos."""
    if not 2 <= photo_pairs <= 1000:
        raise ValueError(f"photo_pairs={photo_pairs}: expected between 2 and 1000 DevTest pairs")
    if not 100 <= photo_side <= 8000:
        raise ValueError(f"photo_side={photo_side}: expected a side between 100 and 8000 px")
    data_dir = require_data_dir(data)
    pairs = P.load_pairs("pairsDevTest.txt", splits_dir(data_dir))
    same, diff = [p for p in pairs if p.label], [p for p in pairs if not p.label]
    subset = same[: photo_pairs // 2] + diff[: photo_pairs - photo_pairs // 2]
    out: dict[str, Any] = {"model": scorer.name, "cpu": cpu_model(), "cpu_features": cpu_features(),
                           "logical_cpus": os.cpu_count(),
                           "alignment": alignment_name(scorer.landmarks), "date": time.strftime("%F")}
    with tempfile.TemporaryDirectory() as tmp:
        crops = protocol_pairs_csv(pairs, Path(tmp) / "crops.csv", data_dir)
        runs = sorted((verify_pairs(scorer, crops, align="auto", progress=progress) for _ in range(CROP_RUNS)),
                      key=lambda r: r.seconds)
        out["crops"] = _row(runs[len(runs) // 2]) | {"runs": len(runs),
                                                       "pairs_per_second_runs": [r.pairs_per_second for r in runs]}
        _, photos = render_pairs(subset, Path(tmp) / "photos", data_dir, PHOTO_SEED, PHOTO)
        images = _enlarge(photos, photo_side)
        out["photos"] = _row(verify_pairs(scorer, photos, align="auto", progress=progress))
        out["photos"]["side_px"] = photo_side
        if cold_runs:
            out["cold_verify"] = cold_verify(images[0], images[1], cold_runs) | {"side_px": photo_side}
    return out
