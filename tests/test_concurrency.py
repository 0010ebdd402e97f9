"""Two processes at once, and a sweep restarted after a kill: nothing is corrupted, nothing is redone."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from lfwsiamese.data.images import Preprocess, load_images
from lfwsiamese.errors import RunError
from lfwsiamese.records import store as E
from lfwsiamese.runs import plans as sweeps
from lfwsiamese.runs.experiments import load_or_run
from tests.synth import make_dataset, tiny_config


def _load(args: tuple[str, str]) -> tuple[int, int]:
    root, cache = args
    import os
    os.environ["LFWSIAMESE_CACHE"] = cache
    st = load_images(root, Preprocess(size=40), workers=1, progress=False)
    return st.array.shape[0], int(st.array.sum())


def test_two_processes_building_the_image_cache_at_once(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", n_people=10, per_person=2, n_pairs=6)
    cache = tmp_path / "cache"
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_load, [(str(root), str(cache))] * 2)
    assert results[0] == results[1]
    files = list(cache.glob("*.npy"))
    assert len(files) == 1 and not list(cache.glob(".*tmp"))  # one complete cache, no temporary left
    assert np.load(files[0]).shape == (20, 40, 40)


def test_a_run_locked_by_another_process_is_refused_not_shared(tmp_path: Path) -> None:
    cfg = tiny_config()
    run_dir = E.run_dir_for(cfg, tmp_path)
    with E.run_lock(run_dir):
        with pytest.raises(RunError, match="being trained by another process"):
            with E.run_lock(run_dir):
                pass


@pytest.mark.slow
def test_restarted_sweep_skips_finished_and_resumes_the_interrupted(tmp_path: Path, monkeypatch) -> None:
    data = make_dataset(tmp_path / "d")
    a, b = tiny_config(seed=0, epochs=1), tiny_config(seed=1, epochs=2, early_stopping=False)
    monkeypatch.setitem(sweeps.PLANS, "tiny", lambda: [a, b])
    from lfwsiamese.training.run import train_run
    train_run(a, data=str(data), results=tmp_path, progress=False, save_model=False)
    # b was killed after its first epoch: a backup and a one-row log, no metrics
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(b, data=str(data), results=tmp_path, progress=False, save_model=False, extra_callbacks=[Stop()])
    trained = []
    real = load_or_run

    def spy(cfg, **kw):
        if E.find_record(cfg, kw.get("results")) is None:
            trained.append(cfg.seed)
        return real(cfg, **kw)

    monkeypatch.setattr(sweeps, "load_or_run", spy)
    recs = sweeps.run_plan("tiny", data=str(data), results=tmp_path, progress=False)
    assert trained == [1]  # a was skipped
    assert [r.config.seed for r in recs] == [0, 1]
    assert recs[1].metrics["resumed"] is True and recs[1].metrics["epochs_run"] == 2
