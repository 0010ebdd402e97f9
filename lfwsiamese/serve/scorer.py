"""Scoring pairs exactly as a record's test scores were computed: the record's crop and size (Pillow), its pixel
scale, its head on the two tower embeddings, and, when it was trained with `train.tta_flip`, the mean of the scores
of the pair and of the mirrored pair.

A `Scorer` embeds each image once per view (the image, and its mirror image when flip averaging) and applies the
head to pairs of embeddings; its tower is ONNX Runtime's for the shipped model (`OnnxScorer`) or Keras' for a stored
record (`serve.models.KerasScorer`). Embedding once and pairing afterwards gives the scores of the Siamese
model (the tower's batch-norm runs in inference mode, so a batch's make-up changes nothing).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data.align import landmark_model
from ..data.images import Preprocess
from ..errors import RunError
from .shipped import ShippedModelError, checked_model_file, read_card, shipped_dir


class Head:
    """The Siamese head on embeddings, in float64: 'cosine' (sigmoid(scale * cos + offset)) or 'l1_sigmoid'
    (sigmoid(w . |a - b| + b), Koch et al.'s)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.kind = spec["kind"]
        if self.kind == "cosine":
            self.scale, self.offset = float(spec["scale"]), float(spec["offset"])
        elif self.kind == "l1_sigmoid":
            self.kernel = np.asarray(spec["kernel"], np.float64).ravel()
            self.bias = float(spec["bias"])
        else:
            raise RunError(f"unknown head {self.kind!r} (expected 'cosine' or 'l1_sigmoid')")
        self.spec = dict(spec)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if self.kind == "cosine":  # as models.layers.ScaledCosine: each side normalised with +1e-6
            a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-6)
            b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-6)
            logit = self.scale * np.sum(a * b, axis=-1) + self.offset
        else:
            logit = np.abs(a - b) @ self.kernel + self.bias
        return 1.0 / (1.0 + np.exp(-logit))


class Calibration:
    """The head's score -> a calibrated P(same person) for photos as the pipeline prepares them: Platt's logistic
    regression on the head's logit, sigmoid(a * logit(score) + b), fitted on validation people's pairs
    (`serve.calibrate`). Monotone, so rankings (identification, one-shot) are unchanged."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if spec.get("method") != "platt":
            raise RunError(f"unknown calibration {spec.get('method')!r} (expected 'platt')")
        self.a, self.b = float(spec["a"]), float(spec["b"])
        self.spec = dict(spec)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(raw, np.float64), 1e-12, 1 - 1e-12)
        return 1.0 / (1.0 + np.exp(-(self.a * np.log(p / (1 - p)) + self.b)))


#: The alignments a calibration may be fitted with, each as `data.align.align_face`'s `landmarks`: the cascades,
#: then dlib's 5 landmark points (CC0 model) or 18 of its 68 (research-use model); the cascades alone. In this order
#: because `serve.calibrate.choose_alignment` gives ties to the first: the licence-free and faster model first.
ALIGNMENT_LANDMARKS: dict[str, str | None] = {"landmarks5": "5", "landmarks": "68", "cascade": None}
ALIGNMENTS = tuple(ALIGNMENT_LANDMARKS)
#: The alignments whose model files allow any use, commercial included (`serve.card.MODEL_FILES`): only these may
#: ship. The 68-point model's training data exclude commercial use, so it is measured for comparison, never chosen.
SHIPPABLE_ALIGNMENTS = ("landmarks5", "cascade")


def member_runs(card: Mapping[str, Any]) -> list[str]:
    """The records whose towers the shipped model holds: one, or an ensemble's members (`serve.ship.ship_ensemble`);
    the first one's validation pairs (`card["run"]`) are every member's."""
    return [m["run"] for m in card.get("members") or [{"run": card["run"]}]]


def alignment_of(card: Mapping[str, Any]) -> str:
    """Which alignment the card's calibration was fitted on photos aligned with (`ALIGNMENTS`)."""
    cal = card.get("calibration") or {}
    return str(cal.get("alignment", "cascade" if cal else "landmarks"))


def alignment_name(landmarks: bool | str | None) -> str:
    """The `ALIGNMENTS` name of a scorer's `landmarks` (True is the 68-point model, as in `data.align`)."""
    model = landmark_model(landmarks)
    return next(a for a, m in ALIGNMENT_LANDMARKS.items() if m == model)


class Scorer:
    """Images -> per-view embeddings -> P(same person) of pairs, with the threshold its scores were chosen for.

    `raw_score` is the head's score as the record computed it; `score` is the calibrated probability where the model
    carries a calibration (the shipped one: then the threshold is 0.5), else the head's score itself."""

    name: str  # what chose the weights: "shipped:<run>" or the record's folder
    model_id: str  # changes whenever the weights do (cache key)
    pre: Preprocess
    pixel_scale: float
    tta_flip: bool
    threshold: float
    head: Head
    dim: int
    calibration: Calibration | None = None
    # the alignment's last step (`data.align.align_face(landmarks=...)`): a calibration holds only for photos aligned
    # as it was fitted on, so the shipped card names it (cards without the entry were fitted without landmarks)
    landmarks: bool | str | None = True  # as `align_face`'s: "68" (or True), "5", or None for the cascades alone

    def tower(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """float32 (N, size, size, 1), already scaled -> (N, dim) embeddings."""
        raise NotImplementedError

    @property
    def views(self) -> int:
        return 2 if self.tta_flip else 1

    def embed(self, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 (N, size, size) -> float32 (N, views, dim): the image, then (with flip averaging) its mirror."""
        pixels = np.asarray(pixels, np.uint8)
        out = np.empty((len(pixels), self.views, self.dim), np.float32)
        scale = np.float32(self.pixel_scale)
        for i in range(0, len(pixels), batch_size):
            x = pixels[i:i + batch_size].astype(np.float32)[..., None] * scale
            if self.tta_flip:  # one call for both views: the mirror is tf.reverse on the width axis in training
                e = self.tower(np.concatenate([x, x[:, :, ::-1]]))
                out[i:i + len(x), 0], out[i:i + len(x), 1] = e[:len(x)], e[len(x):]
            else:
                out[i:i + len(x), 0] = self.tower(x)
        return out

    def raw_score(self, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
        """The head's P(same) of pairs of per-view embeddings (N, views, dim): the mean over views, as the record's
        scores."""
        return np.mean([self.head(va[:, k], vb[:, k]) for k in range(self.views)], axis=0)

    def score(self, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
        """What decisions compare with `threshold`: the calibrated probability, or the head's score."""
        raw = self.raw_score(va, vb)
        return raw if self.calibration is None else self.calibration(raw)


class OnnxScorer(Scorer):
    """The shipped tower through ONNX Runtime (CPU): no TensorFlow, start-up in well under a second."""

    def __init__(self, path: str | os.PathLike, card: Mapping[str, Any], threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - a core dependency
            raise RunError("the shipped model needs ONNX Runtime: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own exception types for unreadable files
            raise ShippedModelError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:200]}); reinstall "
                                    f"lfwsiamese or ship the model again") from None
        self.path = Path(path)
        self.input_name = self.session.get_inputs()[0].name
        data = card["config"]["data"]
        self.card = dict(card)
        self.name = "shipped:" + "+".join(member_runs(card))
        self.model_id = card["sha256"]
        self.pre = Preprocess(tuple(data["crop"]), int(data["size"]))
        self.pixel_scale = float(data["pixel_scale"])
        # an ensemble's card says so itself: its members' configs flip-average, the ensemble does not
        self.tta_flip = bool(card.get("tta_flip", card["config"]["train"]["tta_flip"]))
        self.threshold = float(card["threshold"])
        self.head = Head(card["head"])
        self.calibration = Calibration(card["calibration"]) if card.get("calibration") else None
        alignment = alignment_of(card)
        if alignment not in ALIGNMENT_LANDMARKS:
            raise ShippedModelError(f"the model card's calibration names the alignment {alignment!r}, which this "
                                    f"version does not know ({', '.join(ALIGNMENTS)}); upgrade lfwsiamese")
        self.landmarks = ALIGNMENT_LANDMARKS[alignment]
        self.dim = int(card["embedding_dim"])

    def tower(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]


@lru_cache(maxsize=4)
def _load(folder: str, threads: int | None) -> OnnxScorer:
    card = read_card(folder)
    return OnnxScorer(checked_model_file(folder, card), card, threads)


def load_shipped(folder: str | os.PathLike | None = None, threads: int | None = None) -> OnnxScorer:
    """The shipped model (checksum checked), loaded once per process."""
    return _load(str(Path(folder) if folder else shipped_dir()), threads)
