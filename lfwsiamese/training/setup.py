"""What a run sets before it builds anything: threads, GPU memory, seeds, determinism, the precision policy; and
the Keras backend it runs on.

TensorFlow is the default backend. On JAX (`KERAS_BACKEND=jax`, set before Keras is imported) the same switches
have their JAX equivalents: determinism is XLA's flag for GPU kernels (CPU kernels are deterministic already), the
GPU's compute capability comes from JAX, and the train step is always XLA-compiled (Keras' JAX trainer runs op by
op otherwise).
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..config import ExperimentConfig
from ..errors import ConfigError, RunError

#: TensorFlow threads per run; unset: every CPU this process may use (TensorFlow's own default).
ENV_THREADS = "LFWSIAMESE_THREADS"

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


#: The vector and matrix extensions that change how fast this project runs (bf16 above all): processors sold under
#: one name differ in them, so speed records name them.
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_features() -> list[str]:
    """Which of `CPU_FEATURES` this processor has (Linux /proc/cpuinfo); empty where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in CPU_FEATURES if f in flags]
    except OSError:
        pass
    return []


def has_fast_bf16() -> bool:
    """Ampere-or-newer GPUs run bfloat16 matrix work natively, and so do AMX/AVX512-BF16 CPUs under TensorFlow
    (oneDNN). On JAX only a GPU counts: whether XLA's CPU backend gains from bfloat16 on such CPUs is not measured
    here, so `auto` stays float32 on a CPU."""
    if any(cc >= (8, 0) for cc in gpu_compute_capabilities()):
        return True
    if active_backend() != "tensorflow":
        return False
    return bool({"amx_bf16", "avx512_bf16"} & set(cpu_features()))


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
    on_gpu = gpu_precision(gpu_compute_capabilities())
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
    from jax._src import (
        xla_bridge,  # (no public API says whether the backends have started)
    )
    if xla_bridge.backends_are_initialized():
        warnings.warn(f"JAX started before the run could set XLA_FLAGS={XLA_DETERMINISTIC}: GPU kernels may not be "
                      f"deterministic; set it in the environment", stacklevel=2)
        return
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC}".strip()


def setup(cfg: ExperimentConfig) -> str:
    """Threads, GPU memory, seeds, determinism, precision policy. Returns the policy actually used."""
    import keras
    tensorflow = active_backend() == "tensorflow"
    if tensorflow:
        fix_threads()
        gpu_memory_growth()
    if cfg.train.deterministic and not tensorflow:  # before anything starts JAX's backends
        deterministic_kernels()
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic and tensorflow:
        deterministic_kernels()
    policy = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@contextlib.contextmanager
def precision_policy(policy: str | None = None) -> Iterator[str]:
    """Keras' global dtype policy set to `policy` (None: left as it is, for a block that sets its own through `setup`)
    and put back after the block: a run, a benchmark or an export must not leave mixed precision behind for whatever
    builds models next in the process (a bfloat16 layer in an ONNX graph, say)."""
    import keras
    old = keras.mixed_precision.global_policy().name
    if policy is not None:
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy or old
    finally:
        keras.mixed_precision.set_global_policy(old)


def import_tf_quietly() -> None:
    """TensorFlow prints start-up lines (oneDNN, CUDA probing) that no setting silences: hide them, unless it fails.
    On another Keras backend (KERAS_BACKEND=jax) only Keras is imported: TensorFlow need not be installed."""
    import sys
    import tempfile
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import keras
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf
                tf.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.buffer.write(tmp.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
