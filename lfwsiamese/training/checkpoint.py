"""A run's resumable state in `<run>/_backup/`, each checkpoint written whole or not at all, and its history log.

- `_backup/epoch-NNNN/` after each finished epoch N: `state.npz` (the model's weights, batch-norm statistics
  included, and the optimizer's variables: step count, moments) and `training_metadata.json` (the epoch, and whether
  early stopping ended training there);
- `_backup/fitted/` once training has ended: the weights the run is scored with (after early stopping restored its
  best), so a run that stopped between fitting and `metrics.json` (a full disk) is scored again, not trained again.

Each checkpoint is written into a hidden staging folder with plain file writes (a failed write is an ordinary
OSError: HDF5 does not recover from a full disk), synced, and renamed into place when whole; the older ones are
removed only after that, so a crash or a full disk at any moment leaves the previous checkpoint intact. The random
streams restart from (seed, epoch) (`callbacks.EpochSeeds`, the data pipeline), so a resumed run repeats the
uninterrupted one. Runs interrupted before this layout (Keras' `_backup/latest.weights.h5` and
`training_metadata.json`) still resume. `history.csv` is rewritten atomically after each epoch: never half a line.
"""
from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError
from ..files import atomic_write_text, fsync_path, write_errors
from ..records.store import RESUME_HINT

BACKUP = "_backup"
STATE = "state.npz"
META = "training_metadata.json"
LEGACY_WEIGHTS = "latest.weights.h5"  # what Keras' own BackupAndRestore wrote, in _backup/ itself
FITTED = "fitted"


@dataclass(frozen=True)
class Checkpoint:
    path: Path  # the folder holding STATE (or LEGACY_WEIGHTS) and META
    epoch: int  # epochs finished
    finished: bool  # training ended here (all epochs, or early stopping): resuming trains no further epoch

    @property
    def legacy(self) -> bool:
        return self.path.name == BACKUP


def _meta(folder: Path, state: str) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META).read_text())
        int(meta["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if (folder / state).is_file() else None


def _epoch_folders(backup: Path) -> list[Path]:
    """epoch-NNNN folders, newest first."""
    found = []
    for p in backup.glob("epoch-*") if backup.is_dir() else []:
        try:
            found.append((int(p.name.removeprefix("epoch-")), p))
        except ValueError:
            continue
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The checkpoint a rerun resumes from: `fitted`, else the newest whole epoch, else a pre-layout backup."""
    backup = run_dir / BACKUP
    meta = _meta(backup / FITTED, STATE)
    if meta is not None:
        return Checkpoint(backup / FITTED, int(meta["epoch"]), True)
    for folder in _epoch_folders(backup):
        meta = _meta(folder, STATE)
        if meta is not None:
            return Checkpoint(folder, int(meta["epoch"]), bool(meta.get("stopped", False)))
    meta = _meta(backup, LEGACY_WEIGHTS)
    return Checkpoint(backup, int(meta["epoch"]), False) if meta is not None else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _optimizer_variables(model: Any) -> list:
    opt = getattr(model, "optimizer", None)
    return list(opt.variables) if opt is not None and opt.built else []


def save_checkpoint(model: Any, run_dir: Path, epoch: int, stopped: bool = False, finished: bool = False) -> Path:
    """Write the model's training state as checkpoint `epoch-NNNN` (or `fitted`), whole or not at all.

    A failed write (a full disk) raises an OutputError naming the checkpoint and leaves the previous one as it was.
    """
    arrays = {f"model_{k}": np.asarray(v) for k, v in enumerate(model.weights)}
    arrays.update({f"optimizer_{k}": np.asarray(v) for k, v in enumerate(_optimizer_variables(model))})
    meta = {"epoch": int(epoch), "stopped": bool(stopped or finished), "model_variables": len(model.weights),
            "optimizer_variables": len(arrays) - len(model.weights)}
    backup = run_dir / BACKUP
    name = FITTED if finished else f"epoch-{epoch:04d}"
    final = backup / name
    staging = backup / f".{name}.partial-{os.getpid()}"
    with write_errors(final, RESUME_HINT):
        try:
            _remove(staging)
            staging.mkdir(parents=True)
            for fname, write in ((STATE, lambda f: np.savez(f, **arrays)),
                                 (META, lambda f: f.write(json.dumps(meta).encode()))):
                with open(staging / fname, "wb") as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
            fsync_path(staging)
            if final.exists():  # (never in practice: a resumed run saves the epochs after its checkpoint)
                old = backup / f".{name}.old-{os.getpid()}"
                _remove(old)
                os.rename(final, old)
            os.rename(staging, final)
            fsync_path(backup)
        except BaseException:
            _remove(staging)
            raise
    for p in list(backup.iterdir()):  # the new checkpoint is whole and in place: everything older goes
        if p != final:
            _remove(p)
    return final


def load_checkpoint(model: Any, ck: Checkpoint) -> None:
    """Put a checkpoint's weights and optimizer state into `model` (compiled as when it was written)."""
    opt = getattr(model, "optimizer", None)
    if opt is not None and not opt.built:  # its variables exist only once built (as Keras' BackupAndRestore does)
        opt.build(model.trainable_variables)
    if ck.legacy:
        model.load_weights(str(ck.path / LEGACY_WEIGHTS))
        return
    with np.load(ck.path / STATE, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    targets = [(f"model_{k}", v) for k, v in enumerate(model.weights)]
    targets += [(f"optimizer_{k}", v) for k, v in enumerate(_optimizer_variables(model))]
    if set(saved) != {k for k, _ in targets} or any(saved[k].shape != tuple(v.shape) for k, v in targets):
        raise RunError(f"{ck.path}: this checkpoint does not fit the model of {ck.path.parent.parent / 'config.json'}; "
                       f"remove {ck.path.parent} to train the run from its first epoch")
    for k, v in targets:
        v.assign(saved[k])


def checkpoint_callback(run_dir: Path) -> Any:
    """Restores the newest checkpoint when training begins; writes one after each epoch (Keras' BackupAndRestore,
    with whole-or-nothing checkpoints)."""
    import keras

    class ResumableCheckpoint(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            ck = latest_checkpoint(run_dir)
            if ck is not None:
                load_checkpoint(self.model, ck)
                self.model._initial_epoch = ck.epoch  # what BackupAndRestore sets: fit starts at this epoch

        def on_epoch_end(self, epoch, logs=None):  # last of the callbacks: early stopping has decided
            save_checkpoint(self.model, run_dir, epoch + 1, stopped=bool(self.model.stop_training))

    return ResumableCheckpoint()


def history_logger(path: Path) -> Any:
    """Keras' CSVLogger (the same rows), keeping the file in memory and rewriting it atomically after each epoch."""
    import keras

    class AtomicCSVLogger(keras.callbacks.CSVLogger):
        def __init__(self) -> None:
            super().__init__(str(path), append=True)

        def on_train_begin(self, logs=None):
            old = path.read_bytes().decode("utf-8") if path.is_file() else ""
            self.append_header = not old  # as CSVLogger: a header unless the file has a line already
            self.csv_file = io.StringIO(newline="")
            self.csv_file.write(old)
            self.writer = None
            self.keys = None

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)  # the row, into the in-memory file
            with write_errors(path, RESUME_HINT):
                atomic_write_text(path, self.csv_file.getvalue())

    return AtomicCSVLogger()
