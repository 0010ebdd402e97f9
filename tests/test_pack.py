"""Packed data folders (what travels to the GPU machine): the same arrays as the full folder, for the images packed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lfwsiamese.data.images import PACK_FILE, Preprocess, load_image, load_images
from lfwsiamese.data.pack import window_for, write_pack
from lfwsiamese.data.protocols import ImageRef
from lfwsiamese.errors import DataError
from tests.synth import make_dataset

ROOT = Path(__file__).resolve().parent.parent
CROP = Preprocess((60, 68, 190, 198), 96)  # the improved recipe's
FULL = Preprocess()  # the reference's (and the bench's)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("synth"), n_people=10, per_person=2)


def _rels(data: Path) -> list[str]:
    return sorted(str(p.relative_to(data / "lfw2")) for p in (data / "lfw2").rglob("*.jpg"))


def test_windows_are_whole_dct_blocks_around_the_crop() -> None:
    assert window_for(CROP) == (56, 64, 192, 200)
    assert window_for(FULL) == (0, 0, 250, 250)
    assert window_for(Preprocess((3, 0, 249, 250), 64)) == (0, 0, 250, 250)


@pytest.mark.parametrize("encoder", ["png", "jpegtran"])
def test_a_pack_gives_the_arrays_of_the_full_folder(synth: Path, tmp_path: Path, encoder: str) -> None:
    if encoder == "jpegtran" and shutil.which("jpegtran") is None:
        pytest.skip("jpegtran not installed (Debian: libjpeg-turbo-progs)")
    rels = _rels(synth)
    needs = {r: {CROP} for r in rels[:12]} | {r: {CROP, FULL} for r in rels[12:15]} | {r: {FULL} for r in rels[15:17]}
    rep = write_pack(synth, tmp_path, needs, encoder=encoder)
    assert rep.path == tmp_path / PACK_FILE and rep.images == 17 and rep.whole == 5 and rep.cut == 12
    if encoder == "jpegtran":
        assert rep.bytes < rep.source_bytes  # the cut JPEGs are smaller than the originals
    cropped = load_images(tmp_path, CROP, progress=False)
    assert cropped.paths == rels[:17]  # every image whose window covers the crop (a whole frame does), in order
    for k, rel in enumerate(cropped.paths):
        np.testing.assert_array_equal(cropped.array[k], load_image(synth / "lfw2" / rel, CROP))
    full = load_images(tmp_path, FULL, progress=False)
    assert full.paths == rels[12:17]
    np.testing.assert_array_equal(full.array, np.stack([load_image(synth / "lfw2" / r, FULL) for r in rels[12:17]]))
    name, index = rels[0].split("/")[0], int(rels[0][-8:-4])
    with pytest.raises(DataError, match=name):  # packed as the crop's window only: not there for the full frame
        full.get(ImageRef(name, index))
    assert set(rep.checks) == {CROP.key, FULL.key}


def test_a_pack_refuses_a_preprocessing_none_of_its_windows_covers(synth: Path, tmp_path: Path) -> None:
    write_pack(synth, tmp_path, {r: {CROP} for r in _rels(synth)[:3]}, encoder="png")
    with pytest.raises(DataError, match="rebuild the pack"):
        load_images(tmp_path, Preprocess((0, 0, 130, 130), 64), progress=False)
    with pytest.raises(DataError, match="not found"):
        write_pack(synth, tmp_path / "b", {"Nobody/Nobody_0001.jpg": {CROP}}, encoder="png")


def test_gpu_carry_builds_a_checked_folder(synth: Path, tmp_path: Path) -> None:
    """scripts/gpu_carry.py: the improved recipe's and the bench's images packed, the sizes that travel, a manifest;
    then scripts/gpu_run.sh's first step (the environment check) on it, under JAX, TensorFlow hidden."""
    out = tmp_path / "carry"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_carry.py"), "--data", str(synth), "--out", str(out),
                          "--no-wheels", "--encoder", "png"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pack"]["images"] == 20 and manifest["total_bytes"] <= manifest["limit_bytes"]
    assert set(manifest["bytes"]) == {"pack", "wheels", "tracked", "untracked_not_ignored"}
    assert set(manifest["pack"]["sha256_of_arrays"]) == {CROP.key, FULL.key}
    assert "MiB of 64 MiB" in res.stdout
    hidden = tmp_path / "hidden"  # a tensorflow that fails to import, as on the GPU machine
    (hidden / "tensorflow").mkdir(parents=True)
    (hidden / "tensorflow" / "__init__.py").write_text("raise ImportError('no TensorFlow here')\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(hidden), "GPU_CARRY": str(out),
           "GPU_RUN_STEPS": "check", "GPU_RUN_QUICK": "1", "OUT": str(tmp_path / "out"), "PYTHON": sys.executable,
           "JAX_PLATFORMS": "cpu"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_run.sh")], capture_output=True, text=True, timeout=300,
                         env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    check = json.loads((tmp_path / "out" / "check.json").read_text())
    assert check["missing"] == [] and check["keras_backend"] == "jax" and check["tensorflow_importable"] is False
    assert {"log.txt", "check.json", "manifest.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert res.stdout.count("the same arrays as where it was built") == 2  # the pack decodes alike there
