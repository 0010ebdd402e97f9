"""Phone photos: a JPEG stored sideways or upside down with an EXIF Orientation tag (3, 6, 8) is turned upright before
the face is looked for, from a path and from a PIL image, and aligns to the same crop as the upright photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfwsiamese.data.images import Preprocess
from lfwsiamese.serve.inputs import Prepared, to_pixels
from lfwsiamese.serve.scorer import load_shipped
from lfwsiamese.serve.verify import verify_pair

PHOTO = Path(__file__).resolve().parent / "data" / "photos" / "obama_1.jpg"
PRE = Preprocess((60, 68, 190, 198), 96)
ORIENTATION = 0x0112
#: How a camera stores an upright scene for each tag: the inverse of what `ImageOps.exif_transpose` undoes.
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def _save(img: Image.Image, path: Path, orientation: int | None) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    img.save(path, format="JPEG", quality=92, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def upright(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    path = _save(Image.open(PHOTO).convert("RGB"), tmp_path_factory.mktemp("exif") / "upright.jpg", 1)
    p = to_pixels(str(path), PRE, "on")
    assert p.error is None and p.face is not None and p.face["eyes"] is not None
    return p


def _same_place(p: Prepared, q: Prepared, px: float = 3.0) -> bool:
    """The face box and both eyes within `px` pixels of each other's (JPEG's blocks fall elsewhere once a photo is
    turned, so the detections move by a pixel or two)."""
    return bool(np.abs(np.subtract(p.face["box"], q.face["box"])).max() <= px
                and np.abs(np.subtract(p.face["eyes"], q.face["eyes"])).max() <= px)


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_oriented_photo_aligns_like_the_upright_one(orientation: int, upright: Prepared, tmp_path: Path) -> None:
    stored = Image.open(PHOTO).convert("RGB").transpose(STORED[orientation])
    path = _save(stored, tmp_path / f"o{orientation}.jpg", orientation)
    with Image.open(path) as im:
        assert im.getexif()[ORIENTATION] == orientation and im.size == stored.size
    from_path = to_pixels(str(path), PRE, "on")
    assert from_path.error is None, from_path.error
    assert _same_place(from_path, upright), (from_path.face, upright.face)
    with Image.open(path) as im:
        im.load()
        from_pil = to_pixels(im, PRE, "on")
    np.testing.assert_array_equal(from_pil.pixels, from_path.pixels)
    v = verify_pair(load_shipped(), str(path), str(PHOTO))
    assert v.same and v.score > 0.9


def test_a_sideways_photo_without_the_tag_is_not_turned(tmp_path: Path, upright: Prepared) -> None:
    """The tag, not a guess, turns the photo: the same pixels without it stay sideways (and the detector, which
    looks at most 45 degrees either way, finds no face, or another place)."""
    path = _save(Image.open(PHOTO).convert("RGB").transpose(STORED[6]), tmp_path / "sideways.jpg", None)
    p = to_pixels(str(path), PRE, "on")
    assert p.error is not None or not _same_place(p, upright, 20.0)
