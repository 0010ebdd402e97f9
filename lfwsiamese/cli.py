"""The `lfwsiamese` command line. User errors print one message and exit 2; `--debug` shows tracebacks."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Sequence

from .errors import LfwSiameseError


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.protocol == "view2":
        raise LfwSiameseError("the View 2 ten-fold protocol is not implemented yet (issue 6)")
    if not args.run:
        raise LfwSiameseError("evaluate needs a RUN_DIR (see `lfwsiamese runs`)")
    from .evaluate import evaluate_scores
    from .experiments import load_record
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
    run_plan(args.plan, data=args.data, results=args.results, progress=not args.quiet, dry_run=args.dry_run)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, run_bench
    from .experiments import atomic_write_json, environment
    res = run_bench(steps=args.steps, batch_size=args.batch_size, data=args.data, progress=not (args.quiet or args.json),
                    precision=args.precision, jit_compile=args.jit, fused_towers=not args.unfused)
    res["env"] = environment(res["ours"]["precision"], args.jit)
    if args.out:
        atomic_write_json(Path(args.out), res)
    if args.json:
        print(format_table(res), file=sys.stderr)
        print(json.dumps(res, indent=2))
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

    e = sub.add_parser("evaluate", help="show a run's metrics")
    common(e, results=True)
    e.add_argument("run", nargs="?", help="run folder")
    e.add_argument("--protocol", choices=["view1", "view2"], default="view1")
    e.add_argument("--config", default=None)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("runs", help="table of stored records")
    r.add_argument("--results", help="records folder")
    r.set_defaults(func=cmd_runs)

    s = sub.add_parser("sweep", help="run every record of a plan, skipping finished ones")
    common(s, results=True)
    s.add_argument("plan", help="plan name (see lfwsiamese.sweeps.PLANS)")
    s.add_argument("--dry-run", action="store_true", help="list what would run")
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
    b.set_defaults(func=cmd_bench)
    return p


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_tf()
    signal.signal(signal.SIGTERM, _sigterm)  # a polite stop: the same path as Ctrl-C, records stay whole
    parser = build_parser()
    args = parser.parse_args(argv)
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
