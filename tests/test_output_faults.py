"""Records under environment faults: an unusable output location is one `error:` line before any work, and a write
that fails part-way (a full disk) stops the run with the file named, no `metrics.json`, a whole checkpoint, and a
rerun that writes the same record as an uninterrupted run.

Tests run as root in CI, where a folder's mode bits stop nothing: what cannot be created here is a folder under a
file, under /proc, or on a read-only mount (when the machine lets the test mount a tmpfs).
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
import pandas as pd
import pytest

from lfwsiamese import files, recipes
from lfwsiamese.cli import main
from lfwsiamese.errors import OutputError, RunError
from lfwsiamese.files import check_writable_dir
from lfwsiamese.records import store as E
from lfwsiamese.records.schema import RECORD_FILES
from lfwsiamese.training import checkpoint as K
from lfwsiamese.training import run as R
from tests.synth import make_dataset, tiny_config

#: Early stopping that certainly stops after the second of four epochs (no later epoch beats the first by 10), so a
#: rerun must also know that training had ended.
CFG = tiny_config(epochs=4, es_min_delta=10.0, es_patience=1, test_each_epoch=False)
ENOSPC = f"No space left on device ({errno.errorcode[errno.ENOSPC]})"


def _error_line(err: str) -> str:
    """The one `error:` line (a dirty tree adds a `warning:` line), and no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------- the output location, before any work

@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data that do not exist: a command that went past its output check would stop with a data error instead."""
    monkeypatch.setenv("LFWSIAMESE_DATA", str(tmp_path / "no-data"))


WRITERS = [
    ["train", "--config", "reference"],
    ["sweep", "lr"],
    ["evaluate", "--protocol", "view2", "--config", "reference", "--folds", "0"],
]


@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: a[0])
@pytest.mark.parametrize("source", ["--results", "LFWSIAMESE_RESULTS"])
def test_results_path_that_is_a_file(argv: list[str], source: str, tmp_path: Path, no_data: None,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results.txt"
    f.write_text("not a folder\n")
    before = _listing(tmp_path)
    if source == "--results":
        argv = argv + ["--results", str(f)]
        fix = "pass --results a folder you can write"
    else:
        monkeypatch.setenv("LFWSIAMESE_RESULTS", str(f))
        fix = "point LFWSIAMESE_RESULTS at a folder you can write (it is created if missing), or unset it"
    assert main(argv + ["--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: results folder {f} (from {source}) is a file, not a folder; {fix}"), line
    assert f.read_text() == "not a folder\n" and _listing(tmp_path) == before  # nothing written


def test_default_results_path_that_is_a_file(tmp_path: Path, no_data: None, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LFWSIAMESE_RESULTS", raising=False)
    monkeypatch.setattr(E, "project_root", lambda: tmp_path)
    (tmp_path / "results").write_text("")
    assert main(["train", "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line == (f"error: results folder {tmp_path / 'results'} (from the default results/ in the project) is a "
                    f"file, not a folder; pass --results or set LFWSIAMESE_RESULTS to a folder you can write")


@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: a[0])
def test_results_under_a_file_cannot_be_created(argv: list[str], tmp_path: Path, no_data: None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    parent = tmp_path / "a-file"
    parent.write_text("")
    results = parent / "results"
    assert main(argv + ["--results", str(results), "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line == (f"error: results folder {results} (from --results) cannot be created: {parent} is a file, not a "
                    f"folder; pass --results a folder you can write (it is created if missing)")
    assert _listing(tmp_path) == ["a-file"]


def test_results_whose_runs_is_a_file(tmp_path: Path, no_data: None, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "runs").write_text("")
    assert main(["train", "--results", str(tmp_path / "results"), "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: results folder {tmp_path / 'results'} (from --results) cannot be used: "
                           f"{tmp_path / 'results' / 'runs'} is a file, not a folder; pass --results")


def test_commands_that_only_read_are_not_refused(tmp_path: Path, no_data: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results.txt"
    f.write_text("")
    assert main(["sweep", "lr", "--dry-run", "--results", str(f)]) == 0
    assert main(["runs", "--results", str(f)]) == 0
    assert "error" not in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_results_under_proc_cannot_be_created(no_data: None, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    results = Path("/proc/lfwsiamese-test/results")  # no one, root included, creates folders in /proc
    monkeypatch.setenv("LFWSIAMESE_RESULTS", str(results))
    assert main(["train", "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: results folder {results} (from LFWSIAMESE_RESULTS) cannot be created: ")
    assert "No such file or directory (ENOENT)" in line and "point LFWSIAMESE_RESULTS at a folder you can write" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_takes_no_file_is_not_writable() -> None:
    with pytest.raises(OutputError, match=r"^results folder /proc \(from --results\) is not writable: .*"
                                          r"\(creating a file in /proc\); pass --results"):
        check_writable_dir("/proc", "results folder /proc (from --results)", "pass --results a folder you can write")


def test_results_folder_without_write_permission(tmp_path: Path, no_data: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    (results / "runs").chmod(0o555)
    try:
        if os.access(results / "runs", os.W_OK):
            pytest.skip("running as root: mode bits do not stop writes (see the read-only mount test)")
        assert main(["train", "--results", str(results), "--quiet"]) == 2
        line = _error_line(capsys.readouterr().err)
        assert line.startswith(f"error: results folder {results} (from --results) is not writable: Permission denied")
    finally:
        (results / "runs").chmod(0o755)


def test_embed_out_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parent = tmp_path / "a-file"
    parent.write_text("")
    out = parent / "emb.npz"
    assert main(["embed", str(tmp_path), "--out", str(out), "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line == (f"error: --out {out} cannot be created: {parent} is a file, not a folder; give --out a file in a "
                    f"folder you can write")


def test_bench_out_under_a_file_is_refused_before_the_benchmark(tmp_path: Path, no_data: None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    parent = tmp_path / "a-file"
    parent.write_text("")
    out = parent / "bench.json"
    assert main(["bench", "--out", str(out), "--steps", "1", "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: --out {out} cannot be created: {parent} is a file, not a folder; give --out a file")


def test_oneshot_table_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    E.write_record(run, _fake_output())
    (run / "oneshot.csv").mkdir()  # where the table would go
    assert main(["oneshot", "--run", str(run), "--ways", "5", "--trials", "1", "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: one-shot table {run / 'oneshot.csv'} is a folder, not a file; ")


def _fake_output() -> E.RunOutput:
    from lfwsiamese.data.protocols import ImageRef, Pair
    pairs = [Pair(ImageRef("A_a", 1), ImageRef("A_a" if k % 2 else "B_b", 2)) for k in range(4)]
    metrics = {"threshold": 0.5, "val": {"accuracy": 1.0, "auc": 1.0}, "test": {"accuracy": 1.0, "auc": 1.0},
               "epochs_run": 1}
    return E.RunOutput(tiny_config(), metrics, pd.DataFrame({"epoch": [0], "loss": [0.5]}), pairs,
                       np.linspace(0, 1, 4), pairs, np.linspace(0, 1, 4), {})


# ------------------------------------------------------------- a checkpoint is written whole or not at all

def _compiled() -> keras.Model:
    from lfwsiamese.training.optim import build_models
    model, _ = build_models(tiny_config(), 4)
    model.optimizer.build(model.trainable_variables)
    return model


def _full_disk_at(call: int) -> Callable:
    """A stand-in for np.savez that writes half a file on its `call`-th use and fails as a full disk does."""
    real = np.savez
    calls = []

    def savez(f, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(f, *args, **kwargs)
    return savez


def test_a_checkpoint_that_fails_part_way_leaves_the_previous_one(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model = _compiled()
    for v in model.optimizer.variables:  # recognisable optimizer state
        v.assign(np.full(v.shape, 3, v.dtype))
    K.save_checkpoint(model, tmp_path, 1)
    saved = [np.array(v) for v in model.weights + model.optimizer.variables]
    monkeypatch.setattr(K.np, "savez", _full_disk_at(1))
    for v in model.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    with pytest.raises(OutputError) as ei:
        K.save_checkpoint(model, tmp_path, 2)
    assert str(ei.value).startswith(f"could not write {tmp_path / '_backup' / 'epoch-0002'}: {ENOSPC}; "
                                    f"the run stopped and wrote no metrics.json")
    assert _listing(tmp_path / "_backup") == ["epoch-0001", "epoch-0001/state.npz",
                                             "epoch-0001/training_metadata.json"]
    ck = K.latest_checkpoint(tmp_path)
    assert ck is not None and (ck.path.name, ck.epoch, ck.finished) == ("epoch-0001", 1, False)
    fresh = _compiled()
    K.load_checkpoint(fresh, ck)
    for a, b in zip(saved, fresh.weights + fresh.optimizer.variables):
        np.testing.assert_array_equal(a, np.array(b))


def test_newer_checkpoint_replaces_older_and_fitted_wins(tmp_path: Path) -> None:
    model = _compiled()
    K.save_checkpoint(model, tmp_path, 1)
    K.save_checkpoint(model, tmp_path, 2, stopped=True)
    assert [p.name for p in (tmp_path / "_backup").iterdir()] == ["epoch-0002"]
    ck = K.latest_checkpoint(tmp_path)
    assert (ck.epoch, ck.finished) == (2, True)  # early stopping ended training there
    K.save_checkpoint(model, tmp_path, 2, finished=True)
    assert [p.name for p in (tmp_path / "_backup").iterdir()] == ["fitted"]
    assert K.latest_checkpoint(tmp_path).path.name == "fitted"


def test_a_backup_written_before_this_layout_still_resumes(tmp_path: Path) -> None:
    """Keras' own BackupAndRestore layout (runs interrupted by an older version): latest.weights.h5 + metadata."""
    model = _compiled()
    for v in model.weights:
        v.assign(np.full(v.shape, 0.25, v.dtype))
    (tmp_path / "_backup").mkdir()
    model.save_weights(str(tmp_path / "_backup" / "latest.weights.h5"))
    (tmp_path / "_backup" / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    ck = K.latest_checkpoint(tmp_path)
    assert ck is not None and ck.legacy and (ck.epoch, ck.finished) == (3, False)
    fresh = _compiled()
    K.load_checkpoint(fresh, ck)
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from lfwsiamese.training.optim import build_models
    K.save_checkpoint(_compiled(), tmp_path, 1)
    cfg = tiny_config()
    other, _ = build_models(replace(cfg, model=replace(cfg.model, dense_units=8)), 4)
    with pytest.raises(RunError, match="does not fit the model"):
        K.load_checkpoint(other, K.latest_checkpoint(tmp_path))


# ------------------------------------------------------------------ a write fails part-way through a run

@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_dataset(tmp_path_factory.mktemp("synth")))


@pytest.fixture(scope="module")
def reference(synth_data: str, tmp_path_factory: pytest.TempPathFactory) -> E.Record:
    """The uninterrupted run every rerun must reproduce."""
    rec = R.train_run(CFG, data=synth_data, results=tmp_path_factory.mktemp("reference"), progress=False)
    assert rec.metrics["epochs_run"] == 2  # early stopping ended it, as CFG means to
    return rec


def _train(data: str, results: Path) -> list[str]:
    return ["train", "--config", "tiny", "--data", data, "--results", str(results), "--quiet"]


def _fail_atomic_write(monkeypatch: pytest.MonkeyPatch, name: str, call: int) -> None:
    """The `call`-th atomic write of a file called `name` writes half its content, then the disk is full."""
    real = files.atomic_write
    calls = []

    def atomic_write(path, fill):
        if Path(path).name != name:
            return real(path, fill)
        calls.append(1)
        if len(calls) != call:
            return real(path, fill)

        def half(f) -> None:
            f.write(b"half of " + name.encode())
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, half)
    monkeypatch.setattr(files, "atomic_write", atomic_write)


def _inject(site: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make one write of the run fail as a full disk does; returns the path (in the run folder) named in the error."""
    if site == "checkpoint":  # the checkpoint of the second epoch
        monkeypatch.setattr(K.np, "savez", _full_disk_at(2))
        return "_backup/epoch-0002"
    if site == "fitted":  # the checkpoint of the fitted weights, after the two epochs' ones
        monkeypatch.setattr(K.np, "savez", _full_disk_at(3))
        return "_backup/fitted"
    name, call = {"history": ("history.csv", 2), "scores": ("scores.csv", 1), "metrics": ("metrics.json", 1)}[site]
    _fail_atomic_write(monkeypatch, name, call)
    return name


def _rows(path: Path) -> int:
    return len(pd.read_csv(path))


@pytest.mark.slow
@pytest.mark.parametrize("site", ["checkpoint", "history", "fitted", "scores", "metrics"])
def test_full_disk_at_each_write_stops_cleanly_and_the_rerun_writes_the_same_record(
        site: str, synth_data: str, reference: E.Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(recipes.CONFIGS, "tiny", CFG)
    run_dir = E.run_dir_for(CFG, tmp_path)
    with monkeypatch.context() as m:
        named = _inject(site, m)
        assert main(_train(synth_data, tmp_path)) == 2
    line = _error_line(capsys.readouterr().err)
    assert line == f"error: could not write {run_dir / named}: {ENOSPC}; {E.RESUME_HINT}"
    # no reader ever sees this record, and nothing half-written is left
    assert not (run_dir / "metrics.json").exists()
    with pytest.raises(RunError, match="incomplete"):
        E.load_record(run_dir)
    assert E.list_runs(tmp_path).empty
    assert not [p for p in run_dir.rglob(".*")], _listing(run_dir)  # no temporary or staging file
    ck = K.latest_checkpoint(run_dir)
    backup = sorted(p.name for p in (run_dir / "_backup").iterdir())
    if site in ("checkpoint", "history"):  # stopped at the end of the second epoch: the first one's checkpoint
        assert backup == ["epoch-0001"] and (ck.epoch, ck.finished) == (1, False)
        assert _rows(run_dir / "history.csv") == (2 if site == "checkpoint" else 1)  # the row before the checkpoint
    elif site == "fitted":  # training had ended: the last epoch's checkpoint says so, the rerun trains no epoch
        assert backup == ["epoch-0002"] and (ck.epoch, ck.finished) == (2, True)
        assert _rows(run_dir / "history.csv") == 2
    else:  # training had ended: the fitted weights are kept, the rerun scores them without training
        assert backup == ["fitted"] and (ck.epoch, ck.finished) == (2, True)
        assert _rows(run_dir / "history.csv") == 2
    present = {p.name for p in run_dir.iterdir()}
    if site == "scores":
        assert {"config.json", "history.csv"} <= present and "scores.csv" not in present
    if site == "metrics":
        assert set(RECORD_FILES) - {"metrics.json"} <= present and "model.keras" in present

    # space is back: the same command finishes the run, and its record is the uninterrupted run's
    assert main(_train(synth_data, tmp_path)) == 0
    capsys.readouterr()
    rec = E.load_record(run_dir)
    assert rec.metrics["resumed"] is True and rec.metrics["epochs_run"] == reference.metrics["epochs_run"]
    np.testing.assert_array_equal(rec.scores["score"].to_numpy(), reference.scores["score"].to_numpy())
    np.testing.assert_array_equal(rec.val_scores["score"].to_numpy(), reference.val_scores["score"].to_numpy())
    assert rec.weights == reference.weights
    cols = ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    pd.testing.assert_frame_equal(rec.history[cols], reference.history[cols])
    assert not (run_dir / "_backup").exists()


@pytest.mark.slow
def test_full_disk_after_fitting_keeps_the_best_weights(synth_data: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Early stopping restored the first epoch's weights in memory: the rerun scores those, not the last epoch's."""
    from dataclasses import replace
    cfg = replace(CFG, train=replace(CFG.train, restore_best=True)).validate()
    full = R.train_run(cfg, data=synth_data, results=tmp_path / "a", progress=False, save_model=False)
    with monkeypatch.context() as m:
        _fail_atomic_write(m, "metrics.json", 1)
        with pytest.raises(OutputError, match="metrics.json: No space left on device"):
            R.train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False, save_model=False)
    again = R.train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False, save_model=False)
    np.testing.assert_array_equal(full.scores["score"].to_numpy(), again.scores["score"].to_numpy())


# ------------------------------------------------------------------------ a real small file system

@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """mount(options) -> a fresh tmpfs folder; skipped where the machine does not let the tests mount one."""
    mounted: list[Path] = []

    def mount(options: str = "size=2m") -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)


def test_results_on_a_read_only_file_system(tmpfs, no_data: None, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmpfs("ro,size=1m")
    assert main(["train", "--results", str(ro / "results"), "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: results folder {ro / 'results'} (from --results) cannot be created: "
                           f"Read-only file system (EROFS)")
    rw = tmpfs("size=1m")
    (rw / "results" / "runs").mkdir(parents=True)
    subprocess.run(["mount", "-o", "remount,ro", str(rw)], check=True)
    assert main(["train", "--results", str(rw / "results"), "--quiet"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: results folder {rw / 'results'} (from --results) is not writable: "
                           f"Read-only file system (EROFS) (creating a file in {rw / 'results' / 'runs'})")


@pytest.mark.slow
def test_a_real_full_disk_in_the_middle_of_a_run(tmpfs, synth_data: str, reference: E.Record,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The disk fills up while the second epoch trains: its checkpoint (70 kB) no longer fits."""
    disk = tmpfs("size=2m")
    filler = disk / "filler"
    real_callbacks = R.make_callbacks

    class FillDisk(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                st = os.statvfs(disk)
                with open(filler, "wb") as f:
                    f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 32 * 1024))

    monkeypatch.setattr(R, "make_callbacks", lambda *a, **kw: real_callbacks(*a, **kw) + [FillDisk()])
    monkeypatch.setitem(recipes.CONFIGS, "tiny", CFG)
    results = disk / "results"
    run_dir = E.run_dir_for(CFG, results)
    assert main(_train(synth_data, results)) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: could not write {run_dir}/") and f": {ENOSPC}; {E.RESUME_HINT}" in line, line
    assert not (run_dir / "metrics.json").exists()
    assert not [p for p in run_dir.rglob(".*")], _listing(run_dir)
    ck = K.latest_checkpoint(run_dir)
    assert ck is not None and ck.epoch == 1  # whole: the rerun loads it
    filler.unlink()
    monkeypatch.setattr(R, "make_callbacks", real_callbacks)
    assert main(_train(synth_data, results)) == 0
    rec = E.load_record(run_dir)
    np.testing.assert_array_equal(rec.scores["score"].to_numpy(), reference.scores["score"].to_numpy())
