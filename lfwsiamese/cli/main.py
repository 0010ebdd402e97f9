"""The `lfwsiamese` command: its parser, and `main`, which turns every package error into one `error:` line."""
from __future__ import annotations

import argparse
import signal
import sys
import traceback
from typing import Sequence

from ..errors import LfwSiameseError
from ..training.setup import import_tf_quietly
from .commands import (
    cmd_bench,
    cmd_data_check,
    cmd_data_fetch,
    cmd_embed,
    cmd_evaluate,
    cmd_oneshot,
    cmd_runs,
    cmd_sweep,
    cmd_train,
    cmd_tune,
    cmd_verify,
    quiet_tf,
)
from .channels import add_channels_parser
from .serving import ALIGN_HELP, RUN_HELP, add_parsers


def engine_args(sp: argparse.ArgumentParser, engines: tuple[str, ...] = ("local", "ray")) -> None:
    """Where runs execute: this process (local) or Ray tasks on this machine or a cluster."""
    g = sp.add_argument_group("engine")
    g.add_argument("--engine", choices=engines, default=engines[0],
                   help="local (default for sweeps): one run after another in this process; ray: each run a Ray "
                        "task (needs .[distributed])")
    g.add_argument("--address", default=None,
                   help="ray: cluster to join: auto (this machine's `ray start` cluster) or ray://HOST:PORT "
                        "(default: start Ray on this machine for this command)")
    g.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs each run reserves (default 1)")
    g.add_argument("--gpus-per-run", type=float, default=0.0,
                   help="ray: GPUs each run reserves, e.g. 1 or 0.5 (default 0; the GPU path is not verified on a GPU yet)")
    g.add_argument("--max-concurrent", type=int, default=None,
                   help="ray: at most this many runs at once (default: as many as the resources allow)")


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
    engine_args(e)
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("runs", help="table of stored records")
    r.add_argument("--results", help="records folder")
    r.set_defaults(func=cmd_runs)

    s = sub.add_parser("sweep", help="run every record of a plan, skipping finished ones")
    common(s, results=True)
    s.add_argument("plan", help="plan name (see lfwsiamese.runs.plans.PLANS), all, or smoke (two tiny runs)")
    s.add_argument("--dry-run", action="store_true", help="list what would run")
    s.add_argument("--oneshot", action="store_true", help="also write each run's N-way one-shot table (oneshot.csv)")
    engine_args(s)
    s.set_defaults(func=cmd_sweep)

    u = sub.add_parser("tune", help="hyper-parameter search on validation accuracy with Ray Tune (ASHA)")
    common(u, results=True)
    u.add_argument("--config", required=True, help="named config the search starts from, e.g. improved")
    u.add_argument("--seed", type=int, default=None, help="seed of every trial (and of the random search)")
    u.add_argument("--set", action="append", metavar="KEY=VALUE", help="fix a config field for every trial")
    u.add_argument("--space", required=True, metavar="SPACE.json",
                   help='search space: {"train.learning_rate": {"loguniform": [1e-4, 1e-2]}, "train.batch_size": [32, 64]}')
    u.add_argument("--trials", type=int, required=True, help="trials to sample (grid values: per grid point)")
    u.add_argument("--scheduler", choices=["asha", "none"], default="asha",
                   help="asha (default): stop poor trials early on per-epoch validation accuracy; none: run all to the end")
    engine_args(u, engines=("ray",))
    u.set_defaults(func=cmd_tune)

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
    b.add_argument("--recipe", metavar="NAME",
                   help="instead, time a named recipe's own training steps (e.g. improved, npair): its model, loss, "
                        "precision, batch and augmentation; --steps and --out apply, the other options do not")
    b.add_argument("--verifier", action="store_true",
                   help="instead, time the shipped verifier (no TensorFlow): `verify --pairs` on the 1,000 DevTest pairs "
                        "as LFW-a crops, and on --photo-pairs of them rendered as ordinary photos (detection included)")
    b.add_argument("--photo-pairs", type=int, default=100, help="DevTest pairs rendered as photos for --verifier")
    b.add_argument("--photo-side", type=int, default=2000,
                   help="--verifier's photos are enlarged to this many pixels a side (2000: 4 megapixels)")
    b.add_argument("--cold-runs", type=int, default=3,
                   help="--verifier also times this many cold `lfwsiamese verify` processes on two photos (0: none)")
    b.set_defaults(func=cmd_bench)

    v = sub.add_parser("verify", help="same person or not: two image files, or every row of --pairs PAIRS.csv")
    v.add_argument("image_a", nargs="?")
    v.add_argument("image_b", nargs="?")
    v.add_argument("--pairs", help="CSV with a header path_a,path_b[,label]: score every row (exit 1 if some rows fail)")
    v.add_argument("--batch-size", type=int, default=64, help="images per model call with --pairs (default 64)")
    v.add_argument("--run", help=RUN_HELP + " (default: the model shipped in the package)")
    v.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    v.add_argument("--align", default="auto", choices=["auto", "on", "off"], help=ALIGN_HELP)
    v.add_argument("--json", action="store_true", help="print a JSON object")
    v.set_defaults(func=cmd_verify)

    m = sub.add_parser("embed", help="tower embeddings of every .jpg/.jpeg/.png under a folder")
    m.add_argument("folder")
    m.add_argument("--out", required=True, help="output file: *.npz (arrays paths, embeddings) or *.csv")
    m.add_argument("--run", help=RUN_HELP + " (default: the model shipped in the package)")
    m.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    m.add_argument("--align", default="auto", choices=["auto", "on", "off"], help=ALIGN_HELP)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=cmd_embed)

    o = sub.add_parser("oneshot", help="one-shot N-way identification on DevTest people (Koch et al.'s task)")
    common(o, results=True)
    o.add_argument("--run", help=RUN_HELP + " (default: the model shipped in the package)")
    o.add_argument("--ways", default="5,10,20", help="comma-separated N (default: 5,10,20)")
    o.add_argument("--trials", type=int, default=1000, help="trials per N (default: 1000)")
    o.add_argument("--seed", type=int, default=0)
    o.set_defaults(func=cmd_oneshot)
    add_parsers(sub, dsub)
    add_channels_parser(sub)
    return p


TF_COMMANDS = {"train", "evaluate", "sweep", "bench", "ship-model", "tune"}
#: Served by the shipped model through ONNX Runtime: TensorFlow only for a stored record (--run).
TF_IF_RUN = {"verify", "embed", "oneshot", "identify", "alignment-experiment"}


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    quiet_tf()
    signal.signal(signal.SIGTERM, _sigterm)  # a polite stop: the same path as Ctrl-C, records stay whole
    parser = build_parser()
    args = parser.parse_args(argv)
    needs_tf = args.command in TF_COMMANDS or (args.command in TF_IF_RUN and getattr(args, "run", None))
    needs_tf = needs_tf and not getattr(args, "verifier", False)  # bench --verifier runs the ONNX model only
    if needs_tf and not args.debug:
        import_tf_quietly()
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
