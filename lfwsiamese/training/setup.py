"""What a run sets before it builds anything: seeds, determinism, the precision policy."""
from __future__ import annotations

from pathlib import Path

from ..config import ExperimentConfig


def has_fast_bf16() -> bool:
    """AMX/AVX512-BF16 CPUs and Ampere-or-newer GPUs run bfloat16 matrix work natively."""
    import tensorflow as tf
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability", (0, 0)) >= (8, 0):
            return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if has_fast_bf16() else "float32"


def setup(cfg: ExperimentConfig) -> str:
    """Seeds, determinism, precision policy. Returns the policy actually used."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
