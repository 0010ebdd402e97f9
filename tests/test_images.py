"""Image loading: every bad file is a DataError naming it; odd images are converted with a warning; the cache."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import lfwsiamese.data.images as D
from lfwsiamese.data.check import list_images
from lfwsiamese.data.images import (
    ImageStore,
    Preprocess,
    load_image,
    load_images,
    preprocess_image,
)
from lfwsiamese.data.protocols import ImageRef
from lfwsiamese.errors import DataError


def _noise(h: int, w: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, channels) if channels else (h, w), dtype=np.uint8)


def _jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _no_warnings(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kw)


# ------------------------------------------------------------------------------------------ bad files


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    p = tmp_path / "Nobody" / "Nobody_0001.jpg"
    with pytest.raises(DataError, match="image file not found") as ei:
        load_image(p)
    assert str(p) in str(ei.value)


def test_a_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as ei:
        load_image(p)
    assert str(p) in str(ei.value)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.1])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    data = _jpeg_bytes(_noise(250, 250))
    p = tmp_path / "trunc.jpg"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError) as ei:
        load_image(p)
    assert str(p) in str(ei.value)
    assert "truncated" in str(ei.value) or "not an image" in str(ei.value)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a JPEG\n")
    with pytest.raises(DataError, match="not an image Pillow can read") as ei:
        load_image(p)
    assert str(p) in str(ei.value)


# ------------------------------------------------------------------------------------------ odd images


def test_grayscale_250_loads_silently_and_exactly(tmp_path: Path) -> None:
    arr = _noise(250, 250)
    p = tmp_path / "a.png"  # lossless, so the decoded pixels are known
    Image.fromarray(arr).save(p)
    out = _no_warnings(load_image, p, Preprocess(size=250))
    assert out.dtype == np.uint8 and out.shape == (250, 250)
    np.testing.assert_array_equal(out, arr)
    small = _no_warnings(load_image, p)
    assert small.dtype == np.uint8 and small.shape == (105, 105)


def test_rgb_image_is_converted_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "rgb.jpg"
    p.write_bytes(_jpeg_bytes(_noise(250, 250, 3)))
    with pytest.warns(UserWarning, match="mode RGB converted") as rec:
        out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == (105, 105)
    assert not any("size" in str(w.message) for w in rec)
    assert str(p) in str(rec[0].message)


def test_odd_size_rgb_is_resized_with_warnings(tmp_path: Path) -> None:
    p = tmp_path / "odd.jpg"
    p.write_bytes(_jpeg_bytes(_noise(200, 300, 3)))  # 300 wide, 200 high
    with pytest.warns(UserWarning) as rec:
        out = load_image(p)
    msgs = [str(w.message) for w in rec]
    assert any("mode RGB" in m for m in msgs) and any("size 300x200" in m for m in msgs)
    assert out.dtype == np.uint8 and out.shape == (105, 105)


def test_warn_false_is_silent(tmp_path: Path) -> None:
    p = tmp_path / "odd.jpg"
    p.write_bytes(_jpeg_bytes(_noise(200, 300, 3)))
    assert _no_warnings(load_image, p, warn=False).shape == (105, 105)


def test_16_bit_png_keeps_its_range(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 250).astype(np.uint16), (250, 1))  # dark left, bright right
    p = tmp_path / "deep.png"
    Image.fromarray(ramp).save(p)
    with Image.open(p) as im:
        assert im.mode == "I;16"
    with pytest.warns(UserWarning, match="mode I;16"):
        out = load_image(p, Preprocess(size=250))
    assert out.dtype == np.uint8 and out.shape == (250, 250)
    # scaled, not clipped: a ramp over the full 16-bit range becomes a ramp over 0..255
    assert out[:, 0].max() <= 2 and out[:, -1].min() >= 253
    assert np.all(np.diff(out[0].astype(int)) >= 0)
    assert 100 < out.mean() < 155


def test_palette_png_matches_its_rgb_version(tmp_path: Path) -> None:
    rgb = Image.fromarray(_noise(250, 250, 3, seed=3)).quantize(32)
    assert rgb.mode == "P"
    p = tmp_path / "pal.png"
    rgb.save(p)
    with Image.open(p) as im:
        assert im.mode == "P"
    with pytest.warns(UserWarning, match="mode P"):
        out = load_image(p, Preprocess(size=250))
    assert out.dtype == np.uint8 and out.shape == (250, 250)
    want = np.asarray(rgb.convert("RGB").convert("L"))
    assert np.abs(out.astype(int) - want).max() <= 1


def test_crop_then_resize_is_what_training_sees() -> None:
    arr = _noise(250, 250, seed=5)
    img = Image.fromarray(arr)
    out = _no_warnings(preprocess_image, img, Preprocess(crop=(50, 60, 150, 160), size=100))
    np.testing.assert_array_equal(out, arr[60:160, 50:150])


MODES = {"L": 1, "RGB": 3, "RGBA": 4, "P": 1, "I;16": 2, "LA": 2}


@st.composite
def crops(draw: st.DrawFn) -> tuple[int, ...]:
    if draw(st.booleans()):
        return ()
    left, right = sorted(draw(st.lists(st.integers(0, 250), min_size=2, max_size=2, unique=True)))
    top, bottom = sorted(draw(st.lists(st.integers(0, 250), min_size=2, max_size=2, unique=True)))
    return (left, top, right, bottom)


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 400), h=st.integers(1, 400), mode=st.sampled_from(sorted(MODES)), size=st.integers(8, 128),
       crop=crops(), seed=st.integers(0, 2**32 - 1))
def test_any_image_becomes_uint8_square(w: int, h: int, mode: str, size: int, crop: tuple[int, ...], seed: int) -> None:
    raw = np.random.default_rng(seed).integers(0, 256, w * h * MODES[mode], dtype=np.uint8).tobytes()
    img = Image.frombytes(mode, (w, h), raw)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = preprocess_image(img, Preprocess(crop=crop, size=size), "x.png")
    assert out.dtype == np.uint8 and out.shape == (size, size)
    # a warning exactly when the image is not an aligned 250x250 grayscale face
    assert bool(rec) == (mode != "L" or (w, h) != (250, 250))


# ------------------------------------------------------------------------------------------- the store


def test_load_images_counts_shape_and_rows(tiny_lfw: Path) -> None:
    store = load_images(tiny_lfw, progress=False)
    assert isinstance(store, ImageStore)
    assert store.paths == list_images(tiny_lfw) and len(store.paths) == 20
    assert store.array.shape == (20, 105, 105) and store.array.dtype == np.uint8
    ref = ImageRef("Bob_Bravo", 2)
    np.testing.assert_array_equal(store.get(ref), load_image(tiny_lfw / "lfw2" / ref.relpath))
    with pytest.raises(DataError, match="Bob_Bravo/Bob_Bravo_0009.jpg"):
        store.row(ImageRef("Bob_Bravo", 9))


def test_second_load_reads_the_cache_without_decoding(tiny_lfw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_images(tiny_lfw, progress=False)
    assert list(D.cache_dir().glob("images-*.npy"))  # written to $LFWSIAMESE_CACHE

    def boom(*a, **kw):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(D, "_load_chunk", boom)
    second = load_images(tiny_lfw, progress=False)
    np.testing.assert_array_equal(second.array, first.array)
    assert second.paths == first.paths
    with pytest.raises(AssertionError, match="decoded again"):  # the spy is live: no cache means decoding
        load_images(tiny_lfw, progress=False, use_cache=False)


def test_cache_key_depends_on_preprocessing_and_files(tiny_lfw: Path) -> None:
    a = load_images(tiny_lfw, progress=False)
    b = load_images(tiny_lfw, Preprocess(size=64), progress=False)
    assert b.array.shape == (20, 64, 64)
    assert len(list(D.cache_dir().glob("images-*.npy"))) == 2
    # replace one image: the cache must not serve the old pixels
    p = tiny_lfw / "lfw2" / "Ada_Alpha" / "Ada_Alpha_0001.jpg"
    Image.fromarray(np.full((250, 250), 7, np.uint8)).save(p)
    st_ = p.stat()
    os.utime(p, (st_.st_atime, st_.st_mtime + 5))
    c = load_images(tiny_lfw, progress=False)
    row = c.row(ImageRef("Ada_Alpha", 1))
    assert abs(int(c.array[row].mean()) - 7) <= 2
    assert not np.array_equal(c.array[row], a.array[row])


def _valid_npy_of_wrong_shape() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 5, 5), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("garbage", [b"", b"\x93NUMPY", os.urandom(500), "truncated", "wrong-shape"])
def test_corrupt_cache_is_rebuilt(tiny_lfw: Path, garbage: bytes | str) -> None:
    first = load_images(tiny_lfw, progress=False)
    (cfile,) = D.cache_dir().glob("images-*.npy")
    good = cfile.read_bytes()
    if garbage == "truncated":
        garbage = good[: len(good) // 2]
    elif garbage == "wrong-shape":
        garbage = _valid_npy_of_wrong_shape()
    cfile.write_bytes(garbage)
    again = load_images(tiny_lfw, progress=False)
    np.testing.assert_array_equal(again.array, first.array)
    assert np.load(cfile).shape == first.array.shape  # and the cache is whole again


def test_unwritable_cache_warns_and_still_loads(tiny_lfw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LFWSIAMESE_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="could not write the image cache"):
        store = load_images(tiny_lfw, progress=False)
    assert store.array.shape == (20, 105, 105)


def test_images_folder_itself_is_accepted(tiny_lfw: Path) -> None:
    assert load_images(tiny_lfw / "lfw2", progress=False).paths == load_images(tiny_lfw, progress=False).paths


def test_corrupt_image_in_the_folder_is_named(tiny_lfw: Path) -> None:
    bad = tiny_lfw / "lfw2" / "Cy_Charlie" / "Cy_Charlie_0002.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(DataError) as ei:
        load_images(tiny_lfw, progress=False)
    assert str(bad) in str(ei.value)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "lfw2" / "Someone").mkdir(parents=True)
    (tmp_path / "lfw2" / "Someone" / "other_name.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="no images named"):
        load_images(tmp_path, progress=False)
    with pytest.raises(DataError, match="LFW-a not found"):
        load_images(tmp_path / "missing", progress=False)
