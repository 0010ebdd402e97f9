"""The Python API, mirroring the commands: `lfwsiamese.verify`, `lfwsiamese.embed`, `lfwsiamese.identify`.

Images are file paths, PIL images or NumPy arrays (HxW gray, HxWx3 RGB, uint8 or floats). The shipped model is used
unless `run` names a stored record (a folder, a run name, or "best"); photos that are not aligned LFW-a crops are
face-detected and aligned (`align="auto"`; "on" always, "off" never).

    import lfwsiamese
    v = lfwsiamese.verify("a.jpg", "b.jpg")
    print(v.same, v.score, v.threshold, v.model)
    who = lfwsiamese.identify("query.jpg", "gallery/")
    print(who.person, [(c.person, round(c.score, 3)) for c in who.candidates])
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import numpy as np

from .errors import DataError
from .serve.gallery import Identification
from .serve.verify import Verification

__all__ = ["Identification", "Verification", "embed", "identify", "load_model", "model_card", "verify"]


def load_model(run: str | os.PathLike | None = None, results: str | os.PathLike | None = None) -> Any:
    """The scorer behind every call: the shipped model (ONNX Runtime, loaded once), or a stored record's (Keras)."""
    from .serve.models import load_scorer
    return load_scorer(run, results)


def verify(img_a: Any, img_b: Any, *, run: str | os.PathLike | None = None, align: str = "auto") -> Verification:
    """Same person? `Verification(same, score, threshold, model)`; `same` is score > threshold."""
    from .serve.verify import verify_images
    return verify_images(img_a, img_b, run=run, align=align)


def _warn(notes: list[str]) -> None:
    """Notes about the images (several faces, not an LFW-a crop) as warnings, once each."""
    for note in dict.fromkeys(notes):
        warnings.warn(note, UserWarning, stacklevel=3)


def _is_single(images: Any) -> bool:
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "mode"):
        return True
    if isinstance(images, np.ndarray):
        return images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3, 4))
    return False


def embed(images: Any, *, run: str | os.PathLike | None = None, align: str = "auto") -> np.ndarray:
    """Tower embeddings: (dim,) for one image, (N, dim) for a sequence; a bad image raises, naming it."""
    from .serve.verify import embed_images
    single = _is_single(images)
    items: Sequence[Any] = [images] if single else list(images)
    views, preps = embed_images(load_model(run), items, align)
    bad = [p.error for p in preps if p.error]
    if bad:
        raise DataError(f"{len(bad)} of {len(items)} image(s) could not be used: " + "; ".join(bad[:5]))
    emb = views[:, 0]
    return emb[0] if single else emb


def identify(img: Any, gallery: str | os.PathLike, *, top: int = 5, combine: str = "best",
             run: str | os.PathLike | None = None, align: str = "auto", cache: bool = True) -> Identification:
    """Who in `gallery` (one sub-folder per person, or one image per person named after them) is this?
    `Identification.person` is the best match, or "unknown" when no score is above the threshold."""
    from .serve.gallery import identify as _identify
    res = _identify(load_model(run), img, gallery, top=top, combine=combine, align=align, use_cache=cache)
    _warn(res.warnings + [f"gallery image skipped: {s}" for s in res.skipped])
    return res


def model_card() -> str:
    """The shipped model's card, as Markdown."""
    from .serve.card import model_card_markdown
    from .serve.shipped import read_card
    return model_card_markdown(read_card())
