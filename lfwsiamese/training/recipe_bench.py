"""Training speed of a named recipe, as it trains: its model, loss, precision, batches and augmentation.

`bench.run_bench` compares two ways of computing the reference network; this one times any recipe (`improved`,
`npair`) through the same dataset and compiled model that `train` builds, so its pairs per second, GFLOP/s and
fraction of the CPU's nominal peak say what one epoch of that recipe costs on this machine, before a run is
started. Validation and test scoring, done once per epoch during training, are not in the timed steps.
"""
from __future__ import annotations

import os
import resource
import time
from typing import Any

from ..data import protocols as P
from ..data.images import Preprocess, load_images
from ..data.paths import require_data_dir, splits_dir
from ..data.sampling import epoch_pair_arrays, identity_groups
from ..errors import ConfigError
from ..models.towers import tower_flops
from ..recipes import get_config
from .bench import cpu_peak_flops
from .optim import build_models
from .setup import active_backend, gpu_compute_capabilities, precision_policy, setup


def run_recipe_bench(name: str, steps: int = 20, warmup: int = 3, data: str | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Time `steps` training steps of recipe `name` (after `warmup` untimed ones) on DevTrain people's images; the
    recipe's precision policy holds for the benchmark only."""
    with precision_policy():
        return _run_recipe_bench(name, steps, warmup, data, progress)


def _run_recipe_bench(name: str, steps: int, warmup: int, data: str | None, progress: bool) -> dict[str, Any]:
    if steps < 1 or warmup < 1:
        raise ConfigError(f"steps={steps}, warmup={warmup}: both must be at least 1 (the first step compiles)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cfg = get_config(name)
    if cfg.data.sampling != "identities":
        raise ConfigError(f"recipe {name!r} trains on fixed pairs (data.sampling={cfg.data.sampling!r}); "
                         "time it with `lfwsiamese bench` (the reference network) instead")
    data_dir = require_data_dir(data)
    policy = setup(cfg)
    store = load_images(data_dir, Preprocess.of(cfg.data), progress=progress)
    people = P.load_people("peopleDevTrain.txt", splits_dir(data_dir))[0].counts
    bs = cfg.train.batch_size
    n = (warmup + steps) * bs
    npair = bs if cfg.train.loss == "npair" else 0
    a, b, y = epoch_pair_arrays(identity_groups(store, people), n, cfg.seed, 0, 1, positive_batch=npair)
    from ..data.pipeline import epoch_pairs_dataset
    ds = epoch_pairs_dataset(store.array, a, b, y, bs, seed=cfg.seed, first_epoch=0,
                             pixel_scale=cfg.data.pixel_scale, augment=cfg.data.augment)
    model, scorer = build_models(cfg, steps + warmup)
    it = iter(ds)
    if progress:
        print(f"{name}: {warmup} warm-up steps, then {steps} timed steps of {bs} pairs ({policy})", flush=True)
    for _ in range(warmup):  # the first call traces and compiles the step
        model.train_on_batch(*next(it))
    t = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*next(it))
    seconds = time.perf_counter() - t
    pairs_per_s = steps * bs / seconds
    gflop_image = tower_flops(scorer) / 1e9
    achieved = pairs_per_s * 6 * gflop_image * 1e9  # two images a pair, backward ~2x forward
    peak, how = (None, "unknown: a GPU") if gpu_compute_capabilities() else cpu_peak_flops(policy)
    out = {
        "recipe": name, "backend": active_backend(), "precision": policy, "loss": cfg.train.loss,
        "batch_size": bs, "steps": steps, "warmup_steps": warmup, "augment": cfg.data.augment,
        "image_size": cfg.data.size, "forward_gflop_per_image": gflop_image,
        "train_pairs_per_s": pairs_per_s, "train_gflop_per_s": achieved / 1e9,
        "fraction_of_peak": achieved / peak if peak else None, "peak_estimate": how,
        "pairs_per_epoch": cfg.data.pairs_per_epoch, "epochs": cfg.train.epochs,
        "estimated_fit_minutes": cfg.data.pairs_per_epoch * cfg.train.epochs / pairs_per_s / 60,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if progress:
        print(format_recipe_bench(out))
    return out


def format_recipe_bench(res: dict[str, Any]) -> str:
    frac = f"{res['fraction_of_peak']:.1%}" if res["fraction_of_peak"] is not None else "unknown"
    return (f"{res['recipe']} ({res['precision']}, {res['loss']} loss, batch {res['batch_size']}): "
            f"{res['train_pairs_per_s']:.0f} train pairs/s, {res['train_gflop_per_s']:.0f} GFLOP/s "
            f"({frac} of nominal peak: {res['peak_estimate']}); {res['epochs']} epochs of "
            f"{res['pairs_per_epoch']:,} pairs = {res['estimated_fit_minutes']:.1f} min of training steps "
            "(per-epoch validation and test scoring not included)")
