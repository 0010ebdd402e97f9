"""A packed data folder: only the images some runs need, each only as much of its frame as their preprocessing reads.

For machines that take few bytes (a GPU lent for minutes, 64 MiB per run): `lfw2-pack.npz` holds, per image, its
JPEG cut losslessly to a window of the 250x250 frame (`jpegtran -crop` moves whole 8x8 DCT blocks, so the window
decodes to exactly the pixels of the full image) or, where a full frame is needed, the original file. `load_images`
reads such a folder (its `splits/` is optional: the protocol files ship with the package) and returns exactly what
the full folder gives for every image the window covers; `write_pack` checks that, image by image, before it writes.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from ..errors import DataError
from .images import PACK_FILE, Preprocess, decode_window, load_image
from .paths import FRAME, images_dir, require_data_dir

#: DCT blocks of a grayscale baseline JPEG: a lossless cut starts on this grid.
BLOCK = 8


def window_for(pre: Preprocess) -> tuple[int, int, int, int]:
    """The frame window a preprocessing reads, widened to whole DCT blocks (the full frame when it does not crop)."""
    if not pre.crop:
        return (0, 0, FRAME, FRAME)
    x0, y0, x1, y1 = pre.crop
    up = lambda v: min(FRAME, -(-v // BLOCK) * BLOCK)  # noqa: E731
    return (x0 // BLOCK * BLOCK, y0 // BLOCK * BLOCK, up(x1), up(y1))


def union(boxes: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    b = list(boxes)
    return (min(v[0] for v in b), min(v[1] for v in b), max(v[2] for v in b), max(v[3] for v in b))


def _cut(path: Path, box: tuple[int, int, int, int], encoder: str) -> bytes:
    """The window `box` of one image file as a small lossless file: jpegtran's DCT-block cut, or PNG pixels."""
    if encoder == "png":
        with Image.open(path) as img:
            img.load()
            buf = io.BytesIO()
            img.convert("L").crop(box).save(buf, "PNG")
            return buf.getvalue()
    w, h = box[2] - box[0], box[3] - box[1]
    # exit status 2 is libjpeg's warning (a few LFW-a files end early); the decode check below has the last word
    res = subprocess.run(["jpegtran", "-copy", "none", "-optimize", "-crop", f"{w}x{h}+{box[0]}+{box[1]}", str(path)],
                         capture_output=True, timeout=60)
    if res.returncode not in (0, 2) or not res.stdout:
        raise DataError(f"{path}: jpegtran could not cut {box}: {res.stderr.decode(errors='replace').strip()[:200]}")
    return res.stdout


@dataclass
class PackReport:
    path: Path
    images: int
    cut: int  # images stored as a window
    whole: int  # images stored as their original file (a full frame is needed, or the cut did not decode exactly)
    bytes: int
    source_bytes: int  # the original files of the same images
    checks: dict[str, str]  # preprocessing key -> sha256 of the array load_images returns from the pack


def write_pack(data: str | os.PathLike | None, out_dir: str | os.PathLike,
               needs: Mapping[str, Iterable[Preprocess]], encoder: str = "jpegtran") -> PackReport:
    """A packed data folder at `out_dir` with the images `needs` names (relpath -> the preprocessings read from it).

    Each image is cut to the union of its preprocessings' windows; an image whose cut does not give exactly the
    arrays of the original file under each of its preprocessings is stored whole. `encoder="png"` cuts pixels as
    PNG instead (larger; needs no jpegtran, for tests).
    """
    if encoder == "jpegtran" and shutil.which("jpegtran") is None:
        raise DataError("jpegtran not found: it cuts JPEGs losslessly (Debian/Ubuntu: apt-get install libjpeg-turbo-progs)")
    if encoder not in ("jpegtran", "png"):
        raise ValueError(f"encoder {encoder!r}: 'jpegtran' or 'png'")
    root = images_dir(require_data_dir(data))
    rels = sorted(needs)
    blobs: list[bytes] = []
    boxes, whole, source = [], 0, 0
    for rel in rels:
        path = root / rel
        if not path.is_file():
            raise DataError(f"{path}: image file not found (the pack needs it)")
        pres = sorted(set(needs[rel]), key=lambda p: p.key)
        box = union(window_for(p) for p in pres)
        raw = path.read_bytes()
        source += len(raw)
        blob = raw
        if box != (0, 0, FRAME, FRAME):
            blob = _cut(path, box, encoder)
            exact = all(np.array_equal(decode_window(blob, box, p, rel), load_image(path, p, warn=False)) for p in pres)
            if not exact:
                blob, box = raw, (0, 0, FRAME, FRAME)
        whole += box == (0, 0, FRAME, FRAME)
        blobs.append(blob)
        boxes.append(box)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    target = out / PACK_FILE
    tmp = out / (PACK_FILE + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, paths=np.array(rels), offsets=offsets, boxes=np.array(boxes, np.int16).reshape(-1, 4),
                 blobs=np.frombuffer(b"".join(blobs), np.uint8))
    os.replace(tmp, target)
    from .images import load_pack
    keys = {p for ps in needs.values() for p in ps}
    checks = {p.key: hashlib.sha256(load_pack(target, p, progress=False).array.tobytes()).hexdigest()
              for p in sorted(keys, key=lambda p: p.key)}
    return PackReport(target, len(rels), len(rels) - whole, whole, target.stat().st_size, source, checks)
