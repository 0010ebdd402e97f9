"""`lfwsiamese channels`: the LBP-Joint-Bayesian channel and its fusion with a trained recipe's records, per fold."""
from __future__ import annotations

import argparse
import sys


def add_channels_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand (called by cli.main.build_parser)."""
    c = sub.add_parser("channels", help="LBP + Joint Bayesian channel, and its fusion with a recipe, per fold "
                                        "(writes records, skips finished ones)")
    c.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
    c.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    c.add_argument("--protocol", choices=["view1", "view2"], default="view2")
    c.add_argument("--base", default="npair",
                   help="view2: the recipe whose fold records are fused with the channel (default: npair); view1: "
                        "comma-separated recipes or patterns (npair-region-*) whose seed's records are fused with it")
    c.add_argument("--name", default="", help="view1: the fused record's name (default: fused-<n>-channels-lbp-jb)")
    c.add_argument("--seed", type=int, default=0, help="seed of the base records (default: 0)")
    c.add_argument("--folds", default="", help="comma-separated View 2 folds (default: every fold with a base record)")
    c.add_argument("--workers", type=int, default=1, help="processes computing the features the first time (default 1)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_channels)


def cmd_channels(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..errors import LfwSiameseError
    from ..experiments.fusion import base_records, run_fold
    from ..experiments.lbp import load_features
    if args.protocol == "view1":
        return _view1(args)
    bases = base_records(args.base, args.protocol, args.seed, args.results)
    if args.folds:
        want = {int(f) for f in args.folds.split(",")}
        bases = [b for b in bases if b.config.data.fold in want]
    if not bases:
        raise LfwSiameseError(f"no complete {args.protocol} record of recipe {args.base!r} seed {args.seed}; train it "
                              f"first (`lfwsiamese evaluate --protocol view2 --config {args.base}`)")
    feats = load_features(args.data, workers=args.workers, progress=not args.quiet)
    print(f"features: {feats.array.shape[1]} dims, {feats.seconds_per_image * 1000:.1f} ms per image", file=sys.stderr)
    for b in tqdm(bases, desc="folds", unit="fold", disable=args.quiet):
        lbp, fused = run_fold(b, feats, args.data, args.results)
        print(f"fold {b.config.data.fold}: {b.config.name} {b.metrics['test']['accuracy']:.4f}  "
              f"lbp-jb {lbp.metrics['test']['accuracy']:.4f}  fused {fused.metrics['test']['accuracy']:.4f}  "
              f"({lbp.path.name}, {fused.path.name})")
    return 0


def _view1(args: argparse.Namespace) -> int:
    """DevTest: the channel on DevTrain's training people, fused with several records of one seed (subset searched)."""
    import fnmatch
    import json

    from ..errors import LfwSiameseError
    from ..experiments.fusion import base_records, fuse_records, lbp_record
    from ..experiments.lbp import load_features
    from ..records.store import results_dir
    names = sorted({json.loads(p.read_text())["name"] for p in (results_dir(args.results) / "runs").glob("*/config.json")})
    want = [n for pat in args.base.split(",") for n in names if fnmatch.fnmatchcase(n, pat.strip())]
    bases = [r for n in want for r in base_records(n, "view1", args.seed, args.results)]
    if not bases:
        raise LfwSiameseError(f"no complete view1 record matches {args.base!r} with seed {args.seed}")
    feats = load_features(args.data, workers=args.workers, progress=not args.quiet)
    lbp = lbp_record(bases[0], feats, args.data, args.results)
    fused = fuse_records(args.name or f"fused-{len(bases)}-channels-lbp-jb", bases + [lbp], search=True,
                         results=args.results, data_dir=args.data)
    f = fused.metrics["fusion"]
    for r in bases + [lbp, fused]:
        print(f"{r.config.name:28s} val {r.metrics['val']['accuracy']:.4f}  test {r.metrics['test']['accuracy']:.4f}  "
              f"AUC {r.metrics['test']['auc']:.4f}  {r.path.name}")
    print(f"chosen on validation among {f['candidates_tried']} subsets: {', '.join(f['channels'])}")
    return 0
