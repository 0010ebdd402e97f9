"""Keras' JAX backend: the package runs without TensorFlow, a small run learns, and its record reads, evaluates and
rescores under TensorFlow like a TensorFlow record; TensorFlow stays the default and its records' names stay."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from lfwsiamese.cli.main import main
from lfwsiamese.config import with_overrides
from lfwsiamese.data.images import Preprocess, load_images
from lfwsiamese.data.pipeline import pair_dataset
from lfwsiamese.errors import ConfigError
from lfwsiamese.recipes import get_config
from lfwsiamese.records import store as E
from lfwsiamese.records.provenance import environment, record_backend
from lfwsiamese.training.scoring import predict_pairs
from lfwsiamese.training.setup import check_backend, jit_compile, on_active_backend
from tests.synth import make_dataset

ROOT = Path(__file__).resolve().parent.parent

#: Run first in each child process: every `import tensorflow` fails there, as on the GPU machine (which has none).
NO_TF = """
import importlib.abc, sys
class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not installed here (test: the GPU machine has none)")
sys.meta_path.insert(0, _NoTensorFlow())
"""


def _child(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", NO_TF + textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return res


# ------------------------------------------------------------------------------- TensorFlow stays the default


def test_backend_is_a_config_field_that_keeps_tensorflow_names() -> None:
    cfg = get_config("improved")
    assert cfg.train.backend == "tensorflow"
    assert get_config("reference").run_name == "reference-s0-1a5b2eea44"  # names of stored records unchanged
    on_jax = with_overrides(cfg, {"train.backend": "jax"})
    assert on_jax.run_name != cfg.run_name and on_jax.run_name.startswith("improved-s0-")
    with pytest.raises(ConfigError, match="backend"):
        with_overrides(cfg, {"backend": "theano"})


def test_a_config_trains_only_on_its_own_backend() -> None:
    cfg = get_config("reference")
    assert on_active_backend(cfg) is cfg and jit_compile(cfg) is False  # TensorFlow: the config's XLA choice
    check_backend(cfg)
    with pytest.raises(ConfigError, match="KERAS_BACKEND=jax"):
        check_backend(with_overrides(cfg, {"backend": "jax"}))


def test_tensorflow_keeps_tf_data_and_records_state_their_backend() -> None:
    assert isinstance(pair_dataset(np.zeros((2, 8, 8), np.uint8), np.array([0]), np.array([1]), np.ones(1), 1),
                      tf.data.Dataset)
    env = environment("float32", False)
    assert env["backend"] == "tensorflow" and env["tensorflow"] == tf.__version__
    assert record_backend(env) == "tensorflow" and record_backend({"tensorflow": "2.17.0"}) == "tensorflow"
    assert record_backend({"backend": "jax"}) == "jax"


def test_the_package_imports_without_tensorflow_on_jax() -> None:
    """Every module but the tf.data pipeline loads where TensorFlow is absent; the pipeline then is NumPy's."""
    res = _child("""
        import importlib, pkgutil, lfwsiamese
        names = [m.name for m in pkgutil.walk_packages(lfwsiamese.__path__, "lfwsiamese.")
                 if m.name not in ("lfwsiamese.data.tfdata", "lfwsiamese.__main__")]
        for n in names:
            importlib.import_module(n)
        import numpy as np
        from lfwsiamese.data.pipeline import pair_dataset
        from lfwsiamese.training.setup import jit_compile
        from tests.synth import tiny_config
        ds = pair_dataset(np.zeros((2, 8, 8), np.uint8), np.array([0]), np.array([1]), np.ones(1), 1)
        print(len(names), type(ds).__name__, jit_compile(tiny_config()), "tensorflow" in sys.modules)
    """)
    n, kind, jit, tf_loaded = res.stdout.split()[-4:]
    assert int(n) > 40 and kind == "PairBatches" and jit == "True" and tf_loaded == "False"


# ------------------------------------------------------------------------------------ a run on JAX


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory) -> dict:
    """A toy improved-recipe run trained on JAX (TensorFlow unavailable), and the same run interrupted after its
    first epoch and resumed."""
    root = tmp_path_factory.mktemp("jax")
    data = make_dataset(root / "data", n_people=40, per_person=4, singles=6)
    res = _child(f"""
        import json, keras
        from tests.test_improved import tiny_improved
        from lfwsiamese.training.run import train_run
        from dataclasses import replace
        cfg = tiny_improved(epochs=4, test_each_epoch=False, backend="jax")
        cfg = replace(cfg, data=replace(cfg.data, pairs_per_epoch=256))
        full = train_run(cfg, data={str(data)!r}, results={str(root / "a")!r}, progress=False)

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise KeyboardInterrupt

        try:
            train_run(cfg, data={str(data)!r}, results={str(root / "b")!r}, progress=False, extra_callbacks=[Stop()])
        except KeyboardInterrupt:
            pass
        resumed = train_run(cfg, data={str(data)!r}, results={str(root / "b")!r}, progress=False)
        print(json.dumps({{"full": str(full.path), "resumed": str(resumed.path), "config": cfg.to_json(),
                           "tf": "tensorflow" in sys.modules}}))
    """)
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "data": str(data)}


@pytest.mark.slow
def test_a_jax_run_learns_and_its_record_states_its_backend(jax_runs: dict) -> None:
    assert jax_runs["tf"] is False  # trained with no TensorFlow in the process
    rec = E.load_record(jax_runs["full"])
    assert rec.config.train.backend == "jax" and rec.path.name == rec.config.run_name
    assert rec.env["backend"] == "jax" and rec.env["jax"] and "tensorflow" not in rec.env
    assert rec.env["jit_compile"] is True and "xla_gpu_deterministic_ops" in rec.env["xla_flags"]
    assert record_backend(rec.env) == "jax"
    assert not (rec.path / "tensorboard").exists() and rec.model_path.is_file()
    m = rec.metrics
    assert m["epochs_run"] == 4 and m["train_pairs"] == 256
    assert m["val"]["accuracy"] >= 0.75 and m["test"]["auc"] >= 0.8, (m["val"], m["test"])  # chance: 0.5


@pytest.mark.slow
def test_a_resumed_jax_run_is_the_uninterrupted_run(jax_runs: dict) -> None:
    full, resumed = E.load_record(jax_runs["full"]), E.load_record(jax_runs["resumed"])
    assert resumed.metrics["resumed"] is True and not full.metrics["resumed"]
    np.testing.assert_array_equal(full.scores["score"].to_numpy(), resumed.scores["score"].to_numpy())
    np.testing.assert_array_equal(full.val_scores["score"].to_numpy(), resumed.val_scores["score"].to_numpy())
    cols = ["epoch", "loss", "val_loss", "val_accuracy", "learning_rate_end"]
    assert full.history[cols].equals(resumed.history[cols])


@pytest.mark.slow
def test_a_jax_record_evaluates_and_rescores_under_tensorflow(jax_runs: dict, capsys) -> None:
    path = jax_runs["full"]
    assert main(["evaluate", path]) == 0  # metrics recomputed from the stored scores agree
    assert "they agree" in capsys.readouterr().out
    assert E.list_runs(Path(path).parents[1])["run"].tolist() == [Path(path).name]
    rec = E.load_record(path)
    model = E.load_run_model(path)  # weights trained on JAX, loaded by TensorFlow's Keras
    cfg = rec.config
    store = load_images(jax_runs["data"], Preprocess.of(cfg.data), progress=False)
    pairs = E.pairs_from_scores(rec.scores)
    again = predict_pairs(model, store, pairs, cfg.data.pixel_scale, tta_flip=cfg.train.tta_flip)
    np.testing.assert_allclose(again, rec.scores["score"].to_numpy(), atol=1e-4)
    assert replace(cfg, train=replace(cfg.train, backend="tensorflow")).run_name != rec.path.name
