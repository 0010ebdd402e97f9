"""Several towers served as one (issue #34): two towers trained from different seeds, each seeing a face once, cost
what one tower and its mirror image cost. Each member's embedding is scaled to unit length, the embeddings are
concatenated and divided by the square root of their number, so the cosine of two faces' embeddings is the mean of
the members' cosines; the cosine head takes the members' mean scale and offset. `models.build_ensemble_tower` builds
the same thing in Keras for the ONNX export; `EnsembleScorer` is its reference in NumPy."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import RunError
from .scorer import Head, Scorer


def mean_head(heads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ensemble's head: a cosine head with the members' mean scale and offset (its scores rank pairs as the mean
    cosine does; a shipped ensemble is calibrated on photos like any model)."""
    if not heads or any(h["kind"] != "cosine" for h in heads):
        raise RunError("an ensemble averages cosines: every member needs a cosine head "
                       f"(got {[h['kind'] for h in heads]}); combine records trained with model.head='cosine'")
    return {"kind": "cosine", "scale": float(np.mean([h["scale"] for h in heads])),
            "offset": float(np.mean([h["offset"] for h in heads]))}


class EnsembleScorer(Scorer):
    """Several scorers' towers as one scorer (see the module's docstring); `tta_flip` adds each image's mirror."""

    def __init__(self, members: Sequence[Scorer], tta_flip: bool = False) -> None:
        if len(members) < 2:
            raise RunError(f"an ensemble needs at least two towers, got {len(members)}")
        first = members[0]
        self.head = Head(mean_head([m.head.spec for m in members]))
        if any(m.pre != first.pre or m.pixel_scale != first.pixel_scale for m in members):
            raise RunError("the members see their faces differently (crop, size or pixel scale): "
                           f"{[(m.pre, m.pixel_scale) for m in members]}; combine towers trained on the same inputs")
        self.members = list(members)
        self.name = "ensemble:" + "+".join(m.name for m in members)
        self.model_id = "+".join(m.model_id for m in members) + f"|flip={tta_flip}"
        self.pre, self.pixel_scale, self.tta_flip = first.pre, first.pixel_scale, tta_flip
        self.threshold, self.calibration, self.landmarks = 0.5, None, first.landmarks
        self.dim = sum(m.dim for m in members)

    def tower(self, x: np.ndarray) -> np.ndarray:
        parts = [m.tower(x) for m in self.members]
        parts = [e / (np.linalg.norm(e, axis=-1, keepdims=True) + 1e-6) for e in parts]
        return (np.concatenate(parts, axis=-1) / np.sqrt(len(parts))).astype(np.float32)
