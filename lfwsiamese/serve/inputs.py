"""Images as users give them (a path, a PIL image or an array) -> the model's uint8 input, aligned when needed.

`--align auto` leaves an image that already looks like an aligned LFW-a crop (250x250, grayscale) as it is and aligns
every other one; `on` aligns every image; `off` never does (the image is resized whole, as training's crops were).
Nothing here calls `warnings`: notes are returned, so images can be read in threads and notes shown once by the caller.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..data.align import align_face, check_mode, init_detector, looks_aligned, several_faces
from ..data.images import Preprocess, open_image_file, preprocess_image
from ..data.paths import FRAME
from ..errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Prepared:
    """One image ready for the tower, or the reason it is not."""

    source: str
    pixels: np.ndarray | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    aligned: bool = False
    face: dict[str, Any] | None = None  # where the face was found (`data.align.Aligned.to_dict`), when aligned


def describe(image: Any) -> str:
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, np.ndarray):
        return f"<array {'x'.join(map(str, image.shape))} {image.dtype}>"
    return f"<{type(image).__name__} {getattr(image, 'mode', '')} {'x'.join(map(str, getattr(image, 'size', ())))}>"


def upright(img: Any) -> Any:
    """A PIL image turned as its EXIF Orientation tag says (phones store photos sideways and set the tag), before
    anything looks for a face; an image without the tag is returned as it is."""
    from PIL import ImageOps
    try:
        return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img
    except (OSError, ValueError, SyntaxError):  # a damaged EXIF block: the pixels are still usable
        return img


def open_image(image: Any, source: str) -> Any:
    """A path, PIL image or array (HxW gray, HxWx3 RGB, HxWx4 RGBA; uint8, or floats in 0..1 or 0..255) as a PIL image,
    upright (EXIF orientation applied to paths and PIL images; arrays carry no EXIF)."""
    from PIL import Image
    if isinstance(image, Image.Image):
        return upright(image)
    if isinstance(image, np.ndarray):
        a = image
        if a.dtype != np.uint8:
            a = np.asarray(a, np.float64)
            if not np.isfinite(a).all():
                raise DataError(f"{source}: the array holds NaN or infinite values")
            a = np.clip(a * 255.0 if a.size and a.max() <= 1.0 else a, 0, 255).round().astype(np.uint8)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.ndim == 2:
            return Image.fromarray(a, "L")
        if a.ndim == 3 and a.shape[2] in (3, 4):
            return Image.fromarray(np.ascontiguousarray(a), "RGB" if a.shape[2] == 3 else "RGBA")
        raise DataError(f"{source}: an image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {a.shape}")
    if not isinstance(image, (str, os.PathLike)):
        raise DataError(f"{source}: expected a file path, a PIL image or a NumPy array")
    img = upright(open_image_file(image))
    return img if img.mode != "P" else img.convert("RGBA")


def _gray(img: Any) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        return np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    return np.asarray(img.convert("L"), dtype=np.uint8)


def to_pixels(image: Any, pre: Preprocess, align: str = "auto", source: str | None = None,
              landmarks: bool | str | None = True) -> Prepared:
    """One image -> `Prepared` (pixels, or the error that names it). Never raises for a bad image. `landmarks`: the
    alignment ends by moving dlib's landmark points onto LFW-a's (`data.align.align_face`); a scorer says which
    alignment its calibration was fitted with (`Scorer.landmarks`)."""
    from PIL import Image
    source = source or describe(image)
    out = Prepared(source)
    try:
        check_mode(align)
        img = open_image(image, source)
        if align == "off" or (align == "auto" and looks_aligned(img)):
            if img.mode != "L":
                out.notes.append(f"{source}: mode {img.mode} converted to 8-bit grayscale (LFW-a is grayscale)")
            if img.size != (FRAME, FRAME):
                out.notes.append(f"{source}: size {img.size[0]}x{img.size[1]} is not an aligned 250x250 LFW-a face; "
                                 f"resized to 250x250 (--align off)")
            out.pixels = preprocess_image(img, pre, source, warn=False)
            return out
        al = align_face(_gray(img), source, warn=False, landmarks=landmarks)
        if al.n_faces > 1 and al.face is not None:
            out.notes.append(several_faces(source, al.n_faces, al.face))
        out.pixels = preprocess_image(Image.fromarray(al.image, "L"), pre, source, warn=False)
        out.aligned = True
        out.face = al.to_dict()
    except DataError as e:
        out.error = str(e)
    return out


def prepare_many(images: Sequence[Any], pre: Preprocess, align: str = "auto", workers: int | None = None,
                 sources: Sequence[str] | None = None, landmarks: bool | str | None = True
                 ) -> Iterator[Prepared]:
    """`to_pixels` of each image, decoded and aligned in threads (Pillow and OpenCV release the GIL), in order."""
    check_mode(align)
    srcs = list(sources) if sources is not None else [describe(i) for i in images]
    workers = workers or min(8, os.cpu_count() or 1)
    if align != "off":
        init_detector()  # OpenCV imported and its cascades read here, before any thread needs them
    if workers <= 1 or len(images) <= 1:
        for img, src in zip(images, srcs):
            yield to_pixels(img, pre, align, src, landmarks)
        return
    with ThreadPoolExecutor(workers) as ex:
        yield from ex.map(lambda t: to_pixels(t[0], pre, align, t[1], landmarks), zip(images, srcs))


def find_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under `folder` (any case of .jpg/.jpeg/.png/...), sorted by relative path."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected a folder of .jpg/.jpeg/.png images")
    it = root.rglob("*") if recursive else root.iterdir()
    found = [p for p in it if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
