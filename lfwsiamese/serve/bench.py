"""`lfwsiamese bench --verifier`: how fast the verifier is where users run it, in the two cases the issue names: the
1,000 DevTest pairs as LFW-a crops (`verify --pairs`, 1,549 distinct images, nothing to detect) and DevTest pairs
rendered as ordinary photos (`data.unaligned.PHOTO`, detected and aligned, landmarks included where the model says
so). The model is loaded before the clock starts; images are read from disk inside it, as `verify --pairs` reads them.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ..data import protocols as P
from ..data.paths import require_data_dir, splits_dir
from ..data.unaligned import PHOTO, protocol_pairs_csv, render_pairs
from ..records.provenance import cpu_model
from .scorer import Scorer
from .verify import BatchVerification, verify_pairs

PHOTO_SEED = 2  # the seed of the calibration's DevTest photos (`serve.calibrate.TEST_SEED`); the subset draws its own


def _row(res: BatchVerification) -> dict[str, Any]:
    return {"pairs": len(res.rows), "images": res.n_images, "images_aligned": res.n_aligned,
            "faces_not_found": res.n_failed_images, "seconds": res.seconds,
            "pairs_per_second": res.pairs_per_second, "images_per_second": res.images_per_second}


def bench_verifier(scorer: Scorer, data: str | os.PathLike | None = None, photo_pairs: int = 100,
                   progress: bool = True) -> dict[str, Any]:
    """Pairs and images per second on DevTest crops (all 1,000 pairs) and on `photo_pairs` DevTest pairs rendered as
    photos (half same-person, half different; rendered before the clock starts)."""
    if not 2 <= photo_pairs <= 1000:
        raise ValueError(f"photo_pairs={photo_pairs}: expected between 2 and 1000 DevTest pairs")
    data_dir = require_data_dir(data)
    pairs = P.load_pairs("pairsDevTest.txt", splits_dir(data_dir))
    same, diff = [p for p in pairs if p.label], [p for p in pairs if not p.label]
    subset = same[: photo_pairs // 2] + diff[: photo_pairs - photo_pairs // 2]
    out: dict[str, Any] = {"model": scorer.name, "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
                           "alignment": "landmarks" if scorer.landmarks else "cascade", "date": time.strftime("%F")}
    with tempfile.TemporaryDirectory() as tmp:
        crops = protocol_pairs_csv(pairs, Path(tmp) / "crops.csv", data_dir)
        out["crops"] = _row(verify_pairs(scorer, crops, align="auto", progress=progress))
        _, photos = render_pairs(subset, Path(tmp) / "photos", data_dir, PHOTO_SEED, PHOTO)
        out["photos"] = _row(verify_pairs(scorer, photos, align="auto", progress=progress))
    return out
