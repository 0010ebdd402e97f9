"""Named plans of runs (the book's sweeps). Running a plan skips finished records and resumes the interrupted one."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Callable

from ..config import ExperimentConfig, with_overrides
from ..errors import (
    ConfigError,
    LfwSiameseError,
    OutputError,
    RunLockedError,
    RunsFailedError,
)
from ..recipes import SMOKE, get_config
from ..records.store import Record, find_record, require_results_dir
from .engines import LOCAL, EngineOptions, RunOutcome, shared_paths
from .experiments import load_or_run

LR_GRID = (5e-6, 1e-5, 3e-5, 5e-5, 7e-5, 1e-4, 1e-3)
EPOCH_GRID = (1, 2, 3, 5, 10, 15, 20, 30)
BATCH_GRID = (8, 16, 32, 48, 64)
INIT_SCHEMES = {
    "koch": {"model.kernel_init": "normal:0:0.01", "model.bias_init": "normal:0.5:0.01", "model.dense_init": "normal:0:0.01"},
    "glorot": {"model.kernel_init": "glorot_uniform", "model.bias_init": "zeros", "model.dense_init": "glorot_uniform"},
    "he": {"model.kernel_init": "he_normal", "model.bias_init": "zeros", "model.dense_init": "he_normal"},
}


def _ref(seed: int, name: str = "reference", reuse: bool = True, **overrides) -> ExperimentConfig:
    """The reference network and training, computed with the fused batch-norm kernel (1.7x faster here).

    With `reuse`, a point of a sweep that is the reference itself (learning rate 5e-5, batch 32) is the
    `reference-fast` run of that seed, so it is trained once for all sweeps.
    """
    base = get_config("reference-fast", seed=seed)
    cfg = with_overrides(replace(base, name=name), overrides) if overrides else replace(base, name=name)
    if reuse and replace(cfg, name=base.name) == base:
        return base.validate()
    return cfg.validate()


def plan_reproduction() -> list[ExperimentConfig]:
    return [get_config("reference", seed=s) for s in (0, 1, 2)] + [get_config("reference-pairval", seed=0)]


def plan_precision() -> list[ExperimentConfig]:
    """Does the fast path (bfloat16, fused towers, fused batch norm) train as well as plain float32? 3 seeds each."""
    return [get_config(n, seed=s) for n in ("reference-fast", "reference-fp32") for s in (0, 1, 2)]


def plan_lr(seeds: tuple[int, ...] = (0, 1)) -> list[ExperimentConfig]:
    return [_ref(s, "sweep-lr", **{"train.learning_rate": lr}) for lr in LR_GRID for s in seeds]


def plan_batch(seeds: tuple[int, ...] = (0, 1)) -> list[ExperimentConfig]:
    return [_ref(s, "sweep-batch", **{"train.batch_size": b}) for b in BATCH_GRID for s in seeds]


def plan_epochs(seeds: tuple[int, ...] = (0, 1)) -> list[ExperimentConfig]:
    """One 30-epoch run without early stopping per seed; epoch k of it is the k-epoch run (no schedule)."""
    return [_ref(s, "sweep-epochs", **{"train.epochs": max(EPOCH_GRID), "train.early_stopping": False}) for s in seeds]


def plan_init(seeds: tuple[int, ...] = (0, 1)) -> list[ExperimentConfig]:
    """Three schemes x first-layer bias or not x seeds; the three schemes with the bias (the reference's layer) first."""
    out = []
    for bias in (True, False):
        for scheme, ov in INIT_SCHEMES.items():
            for s in seeds:
                # never reused: the chapter needs the weight histograms that newer records carry
                out.append(_ref(s, f"init-{scheme}-{'bias' if bias else 'nobias'}", reuse=False, **ov,
                                **{"model.first_conv_bias": bias}))
    return out


def plan_improved(seeds: tuple[int, ...] = (0, 1, 2)) -> list[ExperimentConfig]:
    return [get_config("improved", seed=s) for s in seeds]


#: The improved recipe with one component taken away (or replaced by the reference's choice), for the
#: ablation table of the "Beyond" chapter; the ResNet tower itself is compared through the reproduction.
ABLATION_STEPS: dict[str, dict[str, object]] = {
    "no-crop": {"data.crop": ()},  # the whole 250x250 frame, as the reference
    "pairs": {"data.sampling": "pairs"},  # the 2,200 DevTrain pairs instead of fresh identity pairs
    "no-augment": {"data.augment": ""},
    "l1-head": {"model.head": "l1_sigmoid"},  # Koch's |h1 - h2| -> dense sigmoid instead of the cosine head
    "constant-lr": {"train.lr_schedule": "constant"},  # warm-up, then no cosine decay
    "no-weight-decay": {"train.weight_decay": 0.0},  # Adam instead of AdamW
}


#: What each ablation step takes away, in words for the book's table.
ABLATION_LABELS: dict[str, str] = {
    "no-crop": "whole 250x250 frame instead of the face crop",
    "pairs": "the 2,200 fixed DevTrain pairs instead of fresh identity pairs each epoch",
    "no-augment": "no flips, shifts, brightness or contrast changes",
    "l1-head": "Koch's weighted L1 + sigmoid head instead of the cosine head",
    "constant-lr": "constant learning rate after warm-up instead of the cosine decay",
    "no-weight-decay": "Adam without weight decay instead of AdamW",
}


#: The component each ablation step takes away, as a noun for the book's sentences.
ABLATION_COMPONENTS: dict[str, str] = {
    "no-crop": "the face crop", "pairs": "fresh identity pairs", "no-augment": "augmentation",
    "l1-head": "the cosine head", "constant-lr": "the cosine decay", "no-weight-decay": "weight decay",
}


def ablation_config(step: str, seed: int) -> ExperimentConfig:
    """The improved recipe without one component (`ABLATION_STEPS`), as `improved-<step>`."""
    if step not in ABLATION_STEPS:
        raise ConfigError(f"unknown ablation step {step!r}; available: {', '.join(ABLATION_STEPS)}")
    base = get_config("improved")
    return with_overrides(replace(base, name=f"improved-{step}", seed=seed), ABLATION_STEPS[step]).validate()


def plan_ablation(seeds: tuple[int, ...] = (0, 1)) -> list[ExperimentConfig]:
    """One component of the improved model removed at a time, two seeds each; compared on validation.

    Seed-major order: every step's first seed runs before any second seed, so a half-finished sweep (each
    run takes about as long as the improved model) already has a row for every step."""
    return [ablation_config(step, s) for s in seeds for step in ABLATION_STEPS]


#: Seeds of the improved model under View 1's restricted protocol, as many as the unrestricted model has.
RESTRICTED_SEEDS = (0, 1, 2)


def plan_restricted(seeds: tuple[int, ...] = RESTRICTED_SEEDS) -> list[ExperimentConfig]:
    """The improved model trained on the 2,200 DevTrain pairs only (`improved-pairs`, the peers' protocol), three
    seeds like the unrestricted model, so that the comparison with the peers is like for like. The same configs
    as the ablation's `pairs` step: its seeds 0 and 1 are shared with it."""
    return [ablation_config("pairs", s) for s in seeds]


#: The reproduction gap: one recipe, one precision, enough seeds to place the reference's reported accuracy in the
#: seed distribution; the reference's own conditions (float32 as TensorFlow's default, the tower called per
#: branch, Keras' batch norm) with person-disjoint validation and with its pair-level validation.
GAP_RECIPES = ("reference-fp32", "reference-fp32-pairval")
GAP_SEEDS = tuple(range(10))


def plan_gap(seeds: tuple[int, ...] = GAP_SEEDS) -> list[ExperimentConfig]:
    """Ten seeds of each of `GAP_RECIPES`, seed-major (a half-finished plan has both setups equally far)."""
    return [get_config(name, seed=s) for s in seeds for name in GAP_RECIPES]


#: The accuracy search (issue 14): each candidate is `improved` plus these overrides, trained with seed 0 and
#: compared on validation people only; all of them, in the order they were tried, count as candidates searched.
SEARCH_CANDIDATES: tuple[dict[str, str], ...] = (
    {"train.loss": "npair"},
    {"train.loss": "npair", "train.loss_margin": "0.2", "train.loss_scale": "32"},
    {"train.loss": "npair", "train.batch_size": "128", "data.pairs_per_epoch": "8192"},
    {"train.loss": "npair", "train.epochs": "50"},
)

#: Candidates tried but not trained to the end (index into `SEARCH_CANDIDATES` -> why). They count as tried, have
#: no validation number and take no part in the choice; `plan_search` leaves them out.
SEARCH_ABANDONED: dict[int, str] = {
    3: ("stopped at epoch 12 of 50 when its session ended; the checkpoint was lost with that machine, and at "
        "twice the others' training time it was not trained again (its partial history is in results/abandoned/)"),
}


def search_configs(seed: int = 0) -> list[ExperimentConfig]:
    """Every candidate of the accuracy search, abandoned ones included, named `search-npair` (never a default)."""
    return [with_overrides(get_config("improved", seed=seed), {"name": "search-npair", **ov}) for ov in SEARCH_CANDIDATES]


def plan_search(seed: int = 0) -> list[ExperimentConfig]:
    """The candidates of the accuracy search that were trained to the end (not `SEARCH_ABANDONED`)."""
    return [c for k, c in enumerate(search_configs(seed)) if k not in SEARCH_ABANDONED]


#: Fresh seeds of the chosen recipe: seed 0 is the search's candidate (selected on validation, so its own numbers
#: are inflated); the book's View 1 numbers for `npair` are these.
NPAIR_SEEDS = (1, 2, 3)


def plan_npair(seeds: tuple[int, ...] = NPAIR_SEEDS) -> list[ExperimentConfig]:
    """The recipe the search chose (`npair`), trained again on fresh seeds; with `improved`'s three seeds on the
    same processor it is also the ablation of what the recipe adds (one step: the loss)."""
    return [get_config("npair", seed=s) for s in seeds]


def view2_configs(cfg: ExperimentConfig, folds: tuple[int, ...] = tuple(range(10))) -> list[ExperimentConfig]:
    """The runs of LFW's View 2 protocol for a config: one per test fold, trained on the nine other folds."""
    bad = [f for f in folds if not 0 <= f <= 9]
    if bad:
        raise ConfigError(f"folds {bad}: View 2 has folds 0..9")
    return [replace(cfg, data=replace(cfg.data, protocol="view2", fold=f)).validate() for f in folds]


def plan_view2(seed: int = 0) -> list[ExperimentConfig]:
    return view2_configs(get_config("improved", seed=seed))


def plan_npair_view2(seed: int = 0) -> list[ExperimentConfig]:
    """LFW's ten View 2 folds for the chosen recipe, one seed, as `plan_view2` for `improved`."""
    return view2_configs(get_config("npair", seed=seed))


def plan_regions(seed: int = 0) -> list[ExperimentConfig]:
    """The region candidates of the ensemble (issue #33), on View 1 with person-disjoint validation: the regions
    kept for View 2 are chosen by these runs' validation accuracy and AUC, never by DevTest."""
    from ..recipes import REGIONS
    return [get_config(f"npair-region-{r}", seed=seed) for r in REGIONS]


def plan_regions_view2(seed: int = 0) -> list[ExperimentConfig]:
    """The region kept for View 2 (issue #33): the eye band. Chosen on View 1's validation people only: of the six
    regions, each fused with the N-pair model's validation scores by a logistic regression (10-fold
    cross-validation over the 1,000 validation pairs; 6 candidates tried), the eye band gained most."""
    return view2_configs(get_config("npair-region-eyes", seed=seed))


PLANS: dict[str, Callable[[], list[ExperimentConfig]]] = {
    "improved": plan_improved,
    "reproduction": plan_reproduction,
    "precision": plan_precision,
    "epochs": plan_epochs,
    "lr": plan_lr,
    "batch": plan_batch,
    "init": plan_init,
    "view2": plan_view2,
    "ablation": plan_ablation,
    "search": plan_search,
    "npair": plan_npair,
    "npair-view2": plan_npair_view2,
    "restricted": plan_restricted,
    "gap": plan_gap,
    "regions": plan_regions,
}


#: Seeds of the served recipe: seed 0 is the shipped model; seed 1 is the second member of a candidate ensemble
#: (two towers without mirror averaging cost what one tower with it costs), to be judged on validation photos only.
#: Seed 1 keeps seed 0's validation people (`data.split_seed`), so neither tower has trained on them.
SERVED_SEEDS = (0, 1)


def plan_served(seeds: tuple[int, ...] = SERVED_SEEDS) -> list[ExperimentConfig]:
    """Train what is served (issue #34): the shipped model's recipe (the search's first candidate, which validation
    chose) trained on crops and on photos aligned by the verifier's own pipeline (`data.images="mixed"`); a model
    replaces the shipped one only if it does better on the validation people's photos, the same people for every
    seed."""
    first = SERVED_SEEDS[0]
    return [replace(c, name="served-npair", data=replace(c.data, images="mixed",
                                                          split_seed=-1 if c.seed == first else first)).validate()
            for c in (search_configs(s)[0] for s in seeds)]


def plan_smoke() -> list[ExperimentConfig]:
    """Two runs of the smoke recipe (seconds each): for tests and for checking that a cluster works."""
    return [get_config(SMOKE, seed=s) for s in (0, 1)]


#: Plans not (yet) read by the book: `sweep all` and the Reproducing chapter leave them out. "regions-view2" joins
#: PLANS when its ten folds are recorded and a chapter reads them.
EXTRA_PLANS: dict[str, Callable[[], list[ExperimentConfig]]] = {"smoke": plan_smoke,
                                                                 "regions-view2": plan_regions_view2,
                                                                 "served": plan_served}


def get_plan(name: str) -> list[ExperimentConfig]:
    """A plan's configs; "all" is every plan of the book (`PLANS`), not the `EXTRA_PLANS`."""
    if name == "all":
        return [c for p in PLANS.values() for c in p()]
    if name in EXTRA_PLANS:
        return EXTRA_PLANS[name]()
    if name not in PLANS:
        raise ConfigError(f"unknown plan {name!r}; available: all, {', '.join([*PLANS, *EXTRA_PLANS])}")
    return PLANS[name]()


def run_configs(cfgs: list[ExperimentConfig], label: str, data: str | os.PathLike | None = None,
                results: str | os.PathLike | None = None, progress: bool = True, dry_run: bool = False,
                engine: EngineOptions | None = None) -> list[Record]:
    """Every run of `cfgs` on `engine` (default: local, in order, in this process); finished records are
    skipped, a run locked by another process too.

    A run that fails (a diverged loss, a config that cannot be built) is reported and the others go on, so one
    bad point does not stop hours of queued work; the failures are raised together at the end, as a
    `RunsFailedError` that carries the records made. A results folder that cannot be written is refused before
    the first run, and a write that fails (a full disk) stops the sweep."""
    engine = (engine or LOCAL).validate()
    done = [c for c in cfgs if find_record(c, results) is not None]
    if not dry_run and len(done) < len(cfgs):
        require_results_dir(results)
    on = f" on Ray ({engine.address or 'a local instance'})" if engine.kind == "ray" else ""
    print(f"{label}: {len(cfgs)} runs, {len(done)} already recorded{on}", file=sys.stderr)
    if engine.kind == "ray" and not dry_run:
        outcomes = _on_ray(cfgs, data, results, progress, engine)
    else:
        outcomes = _locally(cfgs, data, results, progress, dry_run)
    out = [o.record for o in outcomes if o.record is not None]
    failed = [(o.run_name, o.error) for o in outcomes if o.status == "failed"]
    if not dry_run:
        locked = sum(o.status == "locked" for o in outcomes)
        print(f"{label}: {len(out) - len(done)} trained now, {len(done)} already recorded, {len(failed)} failed"
              + (f", {locked} skipped (locked by another process)" if locked else ""), file=sys.stderr)
    if failed:
        raise RunsFailedError(f"{label}: {len(failed)} run(s) failed, {len(out)} of {len(cfgs)} recorded:\n  "
                              + "\n  ".join(f"{n}: {e}" for n, e in failed), records=out, failed=failed)
    return out


def _locally(cfgs: list[ExperimentConfig], data: str | os.PathLike | None, results: str | os.PathLike | None,
             progress: bool, dry_run: bool) -> list[RunOutcome]:
    """The local engine: one run after another in this process."""
    outcomes: list[RunOutcome] = []
    for k, cfg in enumerate(cfgs):
        rec = find_record(cfg, results)
        status = "done" if rec else "to run"
        print(f"[{k + 1}/{len(cfgs)}] {cfg.run_name}: {status}", file=sys.stderr)
        if rec or dry_run:
            outcomes.append(RunOutcome(cfg.run_name, "done" if rec else "planned", rec))
            continue
        t = time.perf_counter()
        try:
            rec = load_or_run(cfg, data=data, results=results, progress=progress)
        except RunLockedError as e:  # locked by a concurrent sweep: leave it to that process
            print(f"  skipped: {e}", file=sys.stderr)
            outcomes.append(RunOutcome(cfg.run_name, "locked", error=str(e)))
            continue
        except OutputError:  # the disk, not this run: the next runs would fail the same way (a rerun skips the done)
            raise
        except Exception as e:  # noqa: BLE001 - any error of one run: reported, the sweep goes on
            msg = str(e) if isinstance(e, LfwSiameseError) else f"{type(e).__name__}: {e}"
            print(f"  FAILED: {msg}", file=sys.stderr)
            outcomes.append(RunOutcome(cfg.run_name, "failed", error=msg))
            continue
        print(f"  finished in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        outcomes.append(RunOutcome(cfg.run_name, "done", rec, seconds=time.perf_counter() - t))
    return outcomes


def _on_ray(cfgs: list[ExperimentConfig], data: str | os.PathLike | None, results: str | os.PathLike | None,
            progress: bool, engine: EngineOptions) -> list[RunOutcome]:
    """The ray engine: the unfinished runs as Ray tasks; the finished ones are never submitted."""
    from .ray_engine import print_outcome, run_on_ray
    todo: list[ExperimentConfig] = []
    found: dict[str, Record] = {}
    for k, cfg in enumerate(cfgs):
        rec = find_record(cfg, results)
        print(f"[{k + 1}/{len(cfgs)}] {cfg.run_name}: {'done' if rec else 'to run'}", file=sys.stderr)
        if rec is not None:
            found[cfg.run_name] = rec
        else:
            todo.append(cfg)
    ran: dict[str, RunOutcome] = {}
    if todo:
        data_dir, results_dir = shared_paths(data, results)
        print(f"submitting {len(todo)} run(s) to Ray: {engine.cpus_per_run:g} CPU and {engine.gpus_per_run:g} GPU "
              f"each, records in {results_dir}", file=sys.stderr)
        ran = {o.run_name: o for o in run_on_ray(todo, data_dir, results_dir, progress, engine, print_outcome)}
    return [RunOutcome(c.run_name, "done", found[c.run_name]) if c.run_name in found else ran[c.run_name]
            for c in cfgs]


def run_plan(name: str, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
             progress: bool = True, dry_run: bool = False,
             after: Callable[[Record], None] | None = None, engine: EngineOptions | None = None) -> list[Record]:
    """Every run of the plan, in order; finished records are skipped, a run locked by another process too.

    `after` is called on each record once the plan has run (the command line's `--oneshot` passes the N-way test).
    """
    out = run_configs(get_plan(name), f"plan {name}", data, results, progress, dry_run, engine)
    if after is not None and not dry_run:
        for rec in out:
            after(rec)
    return out
