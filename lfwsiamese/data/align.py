"""Face detection and alignment into LFW-a's canonical 250x250 frame, for photos that are not LFW-a crops.

The detector is OpenCV's frontal-face Haar cascade with its eye cascade, both inside the `opencv-python-headless`
wheel (4.x: the 5.x wheels no longer carry the cascade files), so nothing is downloaded at run time. A face is looked
for upright and, if none is found confidently, in the image rotated by +-15, +-30 and +-45 degrees; its box gives a
first similarity transform (box centre and size onto the median LFW-a box), the eyes found near their canonical
places in that first alignment refine rotation, scale and position. With `landmarks="68"` (or True) or "5", where
the `landmarks` extra is installed, one of dlib's shape predictors then runs on that alignment, and a
least-median-of-squares similarity moves its points (18 chosen of the 68, or all 5) onto their median places on
LFW-a (`landmarks.TEMPLATE`, `landmarks.TEMPLATE5`); the shipped model's card says which the verifier uses.
The result is resampled once from the source.

The canonical frame (median box and eye centres, in pixels of the 250x250 frame) was measured with the same cascades
on 600 aligned LFW-a images of peopleDevTrain people (`measure_canonical_frame`, seed 0; 598 faces, 439 with both
eyes; the DevTest people are never used).
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .paths import FRAME

ALIGN_MODES = ("auto", "on", "off")

#: Median face box of the frontal cascade on LFW-a: centre x, centre y, side (measured by `measure_canonical_frame`).
CANONICAL_BOX = (125.5, 126.0, 121.0)
#: Median eye centres (image-left eye first) of the eye cascade on LFW-a, in the same frame.
CANONICAL_EYES = ((102.5, 113.0), (146.0, 112.5))
#: In-plane angles (degrees) searched when no face is found upright with confidence.
ANGLES = (0, -15, 15, -30, 30, -45, 45)
STRONG = 2.0  # a cascade level weight that stops the angle search at the upright image
MAX_SIDE = 640  # larger photos are searched at this size (the alignment itself uses the full image)


class FaceNotFoundError(DataError):
    """No face was found in an image that needed aligning."""


@dataclass(frozen=True)
class Face:
    """A detection in source pixels: centre, side of the (square) box, the angle it was found at, its weight."""

    cx: float
    cy: float
    size: float
    angle: float
    weight: float

    @property
    def box(self) -> list[float]:
        """[x, y, width, height] of the square box in source pixels (about its centre; turned by `angle`)."""
        return [float(self.cx - self.size / 2), float(self.cy - self.size / 2), float(self.size), float(self.size)]

    def describe(self) -> str:
        x, y, w, h = (round(v) for v in self.box)
        return f"the {w}x{h} px face at x={x}, y={y}"


@dataclass
class Aligned:
    """An aligned face: the 250x250 uint8 image, the 2x3 source->frame transform, the eyes in source pixels."""

    image: np.ndarray
    transform: np.ndarray
    eyes: np.ndarray
    n_faces: int  # the face used plus every other face a second cascade confirms
    method: str  # "landmarks" (then refined by dlib's points), "eyes" (box and symmetry refined by the eyes) or
    # "box" (eyes not found: box and symmetry)
    face: Face | None = None
    landmarks: np.ndarray | None = None  # (18, 2) or (5, 2) dlib points used, in source pixels (method "landmarks")

    def to_dict(self) -> dict[str, Any]:
        """The face's box (source pixels), the angle it was found at, and the eye centres where the eye cascade found
        them (`method` "eyes" or "landmarks"; None otherwise), and the landmark points used (`method` "landmarks":
        `data.landmarks.LANDMARK_POINTS` of dlib's 68, or dlib's 5, in that order; None otherwise)."""
        f = self.face
        pts = None if self.landmarks is None else [[round(float(v), 1) for v in p] for p in self.landmarks]
        return {"box": [round(v, 1) for v in f.box] if f else None, "angle": f.angle if f else None,
                "eyes": [[round(float(v), 1) for v in e] for e in self.eyes] if self.method in ("eyes", "landmarks") else None,
                "landmarks": pts, "n_faces": self.n_faces, "method": self.method}


_init_lock = threading.Lock()
_cv2_module: Any = None
_per_thread = threading.local()


def _cv2() -> Any:
    """OpenCV, imported once under a lock: `import cv2` run by two threads at once can hand one of them a partly
    initialised module without `cv2.data` (its loader replaces itself in `sys.modules`), whose cascade path is then
    the bare file name. `prepare_many` calls `init_detector` before its threads start; the lock covers other callers."""
    global _cv2_module
    if _cv2_module is None:
        with _init_lock:
            if _cv2_module is None:
                try:
                    import cv2
                except ImportError:  # pragma: no cover - a core dependency
                    raise DataError("face alignment needs OpenCV: pip install 'opencv-python-headless<5'") from None
                if not os.path.isdir(getattr(getattr(cv2, "data", None), "haarcascades", "")):
                    raise DataError(f"OpenCV {getattr(cv2, '__version__', '?')} has no Haar cascade folder (cv2.data); "
                                    f"pip install 'opencv-python-headless>=4.8,<5'")
                _cv2_module = cv2
    return _cv2_module


def init_detector() -> None:
    """Import OpenCV and load the cascades in this thread: call before starting threads that align faces."""
    for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml", "haarcascade_eye.xml"):
        _cascade(name)


def _cascade(name: str) -> Any:
    """One classifier per thread and file: OpenCV's cascades keep scratch state while detecting, so a classifier
    shared by threads corrupts their detections (images are aligned in threads by `serve.inputs.prepare_many`)."""
    cache = _per_thread.__dict__.setdefault("cascades", {})
    if name not in cache:
        cache[name] = _load_cascade(name)
    return cache[name]


def _load_cascade(name: str) -> Any:
    cv2 = _cv2()
    path = os.path.join(cv2.data.haarcascades, name)
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise DataError(f"OpenCV's {name} is missing ({path}); the 5.x wheels no longer ship the Haar cascades: "
                        f"pip install 'opencv-python-headless>=4.8,<5'")
    return c


def similarity(scale: float, angle_deg: float, src: Sequence[float], dst: Sequence[float]) -> np.ndarray:
    """2x3 transform: rotate by `angle_deg` (counter-clockwise on screen) and scale about `src`, then move it to `dst`."""
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    m = np.array([[c, s, 0.0], [-s, c, 0.0]])
    m[:, 2] = np.asarray(dst, float) - m[:, :2] @ np.asarray(src, float)
    return m


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 transform `a` after `b`."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]


def invert(m: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def apply(m: np.ndarray, pts: Any) -> np.ndarray:
    p = np.asarray(pts, float).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]


def detect_faces(gray: np.ndarray, angles: Sequence[float] = ANGLES) -> list[Face]:
    """Distinct faces (largest first): detections at several angles of one face are merged, the strongest kept."""
    cv2 = _cv2()
    h, w = gray.shape
    f = min(1.0, MAX_SIDE / max(h, w))
    small = cv2.resize(gray, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f < 1 else gray
    sh, sw = small.shape
    min_side = max(24, int(0.08 * min(sh, sw)))
    found: list[Face] = []
    for ang in angles:
        rot = similarity(1.0, ang, (sw / 2, sh / 2), (sw / 2, sh / 2))
        img = cv2.warpAffine(small, rot, (sw, sh), borderMode=cv2.BORDER_REPLICATE) if ang else small
        boxes, _, weights = _cascade("haarcascade_frontalface_default.xml").detectMultiScale3(
            img, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True)
        back = invert(rot)
        for (x, y, bw, bh), wt in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).ravel()):
            cx, cy = apply(back, (x + bw / 2, y + bh / 2))[0]
            found.append(Face(cx / f, cy / f, bw / f, float(ang), float(wt)))
        if ang == 0 and any(fc.weight >= STRONG for fc in found):
            break
    faces: list[Face] = []
    for fc in sorted(found, key=lambda d: -d.weight):  # one face per place: the strongest detection of it
        if all(math.hypot(fc.cx - g.cx, fc.cy - g.cy) > 0.5 * max(fc.size, g.size) for g in faces):
            faces.append(fc)
    return sorted(faces, key=lambda d: -d.size)


def _eyes_near_canonical(frame: np.ndarray) -> np.ndarray | None:
    """Eye centres in a first alignment, each the detection nearest its canonical place; None unless both found."""
    out = []
    for cx, cy in CANONICAL_EYES:
        x0, y0 = int(cx - 28), int(cy - 22)
        roi = frame[y0:y0 + 44, x0:x0 + 56]
        eyes = _cascade("haarcascade_eye.xml").detectMultiScale(roi, 1.05, 3, minSize=(14, 14), maxSize=(44, 44))
        if len(eyes) == 0:
            return None
        ex, ey, ew, eh = min(eyes, key=lambda b: (b[0] + b[2] / 2 - 28) ** 2 + (b[1] + b[3] / 2 - 22) ** 2)
        out.append((x0 + ex + ew / 2, y0 + ey + eh / 2))
    return np.array(out)


def _symmetry_roll(frame: np.ndarray, max_angle: float = 12.0, step: float = 1.5) -> np.ndarray:
    """A rotation of a first alignment (frame -> frame) that makes the face most nearly mirror-symmetric: the
    normalised correlation of the face region with its mirror image, allowing a small sideways shift."""
    cv2 = _cv2()
    c = (CANONICAL_BOX[0], 120.0)
    f = frame.astype(np.float32)
    best = (-2.0, 0.0)
    for a in np.arange(-max_angle, max_angle + 1e-6, step):
        r = cv2.warpAffine(f, similarity(1.0, a, c, c), (FRAME, FRAME), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        region = r[70:180, 70:181]
        v = float(cv2.matchTemplate(region, cv2.flip(region[:, 10:-10], 1), cv2.TM_CCOEFF_NORMED).max())
        if v > best[0]:
            best = (v, float(a))
    return similarity(1.0, best[1], c, c)


def _refine(frame: np.ndarray) -> np.ndarray | None:
    """A correction (frame -> frame) from the eyes: full rotation, half of the eyes' scale and shift (the box
    carries the other half), refused when the eyes are implausible."""
    eyes = _eyes_near_canonical(frame)
    if eyes is None:
        return None
    canon = np.array(CANONICAL_EYES)
    vs, vd = eyes[1] - eyes[0], canon[1] - canon[0]
    scale = float(np.linalg.norm(vd) / max(np.linalg.norm(vs), 1e-6))
    ang = math.degrees(math.atan2(vs[1], vs[0]) - math.atan2(vd[1], vd[0]))
    if abs(ang) > 15 or not 0.75 < scale < 1.33:
        return None
    box_c = np.array(CANONICAL_BOX[:2])
    return similarity(math.sqrt(scale), ang, (eyes.mean(0) + box_c) / 2, (canon.mean(0) + box_c) / 2)


_landmarker_lock = threading.Lock()
_landmarkers: dict[str, Any] = {}  # model -> Landmarker once loaded, or None where dlib or its model is not installed


def landmark_model(landmarks: bool | str | None) -> str | None:
    """`align_face`'s `landmarks` as a model of `data.landmarks.MODELS`: True is the 68-point one; False or None: none."""
    if landmarks is None or landmarks is False:
        return None
    from .landmarks import check_model
    return check_model("68" if landmarks is True else str(landmarks))


def _landmark_fix(frame: np.ndarray, model: str = "68", max_angle: float = 20.0
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(correction frame -> frame, the points in the frame) that maps the face's landmark points (18 of dlib's 68, or
    its 5) onto LFW-a's median ones, if the `landmarks` extra is installed; refused when implausible; None otherwise.

    One predictor per model, used under a lock: the 68-point model is 100 MB (the 5-point one 9 MB), and a call costs
    about 3 ms (0.6 ms)."""
    from .landmarks import LandmarkModelMissingError, Landmarker, template
    with _landmarker_lock:
        if model not in _landmarkers:
            try:
                _landmarkers[model] = Landmarker(model)
            except LandmarkModelMissingError:
                _landmarkers[model] = None
        lm = _landmarkers[model]
        if lm is None:
            return None
        pts = lm.template_points(frame, lm.fallback_box())
    # least squares over the points, robust to a few bad ones (least median of squares)
    cv2 = _cv2()
    m, _ = cv2.estimateAffinePartial2D(pts, template(model), method=cv2.LMEDS)
    if m is None:
        return None
    scale = math.hypot(m[0, 0], m[1, 0])
    ang = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    if abs(ang) > max_angle or not 0.7 < scale < 1.4:
        return None
    return m, pts


def _warp(gray: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Resample into the 250x250 frame; large shrinking goes through pyramid halvings first (no aliasing)."""
    cv2 = _cv2()
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    while scale < 0.5 and min(gray.shape) > 2 * FRAME:
        gray = cv2.pyrDown(gray)
        m = compose(m, np.array([[2.0, 0, 0.5], [0, 2.0, 0.5]]))  # half-res pixel -> full-res pixel
        scale *= 2
    return cv2.warpAffine(gray, m, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_face(gray: np.ndarray, source: str = "<image>", warn: bool = True, landmarks: bool | str | None = False
               ) -> Aligned:
    """Detect the face (the largest, with a warning if there are several) and map it onto LFW-a's frame;
    `landmarks` ("68" or True, "5"): then move that landmark model's points onto LFW-a's (needs the `landmarks`
    extra; skipped without it)."""
    model = landmark_model(landmarks)
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    if gray.ndim != 2 or min(gray.shape) < 24:
        raise FaceNotFoundError(f"{source}: no face found (image {gray.shape[::-1]} is too small to hold one)")
    faces = detect_faces(gray)
    if not faces:
        raise FaceNotFoundError(f"{source}: no face found (OpenCV's frontal-face detector, upright and rotated up to 45 "
                                f"degrees); crop the photo to the face, or pass --align off for an LFW-a-like crop")
    face = faces[0]
    n_faces = 1 + sum(confirmed(gray, f) for f in faces[1:])
    if n_faces > 1 and warn:
        warnings.warn(several_faces(source, n_faces, face), stacklevel=2)
    cx, cy, side = CANONICAL_BOX
    m = similarity(side / face.size, face.angle, (face.cx, face.cy), (cx, cy))
    m = compose(_symmetry_roll(_warp(gray, m)), m)
    method = "box"
    fix = _refine(_warp(gray, m))
    if fix is not None:
        m, method = compose(fix, m), "eyes"
    points = None
    if model is not None:
        found = _landmark_fix(_warp(gray, m), model)
        if found is not None:
            points = apply(invert(m), found[1])  # frame of the first alignment -> source pixels
            m, method = compose(found[0], m), "landmarks"
    return Aligned(_warp(gray, m), m, apply(invert(m), CANONICAL_EYES), n_faces, method, face, points)


def several_faces(source: str, n_faces: int, face: Face) -> str:
    return f"{source}: {n_faces} faces found; using the largest, {face.describe()}"


def confirmed(gray: np.ndarray, face: Face) -> bool:
    """Second opinions on a detection: OpenCV's other frontal-face cascade (alt2, trained apart) finds a face of about
    its place and size, and the eye cascade finds both eyes near their places once the box is mapped onto LFW-a's
    frame. The default cascade alone takes shirts, ties and curtains for faces as confidently as faces (its weights
    overlap), so only confirmed extra faces earn a warning."""
    cx, cy, side = CANONICAL_BOX
    if _eyes_near_canonical(_warp(gray, similarity(side / face.size, face.angle, (face.cx, face.cy), (cx, cy)))) is None:
        return False
    cv2 = _cv2()
    side = 2.0 * face.size
    f = min(1.0, 200.0 / side)  # the window at about 200 px: the second opinion costs milliseconds
    m = similarity(f, face.angle, (face.cx, face.cy), (f * side / 2, f * side / 2))
    n = max(24, round(f * side))
    win = cv2.warpAffine(gray, m, (n, n), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    s = f * face.size
    found = _cascade("haarcascade_frontalface_alt2.xml").detectMultiScale(
        win, scaleFactor=1.05, minNeighbors=3, minSize=(int(0.6 * s), int(0.6 * s)), maxSize=(int(1.5 * s) + 1,) * 2)
    c = n / 2
    return any(abs(x + w / 2 - c) < 0.35 * s and abs(y + h / 2 - c) < 0.35 * s for x, y, w, h in np.reshape(found, (-1, 4)))


def looks_aligned(img: Any) -> bool:
    """A 250x250 grayscale image (or RGB with equal channels): taken as an LFW-a crop, left as it is by --align auto."""
    if tuple(img.size) != (FRAME, FRAME):
        return False
    if img.mode == "L":
        return True
    if img.mode != "RGB":
        return False
    a = np.asarray(img, dtype=np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).max() <= 8 and np.abs(a[..., 1] - a[..., 2]).max() <= 8)


def check_mode(align: str) -> str:
    if align not in ALIGN_MODES:
        raise DataError(f"--align {align!r}: expected one of {', '.join(ALIGN_MODES)}")
    return align


def measure_canonical_frame(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Median upright face box and eye centres of the cascades on aligned LFW-a images (training people only)."""
    cv2 = _cv2()
    boxes, left, right = [], [], []
    for p in paths:
        g = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if g is None:
            continue
        faces = detect_faces(g, angles=(0,))
        if not faces:
            continue
        f = faces[0]
        boxes.append((f.cx, f.cy, f.size))
        x, y, s = f.cx - f.size / 2, f.cy - f.size / 2, f.size
        roi = g[int(y):int(y + 0.625 * s), int(x):int(x + s)]
        eyes = _cascade("haarcascade_eye.xml").detectMultiScale(roi, 1.1, 3, minSize=(int(s / 8), int(s / 8)))
        if len(eyes) >= 2:
            two = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
            cs = sorted((x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in two)
            left.append(cs[0])
            right.append(cs[1])
    b = np.median(np.array(boxes), 0)
    return {"box": [float(v) for v in b], "eyes": [[float(v) for v in np.median(np.array(e), 0)] for e in (left, right)],
            "n_images": len(paths), "n_faces": len(boxes), "n_eye_pairs": len(left)}
