"""Two towers instead of one tower and its mirror (issue #34): the shipped model averages each face's score with the
mirrored faces' score, which costs two tower passes per image. Two towers trained from different seeds, each seeing
the image once, cost the same. Which separates the validation people's photos better?

The rule is fixed before the second tower's scores are seen (`CANDIDATES`' eligible ones, `choose`): the ensemble
replaces the shipped model only if the paired bootstrap 95% interval of its validation-photo AUC minus the shipped
model's lies above zero. Two more combinations are measured beside them, not chosen from: they cost twice as much. Nothing here looks
at DevTest. The result and every pair's scores are stored under results/ensemble/; `recompute` checks one against
the other.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.paths import cache_dir, require_data_dir
from ..data.unaligned import PHOTO, render_pairs
from ..errors import RunError
from ..evaluate import auc_difference
from ..files import atomic_write_json, atomic_write_text
from ..records.store import load_record, pairs_from_scores, results_dir
from ..serve.calibrate import VAL_SEED
from ..serve.inputs import prepare_many
from ..serve.ensemble import EnsembleScorer
from ..serve.scorer import Scorer, alignment_name

#: name -> (what it is, tower passes per image, eligible to ship)
CANDIDATES: dict[str, tuple[str, int, bool]] = {
    "shipped": ("the shipped tower, score averaged with the mirrored faces'", 2, True),
    "two_towers": ("the shipped tower and the second seed's, each on the image once", 2, True),
    "two_towers_mirror": ("both towers, each also on the mirror image", 4, False),
    "second": ("the second seed's tower alone, with the mirror", 2, False),
}
RESAMPLES = 2000


def with_flip(scorer: Scorer, tta_flip: bool) -> Scorer:
    """The same tower with or without the mirrored pass (a shallow copy; the tower is shared)."""
    import copy
    out = copy.copy(scorer)
    out.tta_flip, out.calibration = tta_flip, None
    return out


def choose(difference: dict[str, float]) -> str:
    """The rule written before the experiment: two towers replace the shipped model only if the whole 95% interval
    of the AUC difference is above zero."""
    return "two_towers" if difference["low"] > 0 else "shipped"


def result_path(second_run: str | os.PathLike, results: str | os.PathLike | None = None,
                shipped_folder: str | os.PathLike | None = None) -> Path:
    """Where the result for the shipped model (by its file's checksum) and this second record is stored."""
    from ..serve.shipped import read_card
    sha = read_card(shipped_folder)["sha256"]
    return results_dir(results) / "ensemble" / f"val-photos-{sha[:12]}-{Path(second_run).name}.json"


def _raw_scores(scorer: Scorer, pixels: np.ndarray, ok: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    views = np.zeros((len(pixels), scorer.views, scorer.dim), np.float32)
    views[ok] = scorer.embed(pixels[ok])
    return scorer.raw_score(views[ia], views[ib])


def run_ensemble_experiment(second_run: str | os.PathLike, data: str | os.PathLike | None = None,
                            results: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Score the shipped record's validation pairs, rendered as photos (seed `serve.calibrate.VAL_SEED`, as the
    calibration) and aligned once as the shipped model aligns them, with every candidate of `CANDIDATES`; store and
    return the AUCs, the bootstrap difference and the choice. About 10 minutes on 2 cores, most of it alignment."""
    from tqdm.auto import tqdm

    from ..serve.models import KerasScorer, resolve_run
    from ..serve.scorer import load_shipped
    from ..serve.shipped import read_card
    members = read_card().get("members")
    if members:
        raise RunError(f"the shipped model already holds {len(members)} towers "
                       f"({', '.join(m['run'] for m in members)}); this experiment compares one shipped "
                       f"tower and its mirror with two towers, and its stored result is under "
                       f"{results_dir(results) / 'ensemble'}")
    data_dir = require_data_dir(data)
    shipped, second = load_shipped(), KerasScorer(resolve_run(second_run, results))
    rec0 = load_record(results_dir(results) / "runs" / shipped.card["run"])
    rec1 = second.record
    pairs = pairs_from_scores(rec0.val_scores)
    if [(p.a, p.b, p.label) for p in pairs] != [(p.a, p.b, p.label) for p in pairs_from_scores(rec1.val_scores)]:
        raise RunError(f"{rec0.path.name} and {rec1.path.name} have different validation pairs, so the second tower "
                       f"trained on people the first holds out: train it with "
                       f"data.split_seed={rec0.config.validation_seed} "
                       f"(as `lfwsiamese sweep served` does)")
    t0 = time.perf_counter()
    work = cache_dir() / f"photos-val-s{VAL_SEED}-n{len(pairs)}"
    _, photos_csv = render_pairs(pairs, work, data_dir, VAL_SEED, PHOTO)
    table = pd.read_csv(photos_csv)
    images = sorted(set(table["path_a"]) | set(table["path_b"]))
    index = {p: i for i, p in enumerate(images)}
    size = shipped.pre.size
    pixels = np.zeros((len(images), size, size), np.uint8)
    ok = np.zeros(len(images), bool)
    preps = prepare_many(images, shipped.pre, "auto", landmarks=shipped.landmarks)
    for i, prep in enumerate(tqdm(preps, total=len(images), desc="validation photos", unit="img",
                                  disable=not progress)):
        if prep.error is None:
            pixels[i], ok[i] = prep.pixels, True
    ia = table["path_a"].map(index).to_numpy()
    ib = table["path_b"].map(index).to_numpy()
    found = ok[ia] & ok[ib]
    scorers = {"shipped": with_flip(shipped, True), "two_towers": EnsembleScorer([shipped, second], False),
               "two_towers_mirror": EnsembleScorer([shipped, second], True), "second": with_flip(second, True)}
    df = pd.DataFrame({"name_a": [p.a.name for p in pairs], "index_a": [p.a.index for p in pairs],
                       "name_b": [p.b.name for p in pairs], "index_b": [p.b.index for p in pairs],
                       "label": table["label"].astype(int).to_numpy(), "found": found})
    for name, scorer in scorers.items():
        df[name] = np.where(found, _raw_scores(scorer, pixels, ok, ia, ib), np.nan)
    out = summarise(df)
    out.update({"shipped": shipped.card["run"], "shipped_sha256": shipped.card["sha256"], "second": rec1.path.name,
                "alignment": alignment_name(shipped.landmarks), "render_seed": VAL_SEED, "images": len(images),
                "images_found": int(ok.sum()), "seconds": time.perf_counter() - t0})
    f = result_path(rec1.path, results)
    atomic_write_text(f.with_suffix(".csv"), df.to_csv(index=False, float_format="%.6g"))
    atomic_write_json(f, out)
    return out


def summarise(df: pd.DataFrame) -> dict[str, Any]:
    """AUCs, the difference that decides and the choice, from the per-pair scores (pairs with both faces found)."""
    from sklearn.metrics import roc_auc_score
    g = df[df["found"].astype(bool)]
    y = g["label"].to_numpy()
    cands = {k: {"description": d, "tower_passes_per_image": n, "eligible": e, "auc": float(roc_auc_score(y, g[k]))}
             for k, (d, n, e) in CANDIDATES.items()}
    diff = auc_difference(y, g["two_towers"], g["shipped"], resamples=RESAMPLES)
    return {"candidates": cands, "pairs": int(len(df)), "pairs_scored": int(len(g)),
            "two_towers_minus_shipped": diff, "chosen": choose(diff),
            "rule": "two towers replace the shipped model only if the 95% paired bootstrap interval of their "
                    "validation-photo AUC minus the shipped model's lies above zero"}


def recompute(path: str | os.PathLike) -> dict[str, Any]:
    """The stored result computed again from its per-pair scores (the CSV beside it)."""
    return summarise(pd.read_csv(Path(path).with_suffix(".csv")))


def load_ensemble_experiment(second_run: str | os.PathLike, results: str | os.PathLike | None = None
                             ) -> dict[str, Any]:
    """The stored result for the shipped model and `second_run` (run it with `lfwsiamese ensemble-experiment`); once
    the two towers ship, the result that chose them (its first tower is the shipped ensemble's first member)."""
    from ..serve.shipped import read_card
    members = read_card().get("members")
    if members:
        name = Path(second_run).name
        found = [f for f in sorted((results_dir(results) / "ensemble").glob(f"val-photos-*-{name}.json"))
                 if json.loads(f.read_text()).get("shipped") == members[0]["run"]]
        if len(found) != 1:
            raise RunError(f"{len(found)} stored results of the ensemble experiment for {members[0]['run']} and {name} "
                           f"under {results_dir(results) / 'ensemble'} (expected one: the result that chose the "
                           f"shipped towers)")
        return json.loads(found[0].read_text())
    f = result_path(second_run, results)
    if not f.is_file():
        raise RunError(f"{f}: no stored result; run `lfwsiamese ensemble-experiment --second {Path(second_run).name}` "
                       f"(about 10 minutes on 2 cores)")
    return json.loads(f.read_text())
