"""Training writes complete records; load_or_run trains once; an interrupted run resumes to the same record."""
from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lfwsiamese.config import ExperimentConfig
from lfwsiamese.errors import RunError
from lfwsiamese.records import store as E
from lfwsiamese.runs.experiments import load_or_run
from lfwsiamese.training.run import train_run
from tests.synth import make_dataset, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> str:
    return str(make_dataset(tmp_path_factory.mktemp("synth")))


def test_one_epoch_run_writes_a_complete_record(synth_data: str, tmp_path) -> None:
    cfg = tiny_config(epochs=1)
    rec = train_run(cfg, data=synth_data, results=tmp_path, progress=False)
    for f in E.RECORD_FILES + ("model.keras",):
        assert (rec.path / f).is_file(), f
    assert not (rec.path / "_backup").exists()
    assert rec.path.name == cfg.run_name
    assert ExperimentConfig.from_json((rec.path / "config.json").read_text()) == cfg
    scores = pd.read_csv(rec.path / "scores.csv")
    assert list(scores.columns) == ["name_a", "index_a", "name_b", "index_b", "label", "score"]
    assert rec.metrics["test"]["auc"] == pytest.approx(roc_auc_score(scores["label"], scores["score"]))
    assert rec.metrics["epochs_run"] == 1 and len(rec.history) == 1
    assert {"loss", "val_loss", "l2_penalty", "epoch_seconds", "test_auc_unused_for_choices"} <= set(rec.history.columns)
    env = json.loads((rec.path / "env.json").read_text())
    assert env["precision_policy"] == "float32" and env["tensorflow"]
    assert len(rec.metrics["train_images_sha256"]) == 64
    assert 0 < rec.metrics["max_rss_mib_this_run"] <= rec.metrics["peak_rss_mib"] + 1
    assert E.list_runs(tmp_path)["run"].tolist() == [cfg.run_name]
    w = rec.weights  # initial and trained weights, as histograms on shared edges
    kernels = [k for k in w if k.endswith("/kernel")]
    assert kernels and all(k.endswith(("/kernel", "/bias")) for k in w)
    for k in kernels:
        n = int(np.prod(w[k]["shape"]))
        assert sum(w[k]["before"]) == sum(w[k]["after"]) == n
        assert len(w[k]["edges"]) == len(w[k]["before"]) + 1
        assert w[k]["before_std"] != w[k]["after_std"]  # training moved the weights


def test_load_or_run_trains_once(synth_data: str, tmp_path) -> None:
    cfg = tiny_config(epochs=1)
    calls = []

    def spy(c, **kw):
        calls.append(c)
        return train_run(c, **kw)

    first = load_or_run(cfg, data=synth_data, results=tmp_path, trainer=spy, progress=False)
    second = load_or_run(cfg, data=synth_data, results=tmp_path, trainer=spy, progress=False)
    assert len(calls) == 1
    assert second.metrics == first.metrics


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch: int) -> None:
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_same_record(synth_data: str, tmp_path) -> None:
    # early stopping with a hair-trigger, so the resumed run must rebuild its counters from the log
    cfg = tiny_config(epochs=4, es_min_delta=0.0, es_patience=1, test_each_epoch=False)
    full = train_run(cfg, data=synth_data, results=tmp_path / "a", progress=False, save_model=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False, save_model=False,
                  extra_callbacks=[_Interrupt(after_epoch=0)])
    run_b = E.run_dir_for(cfg, tmp_path / "b")
    assert not (run_b / "metrics.json").exists()  # no half record
    with pytest.raises(RunError, match="incomplete"):
        E.load_record(run_b)
    resumed = train_run(cfg, data=synth_data, results=tmp_path / "b", progress=False, save_model=False)
    assert resumed.metrics["resumed"] is True
    assert resumed.metrics["epochs_run"] == full.metrics["epochs_run"] >= 2
    np.testing.assert_array_equal(full.scores["score"].to_numpy(), resumed.scores["score"].to_numpy())
    assert resumed.weights == full.weights  # the resumed process rebuilt the same initial weights
    cols = ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    pd.testing.assert_frame_equal(full.history[cols], resumed.history[cols])
