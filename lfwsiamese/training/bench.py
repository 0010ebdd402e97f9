"""Training and prediction speed of the reference network: the reference's loop against ours, same process.

Reference style: pairs held as float64 NumPy arrays, float32 model, `model.fit` on the arrays.
Ours: uint8 images gathered, cast and scaled inside a tf.data graph (on JAX: NumPy batches from the uint8 array,
the train step XLA-compiled), the default precision policy.
"""
from __future__ import annotations

import gc
import os
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import protocols as P
from ..data.images import load_images
from ..data.paths import require_data_dir, splits_dir
from ..models.towers import tower_flops
from ..recipes import get_config
from ..records.provenance import rss_mib
from .setup import cpu_features


def cpu_peak_flops(precision: str) -> tuple[float | None, str]:
    """A nominal peak for this CPU and precision, and how it was estimated (None where unknown)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "unknown: /proc/cpuinfo unreadable"
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    cores = os.cpu_count() or 1
    if not mhz:
        return None, "unknown: no clock in /proc/cpuinfo"
    ghz = max(mhz) / 1000
    features = set(cpu_features())
    if "bfloat16" in precision and "amx_bf16" in features:
        per_cycle, unit = 1024, "AMX-BF16 tile multiply: 1,024 bf16 FLOP/cycle/core"
    elif "avx512f" in features:
        per_cycle, unit = 64, "AVX-512: 2 FMA units x 16 fp32 x 2 = 64 FLOP/cycle/core"
    elif "avx2" in features:
        per_cycle, unit = 32, "AVX2: 2 FMA units x 8 fp32 x 2 = 32 FLOP/cycle/core"
    else:
        return None, "unknown vector unit"
    peak = per_cycle * ghz * 1e9 * cores
    return peak, f"{unit} x {ghz:.2f} GHz (cpu MHz in /proc/cpuinfo) x {cores} logical CPUs"


@dataclass(frozen=True)
class Variant:
    """One way of training the reference network: where the pairs come from and how the step is computed."""

    label: str
    input: str = "tfdata"  # "numpy": float64 arrays and model.fit(x, y), as the reference; "tfdata": ours
    precision: str = "auto"
    fused_towers: bool = True
    bn_fused: bool = True
    jit_compile: bool = False

    def describe(self) -> str:
        ours = "uint8 tf.data" if _tensorflow() else "uint8 NumPy batches"
        return (f"{'float64 NumPy + fit(x, y)' if self.input == 'numpy' else ours}, {self.precision}, "
                f"towers {'fused' if self.fused_towers else 'per branch'}, BN {'fused' if self.bn_fused else 'Keras'}"
                + (", XLA" if self.jit_compile else ""))


def _tensorflow() -> bool:
    from .setup import active_backend
    return active_backend() == "tensorflow"


REFERENCE_STYLE = Variant("reference style", input="numpy", precision="float32", fused_towers=False, bn_fused=False)

#: Each row adds one optimization to the row above (the contribution of each, one at a time), then the
#: default path with one optimization taken away, and XLA on top (slower here: a negative result kept).
ABLATION = (
    REFERENCE_STYLE,
    Variant("+ tf.data uint8 pipeline", precision="float32", fused_towers=False, bn_fused=False),
    Variant("+ fused towers", precision="float32", fused_towers=True, bn_fused=False),
    Variant("+ fused batch norm", precision="float32", fused_towers=True, bn_fused=True),
    Variant("+ bfloat16 (= ours)", precision="auto", fused_towers=True, bn_fused=True),
    Variant("ours without fused batch norm", precision="auto", fused_towers=True, bn_fused=False),
    Variant("ours without fused towers", precision="auto", fused_towers=False, bn_fused=True),
    Variant("ours + XLA", precision="auto", fused_towers=True, bn_fused=True, jit_compile=True),
)


@dataclass
class _Work:
    """The pairs a benchmark trains and predicts on, shared by every variant."""

    store: Any
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    ta: np.ndarray
    tb: np.ndarray
    ty: np.ndarray
    steps: int
    warmup: int
    batch_size: int


def _prepare(steps: int, batch_size: int, warmup: int, data: str | None, progress: bool) -> _Work:
    data_dir = require_data_dir(data)
    store = load_images(data_dir, progress=progress)
    sdir = splits_dir(data_dir)
    train = P.load_pairs("pairsDevTrain.txt", sdir)
    test = P.load_pairs("pairsDevTest.txt", sdir)
    n_train = (warmup + steps) * batch_size
    a, b, y = store.rows(train[: min(n_train, len(train))])
    while len(a) < n_train:  # more steps than pairs: repeat
        a, b, y = np.concatenate([a, a]), np.concatenate([b, b]), np.concatenate([y, y])
    ta, tb, ty = store.rows(test)
    return _Work(store, a[:n_train], b[:n_train], y[:n_train], ta, tb, ty, steps, warmup, batch_size)


def time_variant(work: _Work, v: Variant) -> dict[str, Any]:
    """Train pairs/s (warm-up excluded) and predict pairs/s of one variant, in this process; Keras' global precision
    policy is the variant's only inside it."""
    from .setup import precision_policy, resolve_precision
    with precision_policy(resolve_precision(v.precision)) as policy:
        return _time_variant(work, v, policy)


def _time_variant(work: _Work, v: Variant, policy: str) -> dict[str, Any]:
    import keras

    from ..data.pipeline import as_images, pair_dataset, training_dataset
    from ..models.towers import build_siamese

    gc.collect()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    rss0 = rss_mib()
    base = get_config("reference-fast").model  # the reference network; only the computation differs
    model = build_siamese(replace(base, fused_towers=v.fused_towers, bn_fused=v.bn_fused), get_config("reference").data.size)
    jit = v.jit_compile or not _tensorflow()  # (Keras' JAX trainer runs op by op unless compiled)
    model.compile(keras.optimizers.Adam(5e-5), "binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
    w, bs, arr = work.warmup * work.batch_size, work.batch_size, work.store.array
    a, b, y = work.a, work.b, work.y
    if v.input == "numpy":
        x1 = arr[a][..., None].astype(np.float64)  # as the reference held its pairs: float64, 0..255
        x2 = arr[b][..., None].astype(np.float64)
        model.fit([x1[:w], x2[:w]], y[:w], batch_size=bs, epochs=1, verbose=0, shuffle=True)
        t = time.perf_counter()
        model.fit([x1[w:], x2[w:]], y[w:], batch_size=bs, epochs=1, verbose=0, shuffle=True)
        train_s = time.perf_counter() - t
        p1 = arr[work.ta][..., None].astype(np.float64)
        p2 = arr[work.tb][..., None].astype(np.float64)
        model.predict([p1[:64], p2[:64]], verbose=0, batch_size=32)
        t = time.perf_counter()
        model.predict([p1, p2], verbose=0, batch_size=32)
        pred_s = time.perf_counter() - t
    else:
        images = as_images(arr)
        model.fit(training_dataset(images, a[:w], b[:w], y[:w], bs, seed=0, first_epoch=0, epochs=1), epochs=1, verbose=0)
        ds = training_dataset(images, a[w:], b[w:], y[w:], bs, seed=0, first_epoch=0, epochs=1)
        t = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        train_s = time.perf_counter() - t
        model.predict(pair_dataset(images, work.ta[:128], work.tb[:128], work.ty[:128], 128), verbose=0)
        t = time.perf_counter()
        model.predict(pair_dataset(images, work.ta, work.tb, work.ty, 128), verbose=0)
        pred_s = time.perf_counter() - t
    n_test = len(work.ta)
    out = {
        "label": v.label, "setup": v.describe(), "precision": policy, "input": v.input, "fused_towers": v.fused_towers,
        "bn_fused": v.bn_fused, "jit_compile": jit,
        "train_pairs_per_s": work.steps * bs / train_s, "predict_pairs_per_s": n_test / pred_s,
        "predict_1000_pairs_s": pred_s * 1000 / n_test, "rss_growth_mib": rss_mib() - rss0,
        "forward_gflop_per_image": tower_flops(model) / 1e9,
    }
    del model
    return out


def _add_flops(res: dict[str, Any]) -> None:
    train_flop_per_pair = 3 * 2 * res["forward_gflop_per_image"] * 1e9  # forward + backward (~2x), two images
    from .setup import gpu_compute_capabilities
    peak, how = (None, "unknown: a GPU (no nominal peak is estimated)") if gpu_compute_capabilities() else \
        cpu_peak_flops(res["precision"])
    achieved = res["train_pairs_per_s"] * train_flop_per_pair
    res["train_gflop_per_s"] = achieved / 1e9
    res["fraction_of_peak"] = achieved / peak if peak else None
    res["peak_estimate"] = how


def run_bench(steps: int = 12, batch_size: int = 32, warmup: int = 3, data: str | None = None,
              progress: bool = True, precision: str = "auto", jit_compile: bool = False,
              fused_towers: bool = True, bn_fused: bool = True) -> dict[str, Any]:
    """Time `steps` training steps and a 1,000-pair prediction both ways; returns the figures as a dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = _prepare(steps, batch_size, warmup, data, progress)
    ours = Variant("ours", precision=precision, fused_towers=fused_towers, bn_fused=bn_fused, jit_compile=jit_compile)
    from .setup import active_backend
    out: dict[str, Any] = {"backend": active_backend(), "steps": steps, "warmup_steps": warmup, "batch_size": batch_size,
                           "test_pairs": len(work.ta)}
    for key, v in (("reference_style", REFERENCE_STYLE), ("ours", ours)):
        if progress:
            print(f"{v.label} ({v.describe()}): warm-up {warmup} steps, then {steps} timed steps", flush=True)
        out[key] = time_variant(work, v)
        _add_flops(out[key])
    out["reference_style"]["input"] = "float64 NumPy arrays, model.fit(x, y)"
    out["ours"]["input"] = ("uint8 tensor, tf.data gather + cast in graph" if _tensorflow() else
                            "uint8 array, NumPy gather + cast per batch (keras.utils.PyDataset)")
    out["train_speedup"] = out["ours"]["train_pairs_per_s"] / out["reference_style"]["train_pairs_per_s"]
    out["predict_speedup"] = out["ours"]["predict_pairs_per_s"] / out["reference_style"]["predict_pairs_per_s"]

    # input pipeline alone: the same batches through a trivial consumer
    from ..data.pipeline import as_images, training_dataset
    images = as_images(work.store.array)
    t = time.perf_counter()
    n_batches = sum(1 for _ in training_dataset(images, work.a, work.b, work.y, batch_size, seed=0, first_epoch=0, epochs=1))
    pipe = time.perf_counter() - t
    out["input_pipeline_pairs_per_s"] = n_batches * batch_size / pipe if pipe else None
    out["forward_gflop_per_image"] = out["ours"]["forward_gflop_per_image"]
    out["train_gflop_per_pair"] = 6 * out["forward_gflop_per_image"]
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if progress:
        print(format_table(out))
    return out


def run_ablation(steps: int = 12, batch_size: int = 32, warmup: int = 3, data: str | None = None,
                 progress: bool = True, variants: tuple[Variant, ...] = ABLATION) -> dict[str, Any]:
    """Every variant of `ABLATION` on the same pairs in one process: what each optimization contributes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = _prepare(steps, batch_size, warmup, data, progress)
    rows = []
    for k, v in enumerate(variants):
        if progress:
            print(f"[{k + 1}/{len(variants)}] {v.label}: {v.describe()}", flush=True)
        r = time_variant(work, v)
        _add_flops(r)
        rows.append(r)
    add_gains(rows)
    from .setup import active_backend
    out = {"backend": active_backend(), "steps": steps, "warmup_steps": warmup, "batch_size": batch_size, "variants": rows,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if progress:
        print(format_ablation(out))
    return out


ABLATION_FIELDS = ("input", "precision", "fused_towers", "bn_fused", "jit_compile")


def one_change_parents(rows: list[dict[str, Any]]) -> list[int | None]:
    """For each variant, the nearest earlier variant that differs from it in exactly one setting (None if none):
    the row it is compared with, so every ratio measures one optimization."""
    out: list[int | None] = []
    for k, r in enumerate(rows):
        parent = None
        for j in range(k - 1, -1, -1):
            if sum(rows[j][f] != r[f] for f in ABLATION_FIELDS) == 1:
                parent = j
                break
        out.append(parent)
    return out


def add_gains(rows: list[dict[str, Any]]) -> None:
    """Speed-up over the first row, and over the one-change parent (its label in `compared_with`)."""
    base = rows[0]["train_pairs_per_s"]
    for r, p in zip(rows, one_change_parents(rows)):
        r["train_speedup_vs_reference_style"] = r["train_pairs_per_s"] / base
        r["compared_with"] = rows[p]["label"] if p is not None else None
        r["train_gain_vs_compared"] = r["train_pairs_per_s"] / rows[p]["train_pairs_per_s"] if p is not None else None


def format_ablation(res: dict[str, Any]) -> str:
    lines = [f"{'variant':<34}{'train pairs/s':>14}{'x ref style':>12}{'x compared':>11}  {'compared with':<26}{'predict 1,000 (s)':>18}"]
    for r in res["variants"]:
        gain = f"{r['train_gain_vs_compared']:.2f}" if r.get("train_gain_vs_compared") else ""
        lines.append(f"{r['label']:<34}{r['train_pairs_per_s']:>14.1f}{r['train_speedup_vs_reference_style']:>12.2f}"
                     f"{gain:>11}  {r.get('compared_with') or '':<26}{r['predict_1000_pairs_s']:>18.2f}")
    return "\n".join(lines)


def format_table(res: dict[str, Any]) -> str:
    r, o = res["reference_style"], res["ours"]
    lines = [
        f"{'':<28}{'reference style':>18}{'ours':>18}",
        f"{'precision':<28}{r['precision']:>18}{o['precision']:>18}",
        f"{'train pairs/s':<28}{r['train_pairs_per_s']:>18.1f}{o['train_pairs_per_s']:>18.1f}",
        f"{'predict pairs/s':<28}{r['predict_pairs_per_s']:>18.1f}{o['predict_pairs_per_s']:>18.1f}",
        f"{'predict 1,000 pairs (s)':<28}{r['predict_1000_pairs_s']:>18.2f}{o['predict_1000_pairs_s']:>18.2f}",
        f"{'train GFLOP/s':<28}{r['train_gflop_per_s']:>18.0f}{o['train_gflop_per_s']:>18.0f}",
        f"{'fraction of nominal peak':<28}{(r['fraction_of_peak'] or float('nan')):>18.1%}{(o['fraction_of_peak'] or float('nan')):>18.1%}",
        f"train speedup {res['train_speedup']:.2f}x, predict speedup {res['predict_speedup']:.2f}x, "
        f"input pipeline alone {res['input_pipeline_pairs_per_s']:.0f} pairs/s, peak RSS {res['peak_rss_mib']:.0f} MiB",
    ]
    return "\n".join(lines)
