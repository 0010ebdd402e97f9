"""The command line: user errors are one `error:` line and exit 2; `data check` names every problem."""
from __future__ import annotations

import os
import shutil
import sys
import types
from pathlib import Path
from typing import Iterator

import pytest

from lfwsiamese.cli import main
from lfwsiamese.data.check import check_data, list_images
from lfwsiamese.data.protocols import (
    OFFICIAL_SHA256,
    image_counts,
    load_pairs,
    packaged_path,
)


@pytest.fixture(autouse=True)
def _never_train(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """If an error were missed, `train` must fail fast here instead of training a network."""
    stub = types.ModuleType("lfwsiamese.runs.experiments")

    def load_or_run(*a, **kw):
        raise AssertionError("train went past configuration checking")

    stub.load_or_run = load_or_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lfwsiamese.runs.experiments", stub)
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(tmp_path / "results"))


def write_full_layout(root: Path) -> Path:
    """Every LFW-a file name (empty files: `data check` reads names, not pixels) and the official splits."""
    for name, count in image_counts().items():
        d = root / "lfw2" / name
        d.mkdir(parents=True)
        for i in range(1, count + 1):
            (d / f"{name}_{i:04d}.jpg").touch()
    (root / "splits").mkdir()
    for fname in OFFICIAL_SHA256:
        shutil.copyfile(packaged_path(fname), root / "splits" / fname)
    return root


@pytest.fixture(scope="module")
def _full_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = write_full_layout(tmp_path_factory.mktemp("full") / "lfwa")
    yield base
    shutil.rmtree(base)  # ~19,000 entries: do not leave them for pytest's retention


@pytest.fixture
def full_layout(_full_base: Path, tmp_path: Path) -> Path:
    """A private full layout: lfw2 linked to one shared copy (see `_own` before removing images), splits copied."""
    root = tmp_path / "lfwa"
    root.mkdir()
    (root / "lfw2").symlink_to(_full_base / "lfw2", target_is_directory=True)
    shutil.copytree(_full_base / "splits", root / "splits")
    return root


def _own(root: Path, person: str) -> Path:
    """Give `root` its own lfw2 (person folders linked) and its own copy of `person`, which may then be changed."""
    lfw2 = root / "lfw2"
    if lfw2.is_symlink():
        shared = lfw2.resolve()
        lfw2.unlink()
        lfw2.mkdir()
        for name in os.listdir(shared):
            (lfw2 / name).symlink_to(shared / name, target_is_directory=True)
    link = lfw2 / person
    target = link.resolve()
    link.unlink()
    shutil.copytree(target, link)
    return link


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------ user errors


def test_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["data", "check", "--data", str(missing)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(missing) in line and "--data" in line and "lfwsiamese data fetch" in line


def test_missing_data_folder_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFWSIAMESE_DATA", str(tmp_path / "gone"))
    assert main(["data", "check"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "gone") in line and "from LFWSIAMESE_DATA" in line


def test_unknown_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", "nope"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'nope'" in line and "reference" in line and "reference-pairval" in line and "reference-fp32" in line


@pytest.mark.parametrize(("setting", "named"), [
    ("train.learning_rate=-1", "learning_rate"),
    ("learning_rate=0", "learning_rate"),
    ("batch_size=0", "batch_size"),
    ("bogus=1", "bogus"),
    ("early_stopping=maybe", "early_stopping"),
    ("learning_rate", "learning_rate"),  # no '='
])
def test_bad_set(setting: str, named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", setting]) == 2
    assert named in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv, named", [
    (["evaluate", "--protocol", "view2"], "--config NAME"),
    (["evaluate", "--protocol", "view2", "--config", "improved", "--folds", "3,11"], "folds 0..9"),
    (["evaluate", "--protocol", "view2", "--config", "improved", "--folds", "a"], "comma-separated"),
    (["evaluate", "--protocol", "view2", "--config", "nope"], "unknown config 'nope'"),
    (["evaluate", "some/run", "--protocol", "view2", "--config", "improved"], "not a run folder"),
    (["evaluate", "--config", "improved"], "--protocol view2"),
])
def test_view2_evaluation_errors(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert named in _one_error_line(capsys.readouterr().err)


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["train", "--seed", "x"])
    assert ei.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "data", "check", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "DataError" in err
    assert err.strip().splitlines()[-1].startswith("error: LFW-a not found")


# ----------------------------------------------------------------------------------------- data check


def test_data_check_on_the_tiny_folder_reports_counts(tiny_lfw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--data", str(tiny_lfw), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert f"LFW-a at {tiny_lfw}: 8 people, 20 images" in out
    assert "8 people with images, expected 5749" in err and "20 images, expected 13233" in err
    assert "Traceback" not in err


def test_tiny_folder_with_its_own_counts(tiny_lfw: Path) -> None:
    rep = check_data(tiny_lfw, progress=False, expected_people=8, expected_images=20)
    assert rep.n_people == 8 and rep.n_images == 20
    assert not any("expected 8" in p or "expected 20" in p for p in rep.problems)
    # its generated protocol files are not the official ones, and say so by name
    sha = [p for p in rep.problems if "sha256" in p]
    assert {Path(p.split(":")[0]).name for p in sha} == {
        "pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt", "peopleDevTest.txt"}
    # View 2 falls back to the packaged pairs.txt, whose people this folder lacks
    assert any("referenced by pairs.txt" in p for p in rep.problems)
    # the generated View 1 files do match the images
    assert not any("referenced by pairsDev" in p for p in rep.problems)
    assert not any(p.startswith("peopleDev") for p in rep.problems)


def test_full_layout_passes(full_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = check_data(full_layout, progress=False)
    assert rep.ok, rep.problems
    assert (rep.n_people, rep.n_images) == (5749, 13233)
    table = {row[0]: row[1:] for row in rep.table}
    assert table["pairsDevTrain.txt"] == (2200, 2132, 3443)
    assert table["pairsDevTest.txt"][:2] == (1000, 963)
    assert table["peopleDevTrain.txt"] == (4038, 4038, 9525)
    assert table["peopleDevTest.txt"] == (1711, 1711, 3708)
    assert all(table[f"View 2 fold {k}"][0] == 600 for k in range(1, 11))
    assert main(["data", "check", "--data", str(full_layout), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "OK:" in out and err == ""


@pytest.mark.parametrize("fname", ["pairsDevTest.txt", "people.txt", "lfw-names.txt"])
def test_edited_protocol_file_is_named(full_layout: Path, fname: str) -> None:
    f = full_layout / "splits" / fname
    f.write_bytes(f.read_bytes() + b"\n")  # still parses the same, but is not the official file
    rep = check_data(full_layout, progress=False)
    assert len(rep.problems) == 1
    assert rep.problems[0].startswith(f"{f}: sha256") and "differs from the official" in rep.problems[0]


def test_edited_alias_is_named(full_layout: Path) -> None:
    alias = full_layout / "splits" / "train.txt"
    alias.write_text(packaged_path("pairsDevTrain.txt").read_text().replace("Aaron_Peirsol\t1\t2", "Aaron_Peirsol\t2\t1"))
    rep = check_data(full_layout, progress=False)
    assert [p for p in rep.problems if "sha256" in p] and all(str(alias) in p for p in rep.problems)


def test_removed_image_is_named(full_layout: Path, _full_base: Path) -> None:
    first = load_pairs("pairsDevTrain.txt")[0].a  # Aaron_Peirsol/Aaron_Peirsol_0001.jpg
    path = _own(full_layout, first.name) / Path(first.relpath).name
    path.unlink()
    rep = check_data(full_layout, progress=False)
    assert f"{path}: missing, referenced by pairsDevTrain.txt" in rep.problems
    assert f"{full_layout / 'lfw2'}: 13232 images, expected 13233" in rep.problems
    assert any(p.startswith("peopleDevTrain.txt: Aaron_Peirsol should have") for p in rep.problems)
    assert len(list_images(full_layout)) == 13232
    assert (_full_base / "lfw2" / first.relpath).is_file()  # the shared copy is untouched


def test_removed_person_lists_at_most_ten_missing_images_per_file(full_layout: Path) -> None:
    shutil.rmtree(_own(full_layout, "Tony_Blair"))  # 14 of his images are referenced by pairs.txt
    rep = check_data(full_layout, progress=False)
    missing = [p for p in rep.problems if p.endswith("referenced by pairs.txt")]
    assert len(missing) == 10 and all("/Tony_Blair/Tony_Blair_" in p for p in missing)
    assert "... and 4 more images referenced by pairs.txt are missing" in rep.problems
    assert any("5748 people with images, expected 5749" in p for p in rep.problems)


def test_missing_splits_folder_falls_back_to_packaged_files(full_layout: Path) -> None:
    shutil.rmtree(full_layout / "splits")
    rep = check_data(full_layout, progress=False)
    assert rep.ok and rep.problems == []  # the packaged protocols stand in: only images are required
    assert len(rep.notes) == 1 and "splits: missing" in rep.notes[0]
    assert rep.table and rep.table[0] == ("pairsDevTrain.txt", 2200, 2132, 3443)


def test_broken_protocol_file_is_a_problem_not_a_crash(full_layout: Path) -> None:
    f = full_layout / "splits" / "pairsDevTest.txt"
    f.write_text("500\nonly one line\n")
    rep = check_data(full_layout, progress=False)
    assert any(p.startswith(f"{f}:1") and "promises" in p for p in rep.problems)
    f.write_bytes(b"\xff\xfe500\n")
    rep = check_data(full_layout, progress=False)
    assert any(p.startswith(str(f)) and "not UTF-8" in p for p in rep.problems)
