"""The record format: written atomically, read back identically, with the provenance of its code."""
from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lfwsiamese.data.protocols import ImageRef, Pair
from lfwsiamese.files import atomic_write, atomic_write_json
from lfwsiamese.records import provenance
from lfwsiamese.records.schema import RECORD_FILES, SCORE_COLUMNS
from lfwsiamese.records.store import (
    RunOutput,
    load_record,
    pairs_from_scores,
    scores_frame,
    start_record,
    write_record,
)
from tests.synth import tiny_config


def _pairs(n: int) -> list[Pair]:
    return [Pair(ImageRef(f"P_{k}", 1), ImageRef(f"P_{k}" if k % 2 else f"Q_{k}", 2)) for k in range(n)]


def _output(cfg, save_model=None) -> RunOutput:
    rng = np.random.default_rng(0)
    val, test = _pairs(6), _pairs(8)
    metrics = {"threshold": 0.5, "threshold_source": "validation (max accuracy)",
               "val": {"accuracy": 0.75, "auc": 0.8125, "confusion_matrix": [[2, 1], [0, 3]]},
               "test": {"accuracy": 0.625, "auc": 0.6875}, "epochs_run": 2, "fit_seconds": 1.5, "resumed": False}
    hist = pd.DataFrame({"epoch": [0, 1], "loss": [0.9, 0.7], "val_loss": [0.8, 0.75]})
    return RunOutput(cfg, metrics, hist, val, rng.random(6), test, rng.random(8), {"cpu": "x", "git_commit": "abc"},
                     {"conv/kernel": {"shape": [1]}}, save_model)


def test_record_round_trip_is_identical(tmp_path: Path) -> None:
    cfg = tiny_config()
    out = _output(cfg)
    rec = write_record(tmp_path, out)
    assert all((tmp_path / f).is_file() for f in RECORD_FILES)
    again = load_record(tmp_path)
    assert again.config == cfg and again.metrics == out.metrics == rec.metrics
    pd.testing.assert_frame_equal(again.history, out.history)
    assert list(again.scores.columns) == list(SCORE_COLUMNS)
    np.testing.assert_array_equal(again.scores["score"].to_numpy(), out.test_scores)  # full float precision
    assert pairs_from_scores(again.val_scores) == list(out.val_pairs)
    assert again.weights == out.weights and again.env == out.env


def test_scores_frame_and_reader_are_inverse() -> None:
    pairs = _pairs(5)
    df = scores_frame(pairs, np.linspace(0, 1, 5))
    assert pairs_from_scores(df) == pairs and df["label"].tolist() == [p.label for p in pairs]


def test_metrics_is_written_last_and_a_failed_model_write_leaves_no_record(tmp_path: Path) -> None:
    def full_disk(path: Path) -> None:
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(OSError, match="No space left"):
        write_record(tmp_path, _output(tiny_config(), save_model=full_disk))
    assert not (tmp_path / "metrics.json").exists()  # no reader ever sees this record as complete
    assert not (tmp_path / "model.keras").exists() and not list(tmp_path.glob(".model*"))


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})

    def fail(f) -> None:
        f.write(b"{\"a\": ")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_text() == '{\n  "a": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


def test_provenance_patch_rebuilds_the_code_of_a_dirty_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "lfwsiamese").mkdir(parents=True)
    (repo / "lfwsiamese" / "a.py").write_text("x = 1\n")
    (repo / "pyproject.toml").write_text("[project]\n")
    (repo / "notes.md").write_text("not code\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "start")
    clean = provenance.capture(repo)
    assert not clean.dirty and len(clean.commit) == 40 and clean.label == clean.commit
    (repo / "notes.md").write_text("changed, but not code\n")
    assert not provenance.capture(repo).dirty
    (repo / "lfwsiamese" / "a.py").write_text("x = 2\n")
    (repo / "lfwsiamese" / "new.py").write_text("y = 3\n")  # untracked code counts too
    dirty = provenance.capture(repo)
    assert dirty.dirty and dirty.commit == clean.commit and dirty.label.endswith("+dirty")
    # the record's patch applied to its commit gives back exactly the code that ran
    cfg = tiny_config()
    run = tmp_path / "run"
    start_record(run, cfg, dirty)
    rebuilt = tmp_path / "rebuilt"
    _git(repo, "worktree", "add", "-q", str(rebuilt), dirty.commit)
    _git(rebuilt, "apply", str(run / "code.patch"))
    assert (rebuilt / "lfwsiamese" / "a.py").read_text() == "x = 2\n"
    assert (rebuilt / "lfwsiamese" / "new.py").read_text() == "y = 3\n"
    start_record(run, cfg, clean)  # a clean start removes a stale patch
    assert not (run / "code.patch").exists()


def test_provenance_outside_git_is_unknown(tmp_path: Path) -> None:
    p = provenance.capture(tmp_path)
    assert p.commit == "unknown" and not p.dirty


def test_training_commands_warn_on_a_dirty_tree(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from lfwsiamese.cli import commands
    monkeypatch.setattr(provenance, "capture", lambda root=None: provenance.Provenance("a" * 40, "diff --git ..."))
    commands.warn_if_dirty()
    err = capsys.readouterr().err
    assert "differs from commit aaaaaaaaaa" in err and "code.patch" in err
    monkeypatch.setattr(provenance, "capture", lambda root=None: provenance.Provenance("a" * 40, ""))
    commands.warn_if_dirty()
    assert capsys.readouterr().err == ""
