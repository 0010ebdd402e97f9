"""The commands that serve a model to users: `verify --pairs`, `identify`, `model-card`, `ship-model`,
`alignment-experiment`, `ensemble-experiment`, `data pairs-csv`; their parsers are added by `add_parsers` (the
shipped model needs no TensorFlow)."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import LfwSiameseError

ALIGN_HELP = ("face detection and alignment: auto (default) aligns every image except 250x250 grayscale LFW-a crops, "
              "on aligns all, off resizes each image whole as before")
RUN_HELP = ("a stored record instead of the shipped model: its folder, its name, or 'best' (the record with weights "
            "and the best validation accuracy)")


def add_model_args(sp: argparse.ArgumentParser, align: bool = True) -> None:
    sp.add_argument("--run", help=RUN_HELP)
    sp.add_argument("--results", help="records folder for --run (default: $LFWSIAMESE_RESULTS, else results/)")
    if align:
        sp.add_argument("--align", default="auto", choices=["auto", "on", "off"], help=ALIGN_HELP)


def cmd_verify_pairs(args: argparse.Namespace) -> int:
    from ..serve.models import load_scorer
    from ..serve.verify import verify_pairs
    if args.image_a or args.image_b:
        raise LfwSiameseError("verify takes two images or --pairs PAIRS.csv, not both")
    if args.batch_size < 1:
        raise LfwSiameseError(f"--batch-size {args.batch_size}: must be >= 1")
    scorer = load_scorer(args.run, args.results)
    res = verify_pairs(scorer, args.pairs, align=args.align, batch_size=args.batch_size, progress=sys.stderr.isatty())
    for note in dict.fromkeys(res.notes):
        print(f"warning: {note}", file=sys.stderr)
    for r in res.failed:
        print(f"error: {r.error}", file=sys.stderr)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        for r in res.rows:
            if r.error is None:
                print(f"{r.row:>6}  {r.score:.4f}  {'same' if r.same else 'different':<9}  {r.path_a}  {r.path_b}")
        print(f"model {res.model}, threshold {res.threshold:.4f}")
        if res.accuracy is not None:
            print(f"accuracy {res.accuracy:.4f} over the {len(res.rows) - len(res.failed)} labelled pairs scored")
    n_ok = len(res.rows) - len(res.failed)
    print(f"scored {n_ok} of {len(res.rows)} pairs ({res.n_images} images, {res.n_aligned} face-detected) in "
          f"{res.seconds:.2f} s: {res.pairs_per_second:.0f} pairs/s, {res.images_per_second:.0f} images/s after "
          f"start-up", file=sys.stderr)
    if res.failed:
        print(f"{len(res.failed)} of {len(res.rows)} rows failed (listed above); the other rows were scored",
              file=sys.stderr)
        return 1
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from ..serve.models import load_scorer
    from ..serve.gallery import identify
    scorer = load_scorer(args.run, args.results)
    res = identify(scorer, args.query, args.gallery, top=args.top, combine=args.combine, align=args.align,
                   use_cache=not args.no_cache)
    for note in res.warnings:
        print(f"warning: {note}", file=sys.stderr)
    if res.skipped:
        print(f"warning: skipped {len(res.skipped)} gallery image(s): {'; '.join(res.skipped[:5])}", file=sys.stderr)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(res.person if res.person != "unknown" else "unknown (no one in the gallery scores above the threshold)")
    print(f"  {'person':<30} {'score':>7}  images  best image   ({res.combine} score per person)")
    for c in res.candidates:
        print(f"  {c.person:<30} {c.score:7.4f}  {c.n_images:>6}  {c.best_image}")
    print(f"  threshold {res.threshold:.4f}; {res.n_people} people in the gallery; model {res.model}")
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    from ..serve.card import model_card_markdown
    from ..serve.shipped import checked_model_file, read_card
    card = read_card()
    checked_model_file(card=card)
    print(json.dumps(card, indent=2) if args.json else model_card_markdown(card))
    return 0


def cmd_ship_model(args: argparse.Namespace) -> int:
    from ..serve.card import card_numbers, reference_name
    from ..serve.scorer import member_runs
    from ..serve.shipped import shipped_dir
    if args.calibrate:
        if args.run:
            raise LfwSiameseError("--calibrate works on the shipped model; leave out --run (shipping a record "
                                  "calibrates it too)")
        from ..serve.ship import recalibrate
        card = recalibrate(data=args.data, out=args.out, results=args.results, progress=not args.quiet)
    else:
        if not args.run:
            raise LfwSiameseError("ship-model needs --run RUN_DIR (the record to ship), or --calibrate to calibrate "
                                  "the shipped model again")
        from ..serve.models import resolve_run
        from ..serve.ship import ship_model
        runs = [resolve_run(r, args.results) for r in args.run]
        card = ship_model(runs, data=args.data, out=args.out, results=args.results, progress=not args.quiet)
        n = card_numbers(card)
        print(f"shipped {' + '.join(member_runs(card))} -> {args.out or shipped_dir()} ({n['megabytes']:.1f} MB, "
              f"sha256 {card['sha256'][:16]}...)")
        print(f"  probe pairs: ONNX vs Keras max difference {card['probe']['max_abs_diff_onnx']:.1e}")
        print(f"  validation scores vs {reference_name(card)}: max difference {n['val_max_abs_diff']:.2e}")
        print(f"  head threshold {n['raw_threshold']:.4f} ({card['threshold_source']}); the record's "
              f"{n['record_threshold']:.4f}")
    cal = card["calibration"]
    print(f"calibration sigmoid({cal['a']:.4f} * logit(score) + {cal['b']:.4f}) on {cal['n_pairs']} validation photo "
          f"pairs; decisions at {cal['threshold']}")
    for cond, m in card["evaluation"]["test"].items():
        print(f"  DevTest {cond:<7} faces found {m['images_found']}/{m['images']}  accuracy {m['accuracy']:.4f}  "
              f"TPR {m['tpr']:.4f}  TNR {m['tnr']:.4f}  TAR@FAR1% {m['tar_at_far_1e-2']:.4f}  ECE {m['ece']:.4f}")
    return 0


def cmd_alignment_experiment(args: argparse.Namespace) -> int:
    from ..experiments.alignment import result_path, run_alignment_experiment
    from ..serve.models import load_scorer
    scorer = load_scorer(args.run, args.results)
    res = run_alignment_experiment(scorer, data=args.data, results=args.results, seed=args.seed,
                                   n_pairs=args.pairs, progress=not args.quiet)
    for k, label in res["conditions"].items():
        print(f"{label:<68} accuracy {res['accuracy'][k]:.4f}  (faces not found: {res['failed'][k]}; "
              f"{res['images_per_second'][k]:.1f} images/s)")
    for key in (k for k in res if k.startswith("eye_error_px")):
        e, how = res[key], "as shipped" if key == "eye_error_px" else key.removeprefix("eye_error_px_")
        print(f"eye error after alignment ({how}): median {e['median']:.1f} px, 90th percentile {e['p90']:.1f} px "
              f"({e['n']} renders)")
    print(f"{res['n_pairs']} DevTest pairs; stored in {result_path(scorer, args.results, args.seed, args.pairs)}")
    return 0


def cmd_ensemble_experiment(args: argparse.Namespace) -> int:
    from ..experiments.ensemble import result_path, run_ensemble_experiment
    res = run_ensemble_experiment(args.second, data=args.data, results=args.results, progress=not args.quiet)
    for k, c in res["candidates"].items():
        print(f"{k:<18} AUC {c['auc']:.4f}  {c['tower_passes_per_image']} tower passes per image"
              f"{'' if c['eligible'] else '  (measured, not eligible)'}  {c['description']}")
    d = res["two_towers_minus_shipped"]
    print(f"two towers - shipped: {d['difference']:+.4f} (95% paired bootstrap {d['low']:+.4f} to {d['high']:+.4f}, "
          f"{d['pairs']} validation photo pairs); chosen: {res['chosen']}")
    print(f"stored in {result_path(res['second'], args.results)}")
    return 0


def cmd_pairs_csv(args: argparse.Namespace) -> int:
    from ..data import protocols as P
    from ..data.paths import require_data_dir, splits_dir
    from ..data.unaligned import protocol_pairs_csv
    d = require_data_dir(args.data)
    pairs = P.load_pairs(args.protocol, splits_dir(d))
    out = protocol_pairs_csv(pairs, args.out, d)
    print(f"{len(pairs)} pairs of {args.protocol} -> {out} (columns path_a,path_b,label)")
    return 0


def add_parsers(sub: argparse._SubParsersAction, data_sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("identify", help="who in a gallery is this face? people ranked by score, or unknown")
    i.add_argument("query", help="the face to identify (an image file)")
    i.add_argument("--gallery", required=True,
                   help="folder: one sub-folder per person (any number of images), or one image per person named after them")
    i.add_argument("--top", type=int, default=5, help="candidates to list (default 5)")
    i.add_argument("--combine", default="best", choices=["best", "mean"],
                   help="a person's score from their images' scores: best (default) or mean")
    i.add_argument("--no-cache", action="store_true", help="embed the gallery again instead of using the cache")
    i.add_argument("--json", action="store_true", help="print a JSON object")
    add_model_args(i)
    i.set_defaults(func=cmd_identify)

    c = sub.add_parser("model-card", help="the shipped model's card: data, protocol, accuracies, limits")
    c.add_argument("--json", action="store_true", help="print model.json instead of Markdown")
    c.set_defaults(func=cmd_model_card)

    s = sub.add_parser("ship-model", help="put a record's model inside the package (ONNX), checked against the record, "
                                          "and calibrate it for photos")
    s.add_argument("--run", action="append",
                   help="the record to ship (a folder with model.keras, or a run name under results/runs); give it "
                        "twice or more to ship those records' towers as one model (an ensemble, no mirror image)")
    s.add_argument("--calibrate", action="store_true",
                   help="only calibrate the shipped model again (ONNX Runtime, no TensorFlow; ~15 min on 2 cores)")
    s.add_argument("--out", help="where to write model.onnx/model.json/MODEL_CARD.md (default: lfwsiamese/shipped)")
    s.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
    s.add_argument("--results", help="records folder for the View 2 records (default: $LFWSIAMESE_RESULTS, else results/)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_ship_model)

    a = sub.add_parser("alignment-experiment",
                       help="DevTest pairs as aligned crops, unaligned photos, and unaligned photos aligned again "
                            "(~5 min on 2 cores with the shipped model; the book's verifier chapter reads the stored "
                            "result)")
    a.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
    a.add_argument("--seed", type=int, default=0, help="seed of the renders (default 0)")
    a.add_argument("--pairs", type=int, metavar="N",
                   help="a quick look on N DevTest pairs, half of each kind (stored under its own name; the book "
                        "reads only the full 1,000)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_args(a, align=False)
    a.set_defaults(func=cmd_alignment_experiment)

    e = sub.add_parser("ensemble-experiment",
                       help="the shipped tower with its mirror against two towers (the shipped one and a second "
                            "seed's) at the same cost, on the validation people's photos (~10 min on 2 cores)")
    e.add_argument("--second", required=True, help="the second tower's record (a folder with model.keras, or a run "
                                                   "name under results/runs)")
    e.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
    e.add_argument("--results", help="records folder (default: $LFWSIAMESE_RESULTS, else results/)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_ensemble_experiment)

    p = data_sub.add_parser("pairs-csv", help="a protocol's pairs as a PAIRS.csv for `verify --pairs`")
    p.add_argument("out", help="the CSV to write (path_a,path_b,label; absolute image paths)")
    p.add_argument("--protocol", default="pairsDevTest.txt", help="pairs file (default: pairsDevTest.txt)")
    p.add_argument("--data", help="LFW-a folder (default: $LFWSIAMESE_DATA, else data/lfwa in the project)")
    p.set_defaults(func=cmd_pairs_csv)
