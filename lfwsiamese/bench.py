"""Training and prediction speed of the reference network: the reference's loop against ours, same process.

Reference style: pairs held as float64 NumPy arrays, float32 model, `model.fit` on the arrays.
Ours: uint8 images gathered, cast and scaled inside a tf.data graph, the default precision policy.
"""
from __future__ import annotations

import gc
import os
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import protocols as P
from .config import get_config
from .data import load_images, require_data_dir, splits_dir
from .experiments import rss_mib


def forward_flops(model: Any) -> float:
    """FLOPs of one tower forward pass (2 per multiply-add), from the layer shapes: convs and dense layers."""
    tower = model.get_layer("tower")
    total = 0.0
    for layer in tower.layers:
        name = type(layer).__name__
        if name == "Conv2D":
            k = layer.kernel.shape  # (kh, kw, cin, cout)
            out = layer.output.shape  # (None, h, w, cout)
            total += 2.0 * out[1] * out[2] * k[0] * k[1] * k[2] * k[3]
        elif name == "Dense":
            k = layer.kernel.shape
            total += 2.0 * k[0] * k[1]
    return total


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
    if "bfloat16" in precision and " amx_bf16" in info:
        per_cycle, unit = 1024, "AMX-BF16 tile multiply: 1,024 bf16 FLOP/cycle/core"
    elif " avx512f" in info:
        per_cycle, unit = 64, "AVX-512: 2 FMA units x 16 fp32 x 2 = 64 FLOP/cycle/core"
    elif " avx2" in info:
        per_cycle, unit = 32, "AVX2: 2 FMA units x 8 fp32 x 2 = 32 FLOP/cycle/core"
    else:
        return None, "unknown vector unit"
    peak = per_cycle * ghz * 1e9 * cores
    return peak, f"{unit} x {ghz:.2f} GHz (cpu MHz in /proc/cpuinfo) x {cores} logical CPUs"


def run_bench(steps: int = 12, batch_size: int = 32, warmup: int = 3, data: str | None = None,
              progress: bool = True, precision: str = "auto", jit_compile: bool = False,
              fused_towers: bool = True, bn_fused: bool = True) -> dict[str, Any]:
    """Time `steps` training steps and a 1,000-pair prediction both ways; returns the figures as a dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from .models import build_siamese
    from .pipeline import pair_dataset, training_dataset
    from .train import resolve_precision

    cfg = get_config("reference")
    data_dir = require_data_dir(data)
    store = load_images(data_dir, progress=progress)
    sdir = splits_dir(data_dir)
    train = P.load_pairs("pairsDevTrain.txt", sdir)
    test = P.load_pairs("pairsDevTest.txt", sdir)
    n_train = (warmup + steps) * batch_size
    a, b, y = store.rows(train[: min(n_train, len(train))])
    while len(a) < n_train:  # more steps than pairs: repeat
        a, b, y = np.concatenate([a, a]), np.concatenate([b, b]), np.concatenate([y, y])
    a, b, y = a[:n_train], b[:n_train], y[:n_train]
    ta, tb, ty = store.rows(test)
    out: dict[str, Any] = {"steps": steps, "warmup_steps": warmup, "batch_size": batch_size, "test_pairs": len(test)}

    def say(msg: str) -> None:
        if progress:
            print(msg, flush=True)

    # (a) reference style ------------------------------------------------------------------------------
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    rss0 = rss_mib()
    x1 = store.array[a][..., None].astype(np.float64)  # as the reference held its pairs: float64, 0..255
    x2 = store.array[b][..., None].astype(np.float64)
    ref_cfg = get_config("reference-fp32")  # float32, the tower called once per branch
    model = build_siamese(ref_cfg.model, ref_cfg.data.size)
    model.compile(keras.optimizers.Adam(5e-5), "binary_crossentropy", metrics=["accuracy"])
    wn = warmup * batch_size
    say(f"reference style: warm-up {warmup} steps, then {steps} timed steps")
    model.fit([x1[:wn], x2[:wn]], y[:wn], batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    t = time.perf_counter()
    model.fit([x1[wn:], x2[wn:]], y[wn:], batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    ref_train = time.perf_counter() - t
    p1 = store.array[ta][..., None].astype(np.float64)
    p2 = store.array[tb][..., None].astype(np.float64)
    model.predict([p1[:64], p2[:64]], verbose=0, batch_size=32)
    t = time.perf_counter()
    model.predict([p1, p2], verbose=0, batch_size=32)
    ref_pred = time.perf_counter() - t
    ref_rss = rss_mib() - rss0
    flops = forward_flops(model)
    del model, x1, x2, p1, p2
    gc.collect()
    keras.backend.clear_session()

    # (b) ours -------------------------------------------------------------------------------------------
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    rss1 = rss_mib()
    fast = get_config("reference-fast").model  # the same network; batch norm through the fused kernel
    model = build_siamese(replace(fast, fused_towers=fused_towers, bn_fused=bn_fused), cfg.data.size)
    model.compile(keras.optimizers.Adam(5e-5), "binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    say(f"ours ({policy}{', XLA' if jit_compile else ''}{', fused towers' if fused_towers else ''}{', fused batch norm' if bn_fused else ''}): warm-up {warmup} steps, then {steps} timed steps")
    images = tf.constant(store.array)
    warm = training_dataset(images, a[:wn], b[:wn], y[:wn], batch_size, seed=0, first_epoch=0, epochs=1)
    model.fit(warm, epochs=1, verbose=0)
    ds = training_dataset(images, a[wn:], b[wn:], y[wn:], batch_size, seed=0, first_epoch=0, epochs=1)
    t = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    our_train = time.perf_counter() - t
    pds = pair_dataset(images, ta, tb, ty, 128)
    model.predict(pair_dataset(images, ta[:128], tb[:128], ty[:128], 128), verbose=0)
    t = time.perf_counter()
    model.predict(pds, verbose=0)
    our_pred = time.perf_counter() - t
    our_rss = rss_mib() - rss1

    # input pipeline alone: the same batches through a trivial consumer
    t = time.perf_counter()
    n_batches = sum(1 for _ in training_dataset(images, a, b, y, batch_size, seed=0, first_epoch=0, epochs=1))
    pipe = time.perf_counter() - t

    pairs = steps * batch_size
    train_flop_per_pair = 3 * 2 * flops  # forward + backward (~2x forward), two images per pair
    out["reference_style"] = {
        "precision": "float32", "input": "float64 NumPy arrays, model.fit(x, y)",
        "train_pairs_per_s": pairs / ref_train, "predict_pairs_per_s": len(test) / ref_pred,
        "predict_1000_pairs_s": ref_pred * 1000 / len(test), "rss_growth_mib": ref_rss,
    }
    out["ours"] = {
        "precision": policy, "jit_compile": jit_compile, "fused_towers": fused_towers, "bn_fused": bn_fused, "input": "uint8 tensor, tf.data gather + cast in graph",
        "train_pairs_per_s": pairs / our_train, "predict_pairs_per_s": len(test) / our_pred,
        "predict_1000_pairs_s": our_pred * 1000 / len(test), "rss_growth_mib": our_rss,
    }
    out["train_speedup"] = out["ours"]["train_pairs_per_s"] / out["reference_style"]["train_pairs_per_s"]
    out["predict_speedup"] = out["ours"]["predict_pairs_per_s"] / out["reference_style"]["predict_pairs_per_s"]
    out["input_pipeline_pairs_per_s"] = n_batches * batch_size / pipe if pipe else None
    out["forward_gflop_per_image"] = flops / 1e9
    out["train_gflop_per_pair"] = train_flop_per_pair / 1e9
    for key, prec in (("reference_style", "float32"), ("ours", policy)):
        peak, how = cpu_peak_flops(prec)
        achieved = out[key]["train_pairs_per_s"] * train_flop_per_pair
        out[key]["train_gflop_per_s"] = achieved / 1e9
        out[key]["fraction_of_peak"] = achieved / peak if peak else None
        out[key]["peak_estimate"] = how
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if progress:
        print(format_table(out))
    return out


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
