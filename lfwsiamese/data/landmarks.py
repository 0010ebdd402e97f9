"""Facial landmarks from dlib's shape predictors (the `landmarks` extra: dlib-bin, face_recognition_models).

Both packages come from PyPI with their model files inside, so nothing is downloaded at run time. Two models
(`MODELS`): the 68-point one, trained on the iBUG 300-W annotations (points, no identities; their terms allow
research use only), and the 5-point one (eye corners and the base of the nose), trained on dlib's own 5-point
dataset, released under CC0 1.0: about a tenth of the size and a fifth of the time a call. Neither saw identities,
so LFW's label-free outside-data category still applies. On LFW-a the face is looked for with dlib's HOG detector;
where none is found the fixed box `FALLBACK_BOX` (the median detected box on LFW-a) starts the shape predictor.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

#: Median dlib HOG box (left, top, right, bottom) on 102 LFW-a images (every 130th file); used where none is found.
FALLBACK_BOX = (77, 89, 181, 192)
#: 18 points from dlib's 68 landmarks (an int: that landmark; a tuple: the mean of those), in the order of
#: experiments.lbp.POINTS (fixed points of LFW-a's frame): eye centres, outer and inner eye corners, brow ends,
#: nose bridge, tip and wings, mouth corners, upper and lower lip.
LANDMARK_POINTS: tuple[int | tuple[int, ...], ...] = (
    tuple(range(36, 42)), tuple(range(42, 48)), 36, 45, 39, 42, 17, 26, 21, 22, 27, 30, 31, 35, 48, 54, 51, 57)
#: Each point's mirror image in that list (left and right swap; the midline points stay).
MIRROR = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 10, 11, 13, 12, 15, 14, 16, 17)
#: Median of those 18 points on LFW-a, the predictor started from FALLBACK_BOX as the verifier starts it
#: (`measure_template`: 600 images of peopleDevTrain people, seed 0; no DevTest person is used). Median distance of
#: an image's points to these: 3.0 px.
TEMPLATE: tuple[tuple[float, float], ...] = (
    (103.7, 114.5), (146.8, 113.5), (95.0, 115.0), (155.0, 113.0), (112.0, 115.0), (138.0, 115.0),
    (85.0, 107.0), (165.5, 105.0), (116.5, 103.0), (133.0, 102.0), (125.0, 112.0), (125.0, 138.0),
    (116.0, 144.0), (135.0, 143.0), (107.0, 161.0), (146.0, 160.0), (126.0, 157.0), (126.0, 171.0))
#: dlib's 5 points (right eye outer and inner corner, left eye outer and inner corner, base of the nose; right and
#: left as the person sees them), their median on LFW-a measured as `TEMPLATE` (`measure_template(model="5")`).
#: Median distance of an image's points to these: 2.2 px.
TEMPLATE5: tuple[tuple[float, float], ...] = ((156.0, 113.0), (138.0, 114.0), (95.0, 115.0), (112.0, 115.0),
                                              (125.0, 147.0))
#: The shape-predictor files inside face_recognition_models, by number of points.
MODELS = {"68": "shape_predictor_68_face_landmarks.dat", "5": "shape_predictor_5_face_landmarks.dat"}
INSTALL_HINT = "pip install 'lfwsiamese[landmarks]' (dlib-bin and face_recognition_models, from PyPI)"


def points_of(landmarks68: np.ndarray) -> np.ndarray:
    """The 18 descriptor points (x, y) of one face's 68 dlib landmarks."""
    return np.array([landmarks68[list(i)].mean(0) if isinstance(i, tuple) else landmarks68[i]
                     for i in LANDMARK_POINTS], np.float32)


class LandmarkModelMissingError(DataError):
    """dlib or its shape-predictor model is not installed."""


def model_file(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """The model file inside face_recognition_models, found without importing it (its __init__ needs
    pkg_resources, which new setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkModelMissingError(f"the landmark model is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise LandmarkModelMissingError(f"{path} is missing from face_recognition_models; reinstall: {INSTALL_HINT}")
    return path


def check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"landmark model {model!r}: expected one of {sorted(MODELS)} (points per face)")
    return model


def template(model: str = "68") -> np.ndarray:
    """The median points on LFW-a that a model's points (`points_of` for 68) are moved onto."""
    return np.array(TEMPLATE if check_model(model) == "68" else TEMPLATE5, np.float32)


class Landmarker:
    """dlib's HOG face detector and a shape predictor (`MODELS`: "68" or "5" points), loaded once (each process its
    own: dlib objects do not pickle)."""

    def __init__(self, model: str = "68") -> None:
        self.model = check_model(model)
        try:
            import dlib
        except ImportError as e:
            raise LandmarkModelMissingError(f"dlib is not installed; {INSTALL_HINT}") from e
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(model_file(MODELS[model])))

    def fallback_box(self) -> Any:
        return self._dlib.rectangle(*FALLBACK_BOX)

    def box(self, gray: np.ndarray, upsample: int = 0) -> Any | None:
        """The detected face nearest the image centre, or None."""
        found = self.detector(np.ascontiguousarray(gray, np.uint8), upsample)
        if not len(found):
            return None
        h, w = gray.shape[:2]
        return min(found, key=lambda r: (r.center().x - w / 2) ** 2 + (r.center().y - h / 2) ** 2)

    def points(self, gray: np.ndarray, box: Any | None = None) -> np.ndarray:
        """(68, 2) or (5, 2) float32 (x, y) landmarks in the box (dlib.rectangle) given, else the detected or fallback one."""
        img = np.ascontiguousarray(gray, np.uint8)
        box = box or self.box(img) or self.fallback_box()
        shape = self.predictor(img, box)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def template_points(self, gray: np.ndarray, box: Any | None = None) -> np.ndarray:
        """The points whose medians on LFW-a `template(self.model)` holds: 18 of the 68 (`points_of`), or all 5."""
        found = self.points(gray, box)
        return points_of(found) if self.model == "68" else found

    def lfwa_points(self, gray: np.ndarray) -> tuple[np.ndarray, bool]:
        """Landmarks of one aligned LFW-a face, and whether the detector found it (else the fallback box was used)."""
        box = self.box(gray)
        return self.points(gray, box or self.fallback_box()), box is not None


def measure_template(data: str | os.PathLike | None = None, n: int = 600, seed: int = 0, model: str = "68"
                     ) -> np.ndarray:
    """The median 18 points (`TEMPLATE`; `model="5"`: the 5 points, `TEMPLATE5`) of one image each of `n`
    peopleDevTrain people drawn with `seed`."""
    from PIL import Image

    from . import protocols as P
    from .paths import images_dir, require_data_dir, splits_dir
    d = require_data_dir(data)
    people = [nc for s in P.load_people("peopleDevTrain.txt", splits_dir(d)) for nc in s.counts]
    rng = np.random.default_rng(seed)
    lm, pts = Landmarker(model), []
    for i in rng.permutation(len(people))[:n]:
        name, count = people[i]
        img = Image.open(images_dir(d) / name / f"{name}_{rng.integers(1, count + 1):04d}.jpg").convert("L")
        pts.append(lm.template_points(np.asarray(img), lm.fallback_box()))
    return np.median(np.array(pts), 0)


def _chunk(args: tuple[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    from .images import Preprocess, load_image
    from .paths import FRAME
    root, rels = args
    lm, pre = Landmarker(), Preprocess((), FRAME)
    out = [lm.lfwa_points(load_image(Path(root) / r, pre, warn=False)) for r in rels]
    return np.stack([p for p, _ in out]), np.array([f for _, f in out])


def load_landmarks(data: str | os.PathLike | None = None, workers: int = 1, progress: bool = True
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(relpaths, (n, 68, 2) landmarks, found-by-the-detector flags) of every LFW-a image, cached after the first
    call in $LFWSIAMESE_CACHE (about 11 ms an image on one core)."""
    from ..files import atomic_save_npy
    from .paths import cache_dir
    from .perimage import every_image, map_chunks
    root, paths, tag = every_image(data)
    cfile, ffile = cache_dir() / f"landmarks68-{tag}.npy", cache_dir() / f"landmarks68-{tag}-found.npy"
    if cfile.is_file() and ffile.is_file():
        return paths, np.load(cfile), np.load(ffile)
    Landmarker()  # fail here, with the install hint, rather than in a worker
    chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
    parts = map_chunks(_chunk, [(str(root), c) for c in chunks], [len(c) for c in chunks], workers, "landmarks",
                       progress)
    cache_dir().mkdir(parents=True, exist_ok=True)
    atomic_save_npy(ffile, np.concatenate([f for _, f in parts]))
    atomic_save_npy(cfile, np.concatenate([p for p, _ in parts]))
    return paths, np.load(cfile), np.load(ffile)
