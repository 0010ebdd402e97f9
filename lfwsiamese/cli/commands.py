"""One function per subcommand: parse nothing, call the package, print the result, return the exit code."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator

from ..errors import LfwSiameseError, RunsFailedError
from ..files import atomic_write_json, check_writable_file, write_errors


def quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_data_check(args: argparse.Namespace) -> int:
    from ..data.check import check_data
    from ..data.paths import require_data_dir
    d = require_data_dir(args.data)
    rep = check_data(d, deep=args.deep, progress=not args.quiet)
    print(f"LFW-a at {d}: {rep.n_people} people, {rep.n_images} images")
    if rep.table:
        w = max(len(r[0]) for r in rep.table)
        print(f"{'split':<{w}}  {'pairs/people':>12}  {'people':>7}  {'images':>7}")
        for name, n, ppl, imgs in rep.table:
            print(f"{name:<{w}}  {n:>12}  {ppl:>7}  {imgs:>7}")
    for note in rep.notes or []:
        print(f"note: {note}")
    if rep.ok:
        print("OK: layout, counts, protocol checksums and referenced images" + (", image checksums and decoding" if args.deep else "") + " all hold")
        return 0
    print(f"{len(rep.problems)} problem(s):", file=sys.stderr)
    for p in rep.problems:
        print(f"  - {p}", file=sys.stderr)
    return 1


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from ..data.download import DEFAULT_URL
    from ..data.fetch import fetch
    from ..data.paths import resolve_data_dir
    target = resolve_data_dir(args.data)
    fetch(target, source=args.source, url=args.url or DEFAULT_URL, progress=not args.quiet, force=args.force)
    print(f"LFW-a ready at {target}; check it with `lfwsiamese data check --data {target}`")
    return 0


def _config_from_args(args: argparse.Namespace):
    from ..config import parse_set_args
    from ..recipes import get_config
    from ..training.setup import on_active_backend
    overrides = parse_set_args(args.set)
    cfg = get_config(args.config, seed=args.seed, overrides=overrides)
    # on the backend this process runs, unless --set names one (which training then checks)
    return cfg if {"backend", "train.backend"} & set(overrides) else on_active_backend(cfg)


def warn_if_dirty() -> None:
    """Training from uncommitted code is allowed (the record keeps the diff as code.patch), but said out loud."""
    from ..records.provenance import capture
    prov = capture()
    if prov.dirty:
        print(f"warning: the package's code differs from commit {prov.commit[:10]}; records made now store that diff "
              f"as code.patch (commit first for records anyone can rebuild from a commit alone)", file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _config_from_args(args)
    from ..records.store import find_record, require_results_dir
    from ..runs.experiments import load_or_run
    if find_record(cfg, args.results) is None:
        require_results_dir(args.results)  # before the data are loaded
        warn_if_dirty()
    rec = load_or_run(cfg, data=args.data, results=args.results, progress=not args.quiet)
    _print_record(rec)
    return 0


def _print_record(rec) -> None:
    m = rec.metrics
    print(f"record: {rec.path}")
    print(f"  epochs {m['epochs_run']}, fit {m['fit_seconds']:.0f} s, {m['train_pairs_per_second']:.1f} train pairs/s")
    print(f"  threshold (chosen on validation) {m['threshold']:.4f}")
    for split in ("val", "test"):
        s = m.get(split)
        if s:
            print(f"  {split:<4} acc {s['accuracy']:.4f}  acc@0.5 {s['accuracy_at_0.5']:.4f}  AUC {s['auc']:.4f}  EER {s['eer']:.4f}")


def _parse_folds(text: str) -> tuple[int, ...]:
    try:
        folds = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise LfwSiameseError(f"--folds {text!r}: expected comma-separated fold numbers 0..9, e.g. 0,1,2") from None
    if not folds or any(not 0 <= f <= 9 for f in folds):
        raise LfwSiameseError(f"--folds {text!r}: View 2 has folds 0..9")
    return folds


def cmd_evaluate_view2(args: argparse.Namespace) -> int:
    """Train (or load) one record per fold, then the per-fold table and mean +- standard error."""
    if args.run:
        raise LfwSiameseError("evaluate --protocol view2 takes --config NAME, not a run folder (it makes one record per fold)")
    if not args.config:
        raise LfwSiameseError("evaluate --protocol view2 needs --config NAME, e.g. --config improved")
    from ..evaluate import fold_summary
    from ..records.folds import fold_table
    from ..runs.plans import run_configs, view2_configs
    cfg = _config_from_args(args)
    cfgs = view2_configs(cfg, _parse_folds(args.folds))
    engine = engine_options(args)
    if not args.no_train:
        warn_if_dirty()
    failed = None
    try:
        recs = run_configs(cfgs, f"View 2 of {cfg.name} (seed {cfg.seed})", data=args.data, results=args.results,
                           progress=not args.quiet, dry_run=args.no_train, engine=engine)
    except RunsFailedError as e:  # the table of the folds that are recorded, then exit 1
        failed, recs = e, e.records
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
    if not recs:
        print(f"no fold of {cfg.name} is recorded yet; run without --no-train to train them")
        return 1
    table = fold_table(recs)
    summary = fold_summary([r.metrics["test"] for r in recs])
    if args.json:
        print(json.dumps({"config": cfg.name, "seed": cfg.seed, "per_fold": table.reset_index().to_dict("records"),
                          "summary": summary}, indent=2, default=str))
    else:
        import pandas as pd
        with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
            print(table.to_string())
        for key, label in (("accuracy", "accuracy (validation threshold)"), ("accuracy_at_0.5", "accuracy at 0.5"),
                           ("auc", "AUC")):
            s = summary[key]
            print(f"{label:<32} {s['mean']:.4f} +- {s['se']:.4f} (SE over {summary['folds']} folds)")
    if len(recs) < len(cfgs):
        print(f"{len(cfgs) - len(recs)} of {len(cfgs)} folds not recorded yet: the summary covers {len(recs)}", file=sys.stderr)
        return 1
    return 1 if failed is not None else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.protocol == "view2":
        if args.without_tta:
            raise LfwSiameseError("--without-tta rescoring is per run: pass a View 1 RUN_DIR (View 2 folds record it when trained)")
        return cmd_evaluate_view2(args)
    if args.config or args.set:
        raise LfwSiameseError("--config/--set go with --protocol view2; for one View 1 run pass its RUN_DIR")
    if not args.run:
        raise LfwSiameseError("evaluate needs a RUN_DIR (see `lfwsiamese runs`), or --protocol view2 --config NAME")
    from ..evaluate import evaluate_scores
    from ..records.store import load_record
    if args.without_tta:
        from ..training.run import add_without_tta
        plain = add_without_tta(args.run, args.data, progress=not args.quiet)
        rec = load_record(args.run)
        print(f"{rec.path.name}: without flip averaging (stored as without_tta in metrics.json)")
        for split in ("val", "test"):
            print(f"  {split:4s} accuracy {plain[split]['accuracy']:.4f} (with: {rec.metrics[split]['accuracy']:.4f})  "
                  f"AUC {plain[split]['auc']:.4f} (with: {rec.metrics[split]['auc']:.4f})")
        return 0
    rec = load_record(args.run)
    # recomputed from the stored per-pair scores: the record's metrics must follow from its scores
    v, t = rec.val_scores, rec.scores
    again = evaluate_scores(v["label"].to_numpy(), v["score"].to_numpy(), t["label"].to_numpy(), t["score"].to_numpy())
    stale = [f"{s}.{k}" for s in ("val", "test") for k in ("accuracy", "auc", "eer")
             if abs(again[s][k] - rec.metrics[s][k]) > 1e-9]
    if stale:
        raise LfwSiameseError(f"{rec.path}: metrics.json disagrees with the stored scores on {', '.join(stale)}; "
                              f"the record was edited or is damaged: retrain it")
    if args.json:
        print(json.dumps(rec.metrics, indent=2))
    else:
        _print_record(rec)
        print("  (metrics recomputed from scores.csv and val_scores.csv: they agree)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from ..records.store import list_runs, results_dir
    df = list_runs(args.results)
    if df.empty:
        print(f"no complete records under {results_dir(args.results) / 'runs'}")
        return 0
    import pandas as pd
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:.4f}".format):
        print(df.to_string(index=False))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..runs.plans import run_plan
    engine = engine_options(args)
    if not args.dry_run:
        warn_if_dirty()
    after = None
    if args.oneshot:
        from ..experiments.oneshot import evaluate_nway

        def after(rec) -> None:  # each run's N-way table, once, where the run has weights
            if not (rec.path / "oneshot.csv").is_file() and rec.model_path.is_file():
                print(f"one-shot N-way for {rec.path.name}", file=sys.stderr)
                evaluate_nway(rec.path, data=args.data, progress=not args.quiet)
    from ..training.setup import active_backend, on_active_backend
    try:
        if active_backend() != "tensorflow":  # the plan's configs, on this backend (their records are named apart)
            from ..runs.plans import get_plan, run_configs
            recs = run_configs([on_active_backend(c) for c in get_plan(args.plan)],
                               f"plan {args.plan} ({active_backend()})", args.data, args.results, not args.quiet,
                               args.dry_run, engine=engine)
            for rec in recs if after is not None and not args.dry_run else []:
                after(rec)
            return 0
        run_plan(args.plan, data=args.data, results=args.results, progress=not args.quiet, dry_run=args.dry_run,
                 after=after, engine=engine)
    except RunsFailedError as e:  # some runs failed, the others are recorded: exit 1 (2 is a bad command line)
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def engine_options(args: argparse.Namespace):
    """--engine, --address, --cpus-per-run, --gpus-per-run, --max-concurrent as `EngineOptions`, checked."""
    from ..runs.engines import EngineOptions
    return EngineOptions(kind=args.engine, address=args.address, cpus_per_run=args.cpus_per_run,
                         gpus_per_run=args.gpus_per_run, max_concurrent=args.max_concurrent).validate()


def cmd_tune(args: argparse.Namespace) -> int:
    """Ray Tune over the config fields of --space; every trial is an ordinary `tune-<config>` record."""
    from ..runs.tune import load_space, print_search, run_search
    cfg = _config_from_args(args)
    space = load_space(args.space, cfg)
    engine = engine_options(args)
    warn_if_dirty()
    res = run_search(cfg, space, args.trials, scheduler=args.scheduler, data=args.data, results=args.results,
                     progress=not args.quiet, engine=engine)
    print_search(res, cfg)
    if res.failed:
        print(f"error: {len(res.failed)} of {res.trials} trial(s) failed", file=sys.stderr)
        return 1
    return 0 if res.best is not None else 1


def cmd_bench(args: argparse.Namespace) -> int:
    progress = not (args.quiet or args.json)
    out = None
    if args.out:  # before the benchmark, not after minutes of it
        out = check_writable_file(args.out, f"--out {args.out}", "give --out a file in a folder you can write, "
                                  "e.g. --out results/bench/cpu.json")
    if args.verifier:
        from ..serve.bench import bench_verifier
        from ..serve.scorer import load_shipped
        if not 2 <= args.photo_pairs <= 1000:
            raise LfwSiameseError(f"--photo-pairs {args.photo_pairs}: give between 2 and 1000 DevTest pairs")
        if not 100 <= args.photo_side <= 8000:
            raise LfwSiameseError(f"--photo-side {args.photo_side}: give a side between 100 and 8000 pixels")
        if not 0 <= args.cold_runs <= 20:
            raise LfwSiameseError(f"--cold-runs {args.cold_runs}: give between 0 and 20 runs")
        res = bench_verifier(load_shipped(), args.data, args.photo_pairs, progress, args.photo_side, args.cold_runs)
        fmt = format_verifier_bench
    else:
        res, fmt = _training_bench(args, progress)
    if out is not None:
        with write_errors(out, "nothing was written to it; free space on that disk (or choose another --out) and rerun"):
            atomic_write_json(out, res)
    if args.json:
        print(fmt(res), file=sys.stderr)
        print(json.dumps(res, indent=2))
    elif args.verifier:  # (the training benches print their table as they go)
        print(fmt(res))
    return 0


def _training_bench(args: argparse.Namespace, progress: bool) -> tuple[dict, Callable[[dict], str]]:
    """The training benches (TensorFlow): a recipe's own steps, the ablation, or ours against the reference loop."""
    from ..records.provenance import environment
    from ..training.bench import format_ablation, format_table, run_ablation, run_bench
    if args.recipe:
        from ..recipes import get_config
        from ..training.recipe_bench import format_recipe_bench, run_recipe_bench
        get_config(args.recipe)  # an unknown name is a ConfigError listing the recipes, before images load
        res = run_recipe_bench(args.recipe, steps=args.steps, data=args.data, progress=progress)
        res["env"] = environment(res["precision"], False)
        return res, format_recipe_bench
    if args.ablation:
        res = run_ablation(steps=args.steps, batch_size=args.batch_size, data=args.data, progress=progress)
        res["env"] = environment("per variant", False)
        return res, format_ablation
    res = run_bench(steps=args.steps, batch_size=args.batch_size, data=args.data, progress=progress,
                    precision=args.precision, jit_compile=args.jit, fused_towers=not args.unfused,
                    bn_fused=not args.keras_bn)
    res["env"] = environment(res["ours"]["precision"], res["ours"]["jit_compile"])
    return res, format_table


def format_verifier_bench(res: dict) -> str:
    """The verifier's speed as a few lines (the JSON has every figure)."""
    lines = [f"verifier speed, {res['model']} on {res['cpu']} ({res['logical_cpus']} logical CPUs), "
             f"alignment: {res['alignment']}"]
    side = res["photos"].get("side_px")
    for k, label in (("crops", "DevTest as LFW-a crops"),
                     ("photos", f"DevTest as {side}px photos" if side else "DevTest rendered as photos")):
        r = res[k]
        lines.append(f"  {label:<28} {r['pairs']:>5} pairs {r['images']:>5} images  {r['pairs_per_second']:7.1f} pairs/s "
                     f"{r['images_per_second']:7.1f} images/s  (faces not found: {r['faces_not_found']})")
        if len(r.get("pairs_per_second_runs", ())) > 1:
            lo, hi = min(r["pairs_per_second_runs"]), max(r["pairs_per_second_runs"])
            lines.append(f"  {'':<28} median of {r['runs']} passes; {lo:.1f} to {hi:.1f} pairs/s")
    if "cold_verify" in res:
        c = res["cold_verify"]
        lines.append(f"  {'cold `verify` of two photos':<28} {c['runs']:>5} new processes: median {c['median_seconds']:.1f} s, "
                     f"slowest {c['max_seconds']:.1f} s")
    return "\n".join(lines)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Every warning raised inside (e.g. an image that is not an aligned LFW-a face) as one `warning:` line."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.showwarning = show
        yield


def cmd_verify(args: argparse.Namespace) -> int:
    if args.pairs:
        from .serving import cmd_verify_pairs
        return cmd_verify_pairs(args)
    if not (args.image_a and args.image_b):
        raise LfwSiameseError("verify needs two images (verify A.jpg B.jpg) or --pairs PAIRS.csv")
    from ..serve.verify import verify_images
    with _warnings_to_stderr():
        v = verify_images(args.image_a, args.image_b, run=args.run, results=args.results, align=args.align)
    if args.json:
        print(json.dumps(v.to_dict(), indent=2))
        return 0
    print(v.decision)
    if v.calibrated:
        print(f"  score      {v.score:.4f}  (P(same person), calibrated for photos; 'same' when score > threshold)")
        print(f"  threshold  {v.threshold:.4f}")
    else:
        print(f"  score      {v.score:.4f}  (the head's score; 'same' when score > threshold)")
        print(f"  threshold  {v.threshold:.4f}  (chosen on validation)")
    print(f"  model      {v.model}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from ..serve.embed import embed_folder
    with _warnings_to_stderr():
        r = embed_folder(args.folder, args.out, run=args.run, results=args.results, batch_size=args.batch_size,
                         progress=not args.quiet, align=args.align)
    skipped = f", skipped {len(r.skipped)} unusable" if r.skipped else ""
    print(f"embedded {len(r.paths)} image(s) from {args.folder} ({r.embeddings.shape[1]} dimensions){skipped} -> {r.out}")
    print(f"  model {r.run}")
    return 0


def _parse_ways(text: str) -> list[int]:
    try:
        ways = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise LfwSiameseError(f"--ways {text!r}: expected comma-separated integers, e.g. 5,10,20") from None
    if not ways or any(w < 2 for w in ways):
        raise LfwSiameseError(f"--ways {text!r}: each N must be an integer >= 2, e.g. 5,10,20")
    return ways


def cmd_oneshot(args: argparse.Namespace) -> int:
    from ..experiments.oneshot import evaluate_nway
    from ..serve.models import resolve_run
    ways = _parse_ways(args.ways)
    if args.trials < 1:
        raise LfwSiameseError(f"--trials {args.trials}: must be >= 1")
    with _warnings_to_stderr():
        run, scorer = None, None
        if args.run:
            run = resolve_run(args.run, args.results)
        else:  # the shipped model
            from ..serve.scorer import load_shipped
            scorer = load_shipped()
            print(f"model {scorer.name} (the shipped model; --run picks a stored record)", file=sys.stderr)
        df = evaluate_nway(run, ways, n_trials=args.trials, seed=args.seed, data=args.data, progress=not args.quiet,
                           scorer=scorer)
    import pandas as pd
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(df.to_string(index=False))
    if run is not None:
        print(f"run {run} (table written to {Path(run) / 'oneshot.csv'})")
    return 0

