"""Images as uint8 arrays: decoding, the crop and resize a config asks for, and the on-disk cache."""
from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import DataConfig
from ..errors import DataError
from ..files import atomic_save_npy
from .check import list_images
from .paths import ENV_CACHE, FRAME, cache_dir, images_dir, require_data_dir
from .protocols import ImageRef, Pair

#: A packed data folder (`data.pack.write_pack`) holds this file instead of lfw2/: the JPEG bytes of the images a
#: run needs, each cut losslessly to the window of the 250x250 frame that the run's preprocessing reads.
PACK_FILE = "lfw2-pack.npz"


@dataclass(frozen=True)
class Preprocess:
    """Crop box in the 250x250 frame (or none), output side. Part of the cache key."""

    crop: tuple[int, ...] = ()
    size: int = 105

    @classmethod
    def of(cls, data: DataConfig) -> "Preprocess":
        """The preprocessing a config's data section asks for: the one way from a config to a Preprocess."""
        return cls(tuple(data.crop), data.size)

    @property
    def key(self) -> str:
        c = "full" if not self.crop else "c" + "-".join(map(str, self.crop))
        return f"{c}_s{self.size}"


def preprocess_image(img: Image.Image, pre: Preprocess, source: str = "<image>", warn: bool = True) -> np.ndarray:
    """Any PIL image -> uint8 (size, size) grayscale, as in training: L mode, crop, Pillow's default resize."""
    if img.mode not in ("L",):
        if warn:
            warnings.warn(f"{source}: mode {img.mode} converted to 8-bit grayscale (LFW-a is grayscale)", stacklevel=2)
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            hi = arr.max() if arr.size and arr.max() > 0 else 1.0
            img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
        elif img.mode in ("P", "PA", "LA", "RGBA", "1", "CMYK", "YCbCr", "RGB", "F", "HSV", "LAB"):
            if img.mode in ("P", "PA"):
                img = img.convert("RGBA")
            img = img.convert("L")
        else:
            img = img.convert("L")
    if img.size != (FRAME, FRAME):
        if warn:
            warnings.warn(f"{source}: size {img.size[0]}x{img.size[1]} is not an aligned 250x250 LFW-a face; resized to 250x250", stacklevel=2)
        img = img.resize((FRAME, FRAME))
    if pre.crop:
        img = img.crop(tuple(pre.crop))
    if img.size != (pre.size, pre.size):
        img = img.resize((pre.size, pre.size))
    return np.asarray(img, dtype=np.uint8)


def open_image_file(path: str | os.PathLike, empty_hint: str = "") -> Image.Image:
    """One image file, decoded, as a PIL image; a missing, empty, corrupt or oversized file is a DataError that
    names its path (the one place files are opened, for the dataset and for people's own photos alike)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes){empty_hint}")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (JPEG or PNG expected)") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: refused by Pillow as too large ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: corrupt or truncated image ({e})") from None


def load_image(path: str | os.PathLike, pre: Preprocess = Preprocess(), warn: bool = True) -> np.ndarray:
    """One image file -> preprocessed uint8 array; a missing, empty or corrupt file names its path."""
    img = open_image_file(path, "; re-fetch it with `lfwsiamese data fetch`")
    return preprocess_image(img, pre, str(Path(path).expanduser()), warn=warn)


def _load_chunk(args: tuple[str, list[str], Preprocess]) -> np.ndarray:
    root, rels, pre = args
    out = np.empty((len(rels), pre.size, pre.size), np.uint8)
    for k, rel in enumerate(rels):
        out[k] = load_image(Path(root) / rel, pre, warn=False)
    return out


@dataclass
class ImageStore:
    """All images of a data folder as one uint8 array, with a relpath -> row index."""

    paths: list[str]
    array: np.ndarray  # (N, size, size) uint8
    pre: Preprocess

    def __post_init__(self) -> None:
        self.index = {p: i for i, p in enumerate(self.paths)}

    def row(self, ref: ImageRef) -> int:
        try:
            return self.index[ref.relpath]
        except KeyError:
            raise DataError(f"image {ref.relpath} is not in the data folder; check it with `lfwsiamese data check`") from None

    def rows(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = np.fromiter((self.row(p.a) for p in pairs), np.int32, len(pairs))
        b = np.fromiter((self.row(p.b) for p in pairs), np.int32, len(pairs))
        y = np.fromiter((p.label for p in pairs), np.float32, len(pairs))
        return a, b, y

    def get(self, ref: ImageRef) -> np.ndarray:
        return self.array[self.row(ref)]


def load_images(data: str | os.PathLike | None = None, pre: Preprocess = Preprocess(), workers: int | None = None,
                progress: bool = True, use_cache: bool = True) -> ImageStore:
    """Every image, preprocessed, as uint8. The first load decodes on all cores; later loads read the cache."""
    data_dir = require_data_dir(data)
    if (data_dir / PACK_FILE).is_file() and not (data_dir / "lfw2").is_dir():
        return load_pack(data_dir / PACK_FILE, pre, workers=workers, progress=progress)
    root = images_dir(data_dir)
    paths = list_images(data_dir)
    if not paths:
        raise DataError(f"{root}: no images named <Name>/<Name>_NNNN.jpg found")
    stats = hashlib.sha256()
    for rel in paths:
        st = (root / rel).stat()
        stats.update(f"{rel}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    key = hashlib.sha256(f"{root.resolve()}|{stats.hexdigest()}|{pre.key}|v1".encode()).hexdigest()[:16]
    cfile = cache_dir() / f"images-{pre.key}-{key}.npy"
    if use_cache and cfile.is_file():
        try:
            arr = np.load(cfile, allow_pickle=False)
            if arr.shape == (len(paths), pre.size, pre.size) and arr.dtype == np.uint8:
                return ImageStore(paths, arr, pre)
        except (OSError, ValueError, EOFError):  # np.load raises EOFError on an empty file
            pass  # a damaged cache is rebuilt below
    workers = workers or min(os.cpu_count() or 1, 8)
    chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
    parts: list[np.ndarray] = []
    from tqdm.auto import tqdm
    bar = tqdm(total=len(paths), desc=f"decoding images ({pre.key})", unit="img", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as ex:
            for part in ex.map(_load_chunk, [(str(root), c, pre) for c in chunks]):
                parts.append(part)
                bar.update(len(part))
    else:
        for c in chunks:
            parts.append(_load_chunk((str(root), c, pre)))
            bar.update(len(c))
    bar.close()
    arr = np.concatenate(parts)
    if use_cache:
        try:
            atomic_save_npy(cfile, arr)
        except OSError as e:
            warnings.warn(f"could not write the image cache {cfile} ({e}); set {ENV_CACHE} to a writable folder", stacklevel=2)
    return ImageStore(paths, arr, pre)


def decode_window(blob: bytes, box: tuple[int, int, int, int], pre: Preprocess, source: str) -> np.ndarray:
    """A packed image (the window `box` of its frame) -> the uint8 array `preprocess_image` makes of the whole frame."""
    import io
    with Image.open(io.BytesIO(blob)) as img:
        img.load()
        if tuple(box) == (0, 0, FRAME, FRAME):
            return preprocess_image(img, pre, source, warn=False)
        if img.mode != "L" or img.size != (box[2] - box[0], box[3] - box[1]):
            raise DataError(f"{source}: the packed window {box} decodes as {img.mode} {img.size[0]}x{img.size[1]}; "
                            f"rebuild the pack")
        crop = pre.crop
        img = img.crop((crop[0] - box[0], crop[1] - box[1], crop[2] - box[0], crop[3] - box[1]))
        if img.size != (pre.size, pre.size):
            img = img.resize((pre.size, pre.size))
        return np.asarray(img, dtype=np.uint8)


def load_pack(path: Path, pre: Preprocess, workers: int | None = None, progress: bool = True) -> ImageStore:
    """The images of a packed data folder that `pre` can be computed from (their window covers its crop), as the
    full folder would give them; the others are left out, and asking for one names it."""
    from concurrent.futures import ThreadPoolExecutor
    with np.load(path, allow_pickle=False) as z:
        paths, offsets, blobs, boxes = [str(p) for p in z["paths"]], z["offsets"], z["blobs"], z["boxes"]
    full = (0, 0, FRAME, FRAME)
    need = tuple(pre.crop) or full
    keep = [k for k, b in enumerate(boxes) if b[0] <= need[0] and b[1] <= need[1] and b[2] >= need[2] and b[3] >= need[3]]
    if not keep:
        raise DataError(f"{path}: no packed image covers the window {need} that preprocessing {pre.key} reads; "
                        f"rebuild the pack for this config")
    from tqdm.auto import tqdm

    def one(k: int) -> np.ndarray:
        return decode_window(blobs[offsets[k]:offsets[k + 1]].tobytes(), tuple(int(v) for v in boxes[k]), pre, paths[k])

    with ThreadPoolExecutor(workers or min(os.cpu_count() or 1, 8)) as ex:
        arr = np.stack(list(tqdm(ex.map(one, keep), total=len(keep), desc=f"decoding packed images ({pre.key})",
                                 unit="img", disable=not progress)))
    return ImageStore([paths[k] for k in keep], arr, pre)
