"""`lfwsiamese channels`: the LBP-Joint-Bayesian channel and its fusion with a trained recipe's records, per fold."""
from __future__ import annotations

import argparse
import sys
from typing import Callable


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
    c.add_argument("--channels", default="lbp-jb",
                   help="comma-separated hand-crafted channels: lbp-jb (fixed points), lbp-lm-jb (each image's dlib "
                        "landmarks; needs the landmarks extra) (default: lbp-jb)")
    c.add_argument("--name", default="",
                   help="the fused record's name; with it the channel subset is chosen on validation pairs (view1: "
                        "default fused-<n>-channels-lbp-jb; view2: default fused-<base>-<channel>, no search)")
    c.add_argument("--seed", type=int, default=0, help="seed of the base records (default: 0)")
    c.add_argument("--folds", default="", help="comma-separated View 2 folds (default: every fold with a base record)")
    c.add_argument("--workers", type=int, default=1, help="processes computing the features the first time (default 1)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_channels)


def cmd_channels(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..errors import LfwSiameseError
    from ..experiments.fusion import base_records, fuse_records, lbp_record, run_fold
    names = _channel_names(args)  # a bad --channels fails before any work
    if args.protocol == "view1":
        return _view1(args, names)
    bases = base_records(args.base, args.protocol, args.seed, args.results)
    if args.folds:
        want = {int(f) for f in args.folds.split(",")}
        bases = [b for b in bases if b.config.data.fold in want]
    if not bases:
        raise LfwSiameseError(f"no complete {args.protocol} record of recipe {args.base!r} seed {args.seed}; train it "
                              f"first (`lfwsiamese evaluate --protocol view2 --config {args.base}`)")
    feats = _features(args, names)
    for b in tqdm(bases, desc="folds", unit="fold", disable=args.quiet):
        if not args.name and len(feats) == 1:
            (ch, f), = feats.items()
            lbp, fused = run_fold(b, f, args.data, args.results, ch)
            print(f"fold {b.config.data.fold}: {b.config.name} {b.metrics['test']['accuracy']:.4f}  "
                  f"{ch} {lbp.metrics['test']['accuracy']:.4f}  fused {fused.metrics['test']['accuracy']:.4f}  "
                  f"({lbp.path.name}, {fused.path.name})")
            continue
        chans = [lbp_record(b, f, args.data, args.results, ch) for ch, f in feats.items()]
        fused = fuse_records(args.name or f"fused-{b.config.name}-{len(chans)}-channels", [b] + chans, search=True,
                             results=args.results, data_dir=args.data)
        print(f"fold {b.config.data.fold}: " + "  ".join(f"{r.config.name} {r.metrics['test']['accuracy']:.4f}"
                                                         for r in [b, *chans, fused])
              + f"  (chosen on validation: {', '.join(fused.metrics['fusion']['channels'])})")
    return 0


def _channel_names(args: argparse.Namespace) -> list[str]:
    from ..errors import ConfigError
    from ..experiments.fusion import CHANNELS
    names = [c.strip() for c in args.channels.split(",") if c.strip()]
    bad = [c for c in names if c not in CHANNELS]
    if bad or not names:
        raise ConfigError(f"--channels {args.channels!r}: unknown channel {bad[0] if bad else '(none)'}; "
                          f"choose among {', '.join(CHANNELS)}")
    return names


def _features(args: argparse.Namespace, names: list[str]) -> dict:
    """Each channel's features by channel name, loaded on the first call (computed the first time, minutes): a
    rerun whose records are all there reads none."""
    from functools import cache

    from ..experiments.fusion import CHANNELS
    from ..experiments.lbp import LbpFeatures, load_features

    def loader(c: str) -> Callable[[], LbpFeatures]:
        @cache
        def load() -> LbpFeatures:
            f = load_features(args.data, CHANNELS[c][1], workers=args.workers, progress=not args.quiet)
            print(f"{c} features: {f.array.shape[1]} dims, {f.seconds_per_image * 1000:.1f} ms per image",
                  file=sys.stderr)
            return f
        return load
    return {c: loader(c) for c in names}


def _view1(args: argparse.Namespace, channels: list[str]) -> int:
    """DevTest: the channel on DevTrain's training people, fused with several records of one seed (subset searched)."""
    import fnmatch
    import json

    from ..errors import LfwSiameseError
    from ..experiments.fusion import base_records, fuse_records, lbp_record
    from ..records.store import results_dir
    names = sorted({json.loads(p.read_text())["name"] for p in (results_dir(args.results) / "runs").glob("*/config.json")})
    want = [n for pat in args.base.split(",") for n in names if fnmatch.fnmatchcase(n, pat.strip())]
    bases = [r for n in want for r in base_records(n, "view1", args.seed, args.results)]
    if not bases:
        raise LfwSiameseError(f"no complete view1 record matches {args.base!r} with seed {args.seed}")
    chans = [lbp_record(bases[0], f, args.data, args.results, ch) for ch, f in _features(args, channels).items()]
    fused = fuse_records(args.name or f"fused-{len(bases)}-channels-lbp-jb", bases + chans, search=True,
                         results=args.results, data_dir=args.data)
    f = fused.metrics["fusion"]
    for r in bases + chans + [fused]:
        print(f"{r.config.name:28s} val {r.metrics['val']['accuracy']:.4f}  test {r.metrics['test']['accuracy']:.4f}  "
              f"AUC {r.metrics['test']['auc']:.4f}  {r.path.name}")
    print(f"chosen on validation among {f['candidates_tried']} subsets: {', '.join(f['channels'])}")
    return 0
