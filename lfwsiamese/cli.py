"""The `lfwsiamese` command line. User errors print one message and exit 2; `--debug` shows tracebacks."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Iterator, Sequence

from .errors import LfwSiameseError


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tf_quietly() -> None:
    """TensorFlow prints start-up lines (oneDNN, CUDA probing) that no setting silences: hide them, unless it fails."""
    import tempfile
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
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


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data import check_data, require_data_dir
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
    from .data import resolve_data_dir
    from .fetch import DEFAULT_URL, fetch
    target = resolve_data_dir(args.data)
    fetch(target, source=args.source, url=args.url or DEFAULT_URL, progress=not args.quiet, force=args.force)
    print(f"LFW-a ready at {target}; check it with `lfwsiamese data check --data {target}`")
    return 0


def _config_from_args(args: argparse.Namespace):
    from .config import get_config, parse_set_args
    return get_config(args.config, seed=args.seed, overrides=parse_set_args(args.set))


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _config_from_args(args)
    from .experiments import load_or_run
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
    from .evaluate import fold_summary
    from .report import view2_table
    from .sweeps import run_configs, view2_configs
    cfg = _config_from_args(args)
    cfgs = view2_configs(cfg, _parse_folds(args.folds))
    recs = run_configs(cfgs, f"View 2 of {cfg.name} (seed {cfg.seed})", data=args.data, results=args.results,
                       progress=not args.quiet, dry_run=args.no_train)
    if not recs:
        print(f"no fold of {cfg.name} is recorded yet; run without --no-train to train them")
        return 1
    table = view2_table(recs)
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
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.protocol == "view2":
        if args.without_tta:
            raise LfwSiameseError("--without-tta rescoring is per run: pass a View 1 RUN_DIR (View 2 folds record it when trained)")
        return cmd_evaluate_view2(args)
    if args.config or args.set:
        raise LfwSiameseError("--config/--set go with --protocol view2; for one View 1 run pass its RUN_DIR")
    if not args.run:
        raise LfwSiameseError("evaluate needs a RUN_DIR (see `lfwsiamese runs`), or --protocol view2 --config NAME")
    from .evaluate import evaluate_scores
    from .experiments import load_record
    if args.without_tta:
        from .train import add_without_tta
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
    again = evaluate_scores(v["score"].to_numpy(), v["label"].to_numpy(), t["score"].to_numpy(), t["label"].to_numpy())
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
    from .experiments import list_runs, results_dir
    df = list_runs(args.results)
    if df.empty:
        print(f"no complete records under {results_dir(args.results) / 'runs'}")
        return 0
    import pandas as pd
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:.4f}".format):
        print(df.to_string(index=False))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps import run_plan
    run_plan(args.plan, data=args.data, results=args.results, progress=not args.quiet, dry_run=args.dry_run,
             oneshot=args.oneshot)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_ablation, format_table, run_ablation, run_bench
    from .experiments import atomic_write_json, environment
    progress = not (args.quiet or args.json)
    if args.ablation:
        res = run_ablation(steps=args.steps, batch_size=args.batch_size, data=args.data, progress=progress)
        res["env"] = environment("per variant", False)
        fmt = format_ablation
    else:
        res = run_bench(steps=args.steps, batch_size=args.batch_size, data=args.data, progress=progress,
                        precision=args.precision, jit_compile=args.jit, fused_towers=not args.unfused,
                        bn_fused=not args.keras_bn)
        res["env"] = environment(res["ours"]["precision"], args.jit)
        fmt = format_table
    if args.out:
        atomic_write_json(Path(args.out), res)
    if args.json:
        print(fmt(res), file=sys.stderr)
        print(json.dumps(res, indent=2))
    return 0


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
    from .verify import verify_images
    with _warnings_to_stderr():
        v = verify_images(args.image_a, args.image_b, run=args.run, results=args.results)
    if args.json:
        print(json.dumps(v.to_dict(), indent=2))
        return 0
    print(v.decision)
    print(f"  score      {v.score:.4f}  (P(same person); 'same' when score > threshold)")
    print(f"  threshold  {v.threshold:.4f}  (chosen on validation)")
    print(f"  run        {v.run}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from .verify import embed_folder
    with _warnings_to_stderr():
        r = embed_folder(args.folder, args.out, run=args.run, results=args.results, batch_size=args.batch_size,
                         progress=not args.quiet)
    skipped = f", skipped {len(r.skipped)} unreadable" if r.skipped else ""
    print(f"embedded {len(r.paths)} image(s) from {args.folder} ({r.embeddings.shape[1]} dimensions){skipped} -> {r.out}")
    print(f"  run {r.run}")
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
    from .oneshot import evaluate_nway
    from .verify import resolve_run, run_candidates
    ways = _parse_ways(args.ways)
    if args.trials < 1:
        raise LfwSiameseError(f"--trials {args.trials}: must be >= 1")
    with _warnings_to_stderr():
        if args.run or run_candidates(args.results):
            run = resolve_run(args.run, args.results)
        else:
            run = None
            print("note: no stored record with weights; showing the baselines only "
                  "(train one with `lfwsiamese train --config reference`)", file=sys.stderr)
        df = evaluate_nway(run, ways, n_trials=args.trials, seed=args.seed, data=args.data, progress=not args.quiet)
    import pandas as pd
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(df.to_string(index=False))
    if run is not None:
        print(f"run {run} (table written to {Path(run) / 'oneshot.csv'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lfwsiamese", description="Siamese networks for one-shot face verification on LFW-a.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, results: bool = False) -> None:
        sp.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        if results:
            sp.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")

    d = sub.add_parser("data", help="check or fetch LFW-a")
    dsub = d.add_subparsers(dest="data_command", required=True)
    c = dsub.add_parser("check", help="verify layout, counts, checksums, referenced images")
    common(c)
    c.add_argument("--deep", action="store_true", help="also hash and decode every image")
    c.set_defaults(func=cmd_data_check)
    f = dsub.add_parser("fetch", help="download (or copy --from) LFW-a into the data folder")
    common(f)
    f.add_argument("--from", dest="source", help="a local folder, .tar(.gz) or .zip instead of downloading")
    f.add_argument("--url", help="archive URL (default: the pinned GitHub archive)")
    f.add_argument("--force", action="store_true", help="replace an existing data folder")
    f.set_defaults(func=cmd_data_fetch)

    t = sub.add_parser("train", help="train a config (or return its stored record)")
    common(t, results=True)
    t.add_argument("--config", default="reference", help="named config (default: reference)")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field, e.g. train.learning_rate=1e-4")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="a run's metrics (view1), or LFW's 10-fold protocol for a config (view2)")
    common(e, results=True)
    e.add_argument("run", nargs="?", help="run folder (view1)")
    e.add_argument("--protocol", choices=["view1", "view2"], default="view1",
                   help="view2: train and test each of the 10 folds (resumable, one record per fold), print mean +- SE")
    e.add_argument("--config", default=None, help="view2: named config, e.g. improved")
    e.add_argument("--seed", type=int, default=None, help="view2: seed of every fold's run")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="view2: override a config field")
    e.add_argument("--folds", default="0,1,2,3,4,5,6,7,8,9", help="view2: which folds (default: all ten)")
    e.add_argument("--no-train", action="store_true", help="view2: summarise the recorded folds only, train nothing")
    e.add_argument("--without-tta", action="store_true",
                   help="view1: score a flip-averaged run again without the mirrored pass (needs its model.keras) "
                        "and store those metrics in the record as without_tta")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("runs", help="table of stored records")
    r.add_argument("--results", help="records folder")
    r.set_defaults(func=cmd_runs)

    s = sub.add_parser("sweep", help="run every record of a plan, skipping finished ones")
    common(s, results=True)
    s.add_argument("plan", help="plan name (see lfwsiamese.sweeps.PLANS)")
    s.add_argument("--dry-run", action="store_true", help="list what would run")
    s.add_argument("--oneshot", action="store_true", help="also write each run's N-way one-shot table (oneshot.csv)")
    s.set_defaults(func=cmd_sweep)

    b = sub.add_parser("bench", help="training/prediction speed: reference-style loop vs ours")
    common(b)
    b.add_argument("--steps", type=int, default=12, help="timed training steps per method (after warm-up)")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--json", action="store_true", help="print the figures as JSON (the table goes to stderr)")
    b.add_argument("--out", help="also write the JSON to this file (e.g. results/bench/cpu.json)")
    b.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"])
    b.add_argument("--jit", action="store_true", help="XLA-compile our training step")
    b.add_argument("--unfused", action="store_true", help="call our tower once per branch, as the reference did")
    b.add_argument("--keras-bn", action="store_true", help="use Keras' batch-norm layer instead of the fused kernel")
    b.add_argument("--ablation", action="store_true",
                   help="time each optimization one at a time (8 variants, ~6 min here; e.g. --out results/bench/ablation-cpu.json)")
    b.set_defaults(func=cmd_bench)

    v = sub.add_parser("verify", help="same person or not: two image files through a trained run")
    v.add_argument("image_a")
    v.add_argument("image_b")
    v.add_argument("--run", help="run folder or name (default: the stored run with weights and the best validation accuracy)")
    v.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    v.add_argument("--json", action="store_true", help="print a JSON object")
    v.set_defaults(func=cmd_verify)

    m = sub.add_parser("embed", help="tower embeddings of every .jpg/.jpeg/.png under a folder")
    m.add_argument("folder")
    m.add_argument("--out", required=True, help="output file: *.npz (arrays paths, embeddings) or *.csv")
    m.add_argument("--run", help="run folder or name (default: the stored run with weights and the best validation accuracy)")
    m.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=cmd_embed)

    o = sub.add_parser("oneshot", help="one-shot N-way identification on DevTest people (Koch et al.'s task)")
    common(o, results=True)
    o.add_argument("--run", help="run folder or name (default: the stored run with weights and the best validation accuracy)")
    o.add_argument("--ways", default="5,10,20", help="comma-separated N (default: 5,10,20)")
    o.add_argument("--trials", type=int, default=1000, help="trials per N (default: 1000)")
    o.add_argument("--seed", type=int, default=0)
    o.set_defaults(func=cmd_oneshot)
    return p


TF_COMMANDS = {"train", "evaluate", "sweep", "bench", "verify", "embed", "oneshot"}


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_tf()
    signal.signal(signal.SIGTERM, _sigterm)  # a polite stop: the same path as Ctrl-C, records stay whole
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in TF_COMMANDS and not args.debug:
        _import_tf_quietly()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except LfwSiameseError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
