"""Ordinary photos of real people (tests/data/photos, sources and licences in SOURCES.md): every face is found, and
every decision on every pair of them is right except the known wrong ones (`KNOWN_WRONG`), with the shipped model
as it is installed; one face per photo means no several-faces warning, and a photo of two people warns and names
the face it used."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lfwsiamese.data.align import detect_faces
from lfwsiamese.serve.scorer import load_shipped
from lfwsiamese.serve.verify import verify_pair
from tests.cli_helpers import run_cli

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
FILES = sorted(PHOTOS.glob("*.jpg"))


def person(p: Path) -> str:
    return p.stem.rsplit("_", 1)[0]


PAIRS = list(itertools.combinations(FILES, 2))


def test_the_photos_are_small_and_listed_with_their_licence() -> None:
    sources = (PHOTOS / "SOURCES.md").read_text()
    assert len(FILES) >= 8 and len({person(p) for p in FILES}) >= 5
    assert sum(person(a) == person(b) for a, b in PAIRS) >= 4
    for p in FILES:
        assert f"`{p.name}`" in sources, p.name
        with Image.open(p) as im:
            assert max(im.size) <= 600 and im.format == "JPEG"


@pytest.fixture(scope="module")
def decisions() -> dict[tuple[str, str], object]:
    scorer = load_shipped()
    return {(a.name, b.name): verify_pair(scorer, str(a), str(b)) for a, b in PAIRS}


def test_every_face_is_found_and_no_photo_warns_of_several(decisions) -> None:
    for v in decisions.values():
        assert all(f is not None and f["n_faces"] == 1 for f in v.faces), v.faces
        assert not v.warnings, v.warnings


#: Pairs the shipped model decides wrongly, shown as such in the book's verifier chapter: different people whose
#: calibrated P(same person) is above 0.5. A measured negative result, not a hope: the test asserts that exactly
#: these pairs are wrong, so a model or pipeline that changes any decision fails here until this list and the
#: chapter are updated (issue #34 stays open until the list is empty).
KNOWN_WRONG = {("biden_1.jpg", "obama_3.jpg"), ("collins_1.jpg", "rudd_1.jpg"), ("pratt_1.jpg", "rudd_1.jpg")}


def test_every_decision_is_right_except_the_known_wrong_ones(decisions) -> None:
    wrong = {pair for pair, v in decisions.items() if v.same != (person(Path(pair[0])) == person(Path(pair[1])))}
    scores = {pair: round(decisions[pair].score, 3) for pair in wrong ^ KNOWN_WRONG}
    assert wrong == KNOWN_WRONG, f"wrong decisions changed: {scores}"
    assert len(decisions) - len(wrong) == 25  # README: 25 of the 28 pairs decided right


def test_two_people_in_one_photo_warn_and_the_largest_face_is_named(tmp_path: Path, capsys) -> None:
    big, small = Image.open(PHOTOS / "rudd_1.jpg").convert("RGB"), Image.open(PHOTOS / "obama_1.jpg").convert("RGB")
    both = Image.new("RGB", (big.width + small.width, max(big.height, small.height)), (128, 128, 128))
    both.paste(small, (0, 0))
    both.paste(big, (small.width, 0))
    path = tmp_path / "two.jpg"
    both.save(path, quality=92)
    largest = detect_faces(np.asarray(Image.open(path).convert("L")))[0]
    assert largest.cx > small.width  # the larger face is Paul Rudd's, on the right
    rc, out, err = run_cli(capsys, "verify", str(path), str(PHOTOS / "rudd_2.jpg"), "--json")
    assert rc == 0
    res = json.loads(out)
    assert res["same"] is True  # the largest face, Paul Rudd's, was used
    assert "2 faces found; using the largest" in err and largest.describe() in err
    face = res["faces"][0]
    assert face["n_faces"] == 2 and face["box"] == [round(v, 1) for v in largest.box]
    assert len(face["eyes"]) == 2 and res["faces"][1]["n_faces"] == 1


def test_json_has_each_image_face_box_and_eyes(capsys) -> None:
    rc, out, _ = run_cli(capsys, "verify", str(PHOTOS / "obama_1.jpg"), str(PHOTOS / "obama_2.jpg"), "--json")
    res = json.loads(out)
    assert rc == 0 and res["same"] is True and 0 <= res["raw_score"] <= 1
    for f, p in zip(res["faces"], ("obama_1.jpg", "obama_2.jpg")):
        x, y, w, h = f["box"]
        with Image.open(PHOTOS / p) as im:
            assert 0 <= x and 0 <= y and x + w <= im.width + 1 and y + h <= im.height + 1
        (lx, ly), (rx, ry) = f["eyes"]
        assert x < lx < rx < x + w and y < ly < y + h / 2 and y < ry < y + h / 2  # the eyes in the upper half
        pts = np.array(f["landmarks"])  # the shipped alignment's last step: dlib's 5 points, or 18 of its 68
        assert f["method"] == "landmarks" and len(pts) == (5 if load_shipped().landmarks == "5" else 18)
        assert ((pts >= [x, y]) & (pts <= [x + w, y + h])).all()  # every point inside the face's box
        # the eye centres: the first two of the 18; the mean of each eye's two corners of the 5 (right eye first)
        centres = pts[:2] if len(pts) == 18 else np.array([pts[2:4].mean(0), pts[0:2].mean(0)])
        np.testing.assert_allclose(centres, f["eyes"], atol=12)
