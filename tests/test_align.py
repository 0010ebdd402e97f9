"""Face detection and alignment on real LFW-a faces (rendered as unaligned photos with a known transform), and the
errors and warnings of faces not found or found several times."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lfwsiamese
from lfwsiamese.cli import main
from lfwsiamese.data.align import (
    CANONICAL_EYES,
    align_face,
    apply,
    compose,
    looks_aligned,
    similarity,
)
from lfwsiamese.data.unaligned import render_unaligned

pytestmark = pytest.mark.realdata

#: Training people only (peopleDevTrain.txt): the alignment is checked on faces it was not measured on (its canonical
#: frame comes from other DevTrain images).
PEOPLE = ("Aaron_Peirsol", "Abdullah", "Adam_Sandler", "Alejandro_Toledo", "Al_Gore", "Alec_Baldwin", "Angelina_Jolie",
          "Amelia_Vega", "Andre_Agassi", "Andy_Roddick", "Angela_Bassett", "Anna_Kournikova")


def face(data: Path, name: str, i: int = 1) -> np.ndarray:
    with Image.open(data / "lfw2" / name / f"{name}_{i:04d}.jpg") as im:
        return np.asarray(im.convert("L"))


def place(img: np.ndarray, s: np.ndarray, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """`img` put by the transform `s` on a noisy canvas of `size` (width, height), as the renders are."""
    import cv2
    canvas = np.clip(np.random.default_rng(seed).normal(128, 40, size[::-1]), 0, 255).astype(np.uint8)
    face = cv2.warpAffine(img, s, size, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.warpAffine(np.full_like(img, 255), s, size, flags=cv2.INTER_NEAREST)
    canvas[inside > 0] = face[inside > 0]
    return canvas


def eye_error(al, s: np.ndarray) -> float:
    back = apply(compose(al.transform, s), CANONICAL_EYES)
    return float(np.max(np.linalg.norm(back - np.array(CANONICAL_EYES), axis=1)))


@pytest.fixture(scope="module")
def faces(real_data: Path) -> dict[str, np.ndarray]:
    return {n: face(real_data, n) for n in PEOPLE if (real_data / "lfw2" / n).is_dir()}


def test_lfwa_crops_are_left_as_they_are(real_data) -> None:
    with Image.open(real_data / "lfw2" / "Al_Gore" / "Al_Gore_0001.jpg") as im:
        assert looks_aligned(im)
        assert looks_aligned(im.convert("RGB"))
        assert not looks_aligned(im.resize((300, 300)))


def test_alignment_recovers_the_eyes_of_rotated_rescaled_shifted_faces(faces) -> None:
    """Each face twice, at random angle (+-25 deg), scale (0.7-1.4) and shift (+-60 px) on a noisy 400x400 canvas."""
    errors = []
    for k, img in enumerate(faces.values()):
        for j in range(2):
            canvas, s = render_unaligned(img, np.random.default_rng([7, k, j]))
            errors.append(eye_error(align_face(canvas, "render"), s))
    errors = np.array(errors)
    assert np.median(errors) <= 5.0, errors.round(1)
    assert np.mean(errors <= 10.0) >= 0.8, errors.round(1)



def test_landmark_alignment_puts_the_eyes_closer_than_the_cascades_alone(faces) -> None:
    """The same renders aligned with and without dlib's landmarks (the `landmarks` extra): the landmarks bring
    the eyes closer to LFW-a's, in median and in the worst tenth, and mark the face as aligned by them."""
    with_lm, without = [], []
    for k, img in enumerate(faces.values()):
        for j in range(2):
            canvas, s = render_unaligned(img, np.random.default_rng([7, k, j]))
            al = align_face(canvas, "render", landmarks=True)
            assert al.method == "landmarks" and al.to_dict()["eyes"] is not None
            with_lm.append(eye_error(al, s))
            without.append(eye_error(align_face(canvas, "render"), s))
    with_lm, without = np.array(with_lm), np.array(without)
    assert np.median(with_lm) < np.median(without) and np.median(with_lm) <= 3.5, with_lm.round(1)
    assert np.percentile(with_lm, 90) < np.percentile(without, 90), (with_lm.round(1), without.round(1))


def test_the_five_point_model_aligns_the_eyes_as_closely_as_the_68_point_one(faces) -> None:
    """dlib's CC0 5-point model (`landmarks="5"`) on the same renders: its 5 points are reported, and the eyes land
    about as close to LFW-a's as with 18 of the 68 points (the two models measured side by side)."""
    five, sixty_eight = [], []
    for k, img in enumerate(faces.values()):
        for j in range(2):
            canvas, s = render_unaligned(img, np.random.default_rng([7, k, j]))
            al = align_face(canvas, "render", landmarks="5")
            assert al.method == "landmarks" and len(al.to_dict()["landmarks"]) == 5
            five.append(eye_error(al, s))
            sixty_eight.append(eye_error(align_face(canvas, "render", landmarks="68"), s))
    five, sixty_eight = np.array(five), np.array(sixty_eight)
    assert np.median(five) <= 3.5 and np.median(five) < np.median(sixty_eight) + 1.0, (five.round(1), sixty_eight.round(1))
    with pytest.raises(ValueError, match=r"landmark model '7'.*\['5', '68'\]"):
        align_face(canvas, "render", landmarks="7")


@pytest.mark.parametrize("angle", [-35.0, -20.0, 0.0, 20.0, 35.0])
def test_each_rotation_and_a_shift_is_recovered(faces, angle) -> None:
    img = faces["Andre_Agassi"]
    s = similarity(1.1, angle, (125, 125), (230, 190))
    al = align_face(place(img, s, (420, 380)), "rotated")
    assert eye_error(al, s) <= 8.0
    assert al.image.shape == (250, 250)


def test_threads_align_as_one_thread_does(faces) -> None:
    """Images are aligned in threads (`verify --pairs`): each thread has its own cascades, so the results are the
    same as one by one (a shared OpenCV cascade corrupts concurrent detections)."""
    from concurrent.futures import ThreadPoolExecutor
    canvases = [render_unaligned(img, np.random.default_rng([11, k]))[0] for k, img in enumerate(faces.values())]
    serial = [align_face(c, warn=False).transform for c in canvases]
    with ThreadPoolExecutor(4) as ex:
        threaded = list(ex.map(lambda c: align_face(c, warn=False).transform, canvases))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_several_faces_the_largest_with_a_warning(faces) -> None:
    big, small = faces["Andre_Agassi"], faces["Amelia_Vega"]
    s_big = similarity(1.2, 0, (125, 125), (180, 190))
    s_small = similarity(0.75, 0, (125, 125), (540, 190))
    wide = place(big, s_big, (700, 380))
    inside = place(np.full_like(small, 255), s_small, (700, 380), seed=1) == 255
    wide[inside] = place(small, s_small, (700, 380))[inside]
    with pytest.warns(UserWarning, match="2 faces found; using the largest"):
        al = align_face(wide, "two.png")
    assert al.n_faces == 2
    assert eye_error(al, s_big) <= 8.0
    with pytest.warns(UserWarning, match="2 faces found; using the largest"):
        v = lfwsiamese.verify(wide, big)  # the API warns too (and keeps the note in the result)
    assert any("2 faces found" in w for w in v.warnings)


def test_no_face_is_one_error_naming_the_file(real_data, tmp_path, capsys) -> None:
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)).save(noise)
    with pytest.raises(lfwsiamese.DataError, match="noise.png: no face found"):
        lfwsiamese.verify(noise, real_data / "lfw2" / "Al_Gore" / "Al_Gore_0001.jpg")
    rc = main(["verify", str(noise), str(real_data / "lfw2" / "Al_Gore" / "Al_Gore_0001.jpg")])
    err = capsys.readouterr().err
    assert rc == 2 and [l for l in err.splitlines() if l.startswith("error:")] == [
        l for l in err.splitlines() if "noise.png: no face found" in l and l.startswith("error:")] != []
    folder = tmp_path / "only-noise"
    folder.mkdir()
    noise.rename(folder / "noise.png")
    out = tmp_path / "emb.npz"
    rc = main(["embed", str(folder), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "no face found" in err and not out.exists()  # nothing written


def test_pairs_file_of_photos_with_a_faceless_row(real_data, faces, tmp_path, capsys) -> None:
    names = list(faces)[:3]
    for k, n in enumerate(names):
        canvas, _ = render_unaligned(faces[n], np.random.default_rng([3, k]))
        Image.fromarray(canvas).save(tmp_path / f"{n}.png")
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(tmp_path / "blank.png")
    orig = lambda n: real_data / "lfw2" / n / f"{n}_0001.jpg"
    rows = [f"{names[0]}.png,{orig(names[0])},1", f"{names[1]}.png,{orig(names[1])},1", f"blank.png,{orig(names[2])},0",
            f"{names[2]}.png,{orig(names[0])},0"]
    (tmp_path / "pairs.csv").write_text("path_a,path_b,label\n" + "\n".join(rows) + "\n")
    rc = main(["verify", "--pairs", str(tmp_path / "pairs.csv"), "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    res = json.loads(out)
    assert res["n_failed"] == 1 and "blank.png: no face found" in res["pairs"][2]["error"]
    assert "error: row 3:" in err
    assert all(p["score"] is not None for k, p in enumerate(res["pairs"]) if k != 2)
    assert all(0.0 <= p["score"] <= 1.0 for k, p in enumerate(res["pairs"]) if k != 2)
    # a photo made from an LFW-a crop, aligned, is the same person as that crop
    assert res["pairs"][0]["same"] and res["pairs"][1]["same"]


def test_identify_real_people(real_data, faces, tmp_path) -> None:
    g = tmp_path / "gallery"
    names = ["Al_Gore", "Andre_Agassi", "Adam_Sandler", "Alec_Baldwin"]
    for n in names:
        (g / n).mkdir(parents=True)
        for i in (2, 3):
            src = real_data / "lfw2" / n / f"{n}_{i:04d}.jpg"
            if src.is_file():
                (g / n / src.name).write_bytes(src.read_bytes())
    res = lfwsiamese.identify(faces["Al_Gore"], g, top=4)  # another photo of him: image 1, the gallery has 2 and 3
    assert [c.person for c in res.candidates][:1] == ["Al_Gore"] and res.person == "Al_Gore"
    assert res.n_people == 4 and res.candidates[0].n_images == 2


def test_the_landmark_template_is_what_its_measurement_gives(real_data) -> None:
    """TEMPLATE is typed from `measure_template` (600 DevTrain faces, seed 0): measured again, the same to 0.1 px."""
    from lfwsiamese.data.landmarks import TEMPLATE, measure_template
    assert np.abs(measure_template(real_data) - np.array(TEMPLATE)).max() < 0.1


def test_the_five_point_template_is_what_its_measurement_gives(real_data) -> None:
    """TEMPLATE5 is typed from `measure_template(model="5")` (the same 600 DevTrain faces): again, the same to 0.1 px."""
    from lfwsiamese.data.landmarks import TEMPLATE5, measure_template
    assert np.abs(measure_template(real_data, model="5") - np.array(TEMPLATE5)).max() < 0.1
