"""The private Keras attributes training relies on, pinned: if Keras renames one, this fails first (with the name).

Resuming a run bit-identically needs the random streams of dropout layers (`_flatten_layers`, `_seed_generators`),
rebuilding EarlyStopping's counters from a log needs its comparison (`_set_monitor_op`, `_is_improvement`), starting
`fit` at a checkpoint's epoch needs `Model._initial_epoch` (as Keras' BackupAndRestore sets it), and the history log
that is rewritten atomically keeps CSVLogger's rows through its `csv_file`, `writer`, `keys` and `append_header`;
Keras has no public API for any of these.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from lfwsiamese.models.towers import build_siamese
from lfwsiamese.training.callbacks import seed_generators
from lfwsiamese.training.checkpoint import (
    checkpoint_callback,
    history_logger,
    latest_checkpoint,
)
from tests.synth import tiny_config


def test_seed_generators_of_a_model_with_dropout() -> None:
    model = build_siamese(tiny_config().model, 32)  # dropout after the L1 distance
    assert hasattr(model, "_flatten_layers")
    dropout = model.get_layer("dropout")
    assert dropout._seed_generators and all(isinstance(g, keras.random.SeedGenerator) for g in dropout._seed_generators)
    gens = seed_generators(model)
    assert gens == dropout._seed_generators and hasattr(gens[0], "state")


def test_early_stopping_comparison() -> None:
    es = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.1)
    es._set_monitor_op()
    assert es.monitor_op is not None
    assert es._is_improvement(0.5, 0.7) and not es._is_improvement(0.65, 0.7)  # min_delta counts
    acc = keras.callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.0, mode="max")
    acc._set_monitor_op()
    assert acc._is_improvement(0.8, 0.7) and not acc._is_improvement(0.6, 0.7)


def _dense() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def test_fit_starts_at_the_checkpoint_epoch(tmp_path: Path) -> None:
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    keras.utils.set_random_seed(0)
    first = _dense()
    first.fit(x, y, epochs=2, verbose=0, callbacks=[history_logger(tmp_path / "h.csv"), checkpoint_callback(tmp_path)])
    assert latest_checkpoint(tmp_path).epoch == 2
    assert hasattr(keras.Model(), "_initial_epoch")
    again = _dense()
    h = again.fit(x, y, epochs=3, verbose=0,
                  callbacks=[history_logger(tmp_path / "h.csv"), checkpoint_callback(tmp_path)])
    assert h.epoch == [2]  # only the epoch after the checkpoint
    assert again.optimizer.iterations.numpy() == 3  # one step per epoch, the first two restored
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("epoch,") and \
        [r.split(",")[0] for r in (tmp_path / "h.csv").read_text().splitlines()[1:]] == ["0", "1", "2"]


def test_history_logger_writes_what_csvlogger_writes(tmp_path: Path) -> None:
    def log(cb: keras.callbacks.Callback, epochs: range) -> None:
        cb.on_train_begin()
        for e in epochs:
            cb.on_epoch_end(e, {"loss": 0.5 / (e + 1), "val_loss": np.float32(0.25), "accuracy": 1 / 3})
        cb.on_train_end()

    for epochs in (range(0, 2), range(2, 3)):  # a run, then its resumed process appending
        log(keras.callbacks.CSVLogger(str(tmp_path / "keras.csv"), append=True), epochs)
        log(history_logger(tmp_path / "ours.csv"), epochs)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "keras.csv").read_bytes()
