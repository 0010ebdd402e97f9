"""What a run sets before it builds anything: seeds, determinism, the precision policy; and the Keras backend it runs on.

TensorFlow is the default backend. On JAX (`KERAS_BACKEND=jax`, set before Keras is imported) the same switches
have their JAX equivalents: determinism is XLA's flag for GPU kernels (CPU kernels are deterministic already), the
GPU's compute capability comes from JAX, and the train step is always XLA-compiled (Keras' JAX trainer runs op by
op otherwise).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

from ..config import ExperimentConfig
from ..errors import ConfigError

#: XLA's switch for deterministic GPU kernels (scatter, reductions); set before JAX starts its backends.
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"


def active_backend() -> str:
    import keras
    return keras.backend.backend()


def on_active_backend(cfg: ExperimentConfig) -> ExperimentConfig:
    """`cfg` to train on the backend this process runs (the command line's configs and plans)."""
    backend = active_backend()
    return cfg if cfg.train.backend == backend else replace(cfg, train=replace(cfg.train, backend=backend)).validate()


def check_backend(cfg: ExperimentConfig) -> None:
    """A run trains on the backend its config names: the record's name says which."""
    backend = active_backend()
    if cfg.train.backend != backend:
        raise ConfigError(f"{cfg.run_name} is a train.backend={cfg.train.backend!r} config but Keras runs on {backend!r} "
                          f"here: start the process with KERAS_BACKEND={cfg.train.backend}, or train the config on "
                          f"{backend} with --set train.backend={backend}")


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """(major, minor) of each GPU the backend sees."""
    if active_backend() == "tensorflow":
        import tensorflow as tf
        return [tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)))
                for g in tf.config.list_physical_devices("GPU")]
    import jax
    out = []
    for d in jax.devices():
        if d.platform == "gpu":
            try:
                out.append(tuple(int(v) for v in str(getattr(d, "compute_capability", "0.0")).split(".")[:2]))
            except ValueError:
                out.append((0, 0))
    return out


def has_fast_bf16() -> bool:
    """Ampere-or-newer GPUs run bfloat16 matrix work natively, and so do AMX/AVX512-BF16 CPUs under TensorFlow
    (oneDNN). On JAX only a GPU counts: whether XLA's CPU backend gains from bfloat16 on such CPUs is not measured
    here, so `auto` stays float32 on a CPU."""
    if any(cc >= (8, 0) for cc in gpu_compute_capabilities()):
        return True
    if active_backend() != "tensorflow":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if has_fast_bf16() else "float32"


def jit_compile(cfg: ExperimentConfig) -> bool:
    """Whether the train step is XLA-compiled: the config's choice on TensorFlow, always on JAX."""
    return cfg.train.jit_compile if active_backend() == "tensorflow" else True


def deterministic_kernels() -> None:
    """The backend's switch for deterministic kernels."""
    if active_backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" in flags:
        return
    from jax._src import xla_bridge  # (no public API says whether the backends have started)
    if xla_bridge.backends_are_initialized():
        warnings.warn(f"JAX started before the run could set XLA_FLAGS={XLA_DETERMINISTIC}: GPU kernels may not be "
                      f"deterministic; set it in the environment", stacklevel=2)
        return
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC}".strip()


def setup(cfg: ExperimentConfig) -> str:
    """Seeds, determinism, precision policy. Returns the policy actually used."""
    import keras
    tensorflow = active_backend() == "tensorflow"
    if cfg.train.deterministic and not tensorflow:  # before anything starts JAX's backends
        deterministic_kernels()
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic and tensorflow:
        deterministic_kernels()
    policy = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
