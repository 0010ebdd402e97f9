"""Loading a record's model: missing weights and weights of another architecture are clear errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from lfwsiamese.errors import RunError
from lfwsiamese.models.towers import build_siamese
from lfwsiamese.records import store as E
from lfwsiamese.training.callbacks import backup_epoch
from tests.synth import tiny_config, trained_record

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return trained_record(tmp_path_factory)


def test_load_run_model_predicts_like_the_record(record) -> None:
    rec, _, _ = record
    model = E.load_run_model(rec.path)
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    assert model.predict([x, x[::-1]], verbose=0).shape == (2, 1)


def test_run_without_weights_is_a_clear_error(record, tmp_path) -> None:
    rec, _, _ = record
    import shutil
    copy = tmp_path / rec.path.name
    shutil.copytree(rec.path, copy)
    (copy / "model.keras").unlink()
    with pytest.raises(RunError, match="no weights.*lfwsiamese train --config tiny"):
        E.load_run_model(copy)


def test_weights_of_another_architecture_are_refused(record, tmp_path) -> None:
    rec, _, _ = record
    import shutil
    copy = tmp_path / rec.path.name
    shutil.copytree(rec.path, copy)
    other = build_siamese(replace(rec.config.model, dense_units=32), 32)
    other.save(copy / "model.keras")
    with pytest.raises(RunError, match="do not fit the architecture"):
        E.load_run_model(copy)


def test_sigterm_leaves_a_resumable_run_and_the_cli_exits_cleanly(record, tmp_path) -> None:
    """A real process stopped with SIGTERM mid-training: no record, a clear message, and the rerun finishes."""
    _, data, _ = record
    env = {**os.environ, "LFWSIAMESE_DATA": str(data), "LFWSIAMESE_RESULTS": str(tmp_path)}
    code = (
        "import sys; from lfwsiamese.cli import main; from lfwsiamese import recipes as C; from tests.synth import tiny_config;"
        "C.CONFIGS['tiny']=tiny_config(epochs=40, early_stopping=False, test_each_epoch=False);"
        "sys.exit(main(['train','--config','tiny','--quiet']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=os.getcwd(), stderr=subprocess.PIPE, text=True)
    run_dir = E.run_dir_for(tiny_config(epochs=40, early_stopping=False, test_each_epoch=False), tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not backup_epoch(run_dir):
        time.sleep(0.2)
    assert backup_epoch(run_dir), "no epoch finished in time"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert not (run_dir / "metrics.json").exists()
