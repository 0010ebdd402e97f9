"""Training what is served (`data.images="mixed"`, `data.photos`): LFW-a images as the verifier sees photos, the store
that holds both versions, the crop-or-photo draws of training pairs, and a tiny run trained that way."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lfwsiamese.config import ConfigError, DataConfig
from lfwsiamese.data.images import Preprocess
from lfwsiamese.data.photos import MixedStore, load_store
from lfwsiamese.data.protocols import ImageRef


def _store(n: int = 6) -> MixedStore:
    paths = [f"P{i}/P{i}_0001.jpg" for i in range(n)]
    arr = np.concatenate([np.zeros((n, 4, 4), np.uint8), np.full((n, 4, 4), 255, np.uint8)])
    return MixedStore(paths, arr, Preprocess((), 4))


def test_a_name_is_looked_up_as_its_photo() -> None:
    s = _store()
    assert s.row(ImageRef("P2", 1)) == 6 + 2 and s.get(ImageRef("P2", 1)).min() == 255
    with pytest.raises(ValueError, match="2 x 6 images"):
        MixedStore(s.paths, s.array[:7], s.pre)


def test_mixing_sends_about_half_to_the_crops_and_a_resume_draws_the_same() -> None:
    s = _store(1000)
    rows = np.tile(np.arange(1000, 2000), (4, 1))  # 4 epochs of photo rows
    mixed = s.mix(rows, seed=0)
    moved = mixed < 1000
    assert 0.45 < moved.mean() < 0.55
    np.testing.assert_array_equal(mixed[moved] + 1000, rows[moved])  # a moved row is the same image's crop
    assert not (moved[0] == moved[1]).all()  # each epoch draws afresh
    np.testing.assert_array_equal(s.mix(rows[2:], seed=0, first_epoch=2), mixed[2:])  # resumed at epoch 2
    assert not (s.mix(rows, seed=1) == mixed).all()
    crops = np.arange(10)
    np.testing.assert_array_equal(s.mix(crops, seed=0), crops)  # a crop row is never moved


def test_the_config_names_the_allowed_image_sources() -> None:
    with pytest.raises(ConfigError, match=r"data.images='photos'.*'lfwa', 'mixed'"):
        DataConfig(images="photos").validate()
    DataConfig(images="mixed").validate()  # allowed: no error


@pytest.mark.realdata
def test_an_lfwa_image_as_served_is_found_and_lands_near_its_crop(real_data: Path) -> None:
    from PIL import Image

    from lfwsiamese.data.check import list_images
    from lfwsiamese.data.paths import images_dir
    from lfwsiamese.data.photos import served_photo
    pre = Preprocess((60, 68, 190, 198), 96)
    paths = list_images(real_data)
    for k in (0, 5000, 10000):
        with Image.open(images_dir(real_data) / paths[k]) as im:
            gray = np.asarray(im.convert("L"), np.uint8)
        photo, found = served_photo(gray, k, pre)
        crop = np.asarray(Image.fromarray(gray).crop(pre.crop).resize((96, 96), Image.BILINEAR), np.float64)
        assert found and photo.shape == (96, 96) and photo.dtype == np.uint8
        assert not np.array_equal(photo, crop.astype(np.uint8))  # rendered, so not the crop itself
        assert np.corrcoef(photo.ravel().astype(float), crop.ravel())[0, 1] > 0.5  # but aligned onto it
        again, _ = served_photo(gray, k, pre)
        np.testing.assert_array_equal(again, photo)  # image k's render is drawn from (seed, k) alone


@pytest.mark.slow
def test_a_tiny_run_trains_on_crops_and_photos(tmp_path, monkeypatch) -> None:
    """The run's store holds both versions (photos faked here as the crops' negatives: detection on synthetic
    faces is not what is tested), validation and test are scored on the photos, and training sees both."""
    import lfwsiamese.data.photos as photos
    from lfwsiamese.training.run import protocol_data, train_run
    from tests.synth import make_dataset
    from tests.test_npair import tiny_npair
    data = str(make_dataset(tmp_path / "synth", n_people=40, per_person=4, singles=4))
    seen = []

    def fake(data_dir, pre, **_kw):
        crops = photos.load_images(data_dir, pre, progress=False).array
        seen.append(pre.key)
        return 255 - crops, np.ones(len(crops), bool)

    monkeypatch.setattr(photos, "served_photos", fake)
    cfg = tiny_npair()
    cfg = replace(cfg, data=replace(cfg.data, images="mixed")).validate()
    store, split, test_pairs = protocol_data(cfg, data, progress=False)
    assert isinstance(store, MixedStore) and len(store.array) == 2 * len(store.paths)
    a, _, _ = store.rows(test_pairs)
    assert (a >= store.n).all()  # scored as served
    rec = train_run(cfg, data=data, results=tmp_path / "r", progress=False)
    assert rec.config.data.images == "mixed" and seen
    assert 0.0 <= rec.metrics["test"]["accuracy"] <= 1.0 and rec.scores["score"].between(0, 1).all()
    assert load_store("lfwa", data, Preprocess.of(cfg.data), progress=False).array.shape[0] == len(store.paths)


def test_training_photos_are_aligned_as_the_shipped_model_serves() -> None:
    """Train what is served: the training photos end with the landmark model the shipped card's calibration names."""
    from lfwsiamese.data.photos import LANDMARKS
    from lfwsiamese.serve.scorer import load_shipped
    assert LANDMARKS == load_shipped().landmarks
