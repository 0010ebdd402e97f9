"""What a run sets before it builds anything: threads, GPU memory, seeds, determinism, the precision policy."""
from __future__ import annotations

import os
from pathlib import Path

from ..config import ExperimentConfig
from ..errors import RunError

#: TensorFlow threads per run; unset: every CPU this process may use (TensorFlow's own default).
ENV_THREADS = "LFWSIAMESE_THREADS"


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


def gpu_precision(capabilities: list[tuple[int, int]]) -> str | None:
    """The mixed policy for NVIDIA GPUs of these compute capabilities (the weakest decides), None without a GPU.

    Ampere and newer (8.0+) have bfloat16 tensor cores: mixed_bfloat16, no loss scaling. Volta and Turing
    (7.x) have float16 ones only: mixed_float16 (Keras then scales the loss). Older GPUs: float32.
    """
    if not capabilities:
        return None
    cc = min(capabilities)
    return "mixed_bfloat16" if cc >= (8, 0) else "mixed_float16" if cc >= (7, 0) else "float32"


def resolve_precision(precision: str) -> str:
    """`auto`: on an NVIDIA GPU mixed bfloat16 or float16 (`gpu_precision`); on a CPU mixed bfloat16 where
    it has native bfloat16 (AMX, AVX512-BF16), else float32."""
    if precision != "auto":
        return precision
    import tensorflow as tf
    caps = [tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)))
            for g in tf.config.list_physical_devices("GPU")]
    on_gpu = gpu_precision(caps)  # type: ignore[arg-type]
    if on_gpu is not None:
        return on_gpu
    return "mixed_bfloat16" if has_fast_bf16() else "float32"


def run_threads() -> int:
    """The TensorFlow threads of a run: $LFWSIAMESE_THREADS, else the CPUs this process may use.

    Not Ray's OMP_NUM_THREADS (1 per requested CPU): TensorFlow's reductions split by thread, so a run's scores
    depend on this number, and a run must give the same scores under `--engine ray` as in a local sweep.
    """
    raw = os.environ.get(ENV_THREADS, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise RunError(f"{ENV_THREADS}={raw!r}: expected a whole number of threads >= 1")
        return n
    return _default_threads()


def _default_threads() -> int:
    """TensorFlow's own default: the CPUs this process may be scheduled on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def fix_threads(n: int | None = None) -> int:
    """Pin TensorFlow's intra-op and inter-op threads (and OpenMP's) to `n` (default `run_threads()`).

    TensorFlow fixes them when its runtime starts: a later run in the same process with the same number is
    fine, a different number is refused rather than silently ignored.
    """
    import tensorflow as tf
    n = run_threads() if n is None else n
    os.environ["OMP_NUM_THREADS"] = str(n)  # for any OpenMP build of oneDNN; read when it starts
    th = tf.config.threading
    if th.get_intra_op_parallelism_threads() == n and th.get_inter_op_parallelism_threads() == n:
        return n
    try:
        th.set_intra_op_parallelism_threads(n)
        th.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # the runtime already started: fine if it started with n threads
        if (th.get_intra_op_parallelism_threads() or _default_threads()) == n:
            return n
        raise RunError(f"TensorFlow already runs with {th.get_intra_op_parallelism_threads() or 'default'} threads "
                       f"in this process, not {n}: set {ENV_THREADS} before the first run of a process") from None
    return n


def gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all at once, so that runs can share a GPU
    (`--gpus-per-run 0.5`). Only possible before the GPUs are first used; a no-op without GPUs."""
    import tensorflow as tf
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier run of this process
            pass


def setup(cfg: ExperimentConfig) -> str:
    """Threads, GPU memory, seeds, determinism, precision policy. Returns the policy actually used."""
    import keras
    import tensorflow as tf
    fix_threads()
    gpu_memory_growth()
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
