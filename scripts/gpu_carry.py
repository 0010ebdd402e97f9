"""Build `.gpu/`, what must travel with `scripts/gpu_run.sh` to the lent GPU machine, and check that it fits.

That machine (one NVIDIA H200) has JAX, NumPy, pandas, scikit-learn, SciPy, Pillow, tqdm, filelock, h5py, rich and
absl-py, but no TensorFlow, no Keras and no package registry, and a run takes at most 64 MiB of files: the
repository's tracked files plus the carried folders. So `.gpu/` holds

- `wheels/`: Keras and what it needs that the machine lacks (namex, optree), for its Python (3.12, x86-64);
- `data/lfw2-pack.npz`: a packed data folder (`lfwsiamese.data.pack`) of exactly the images the run reads: every
  image of the peopleDevTrain people and of the pairsDevTest pairs, cut losslessly to the improved recipe's face
  crop, and the full frames of the pairs `lfwsiamese bench` times;
- `manifest.json`: the commit, the pack's contents and checksums, the wheels, and the size of everything that travels.

Run here, from the repository root, with the project's environment:

    .venv/bin/python scripts/gpu_carry.py --data ../shared/lfwa            # then: device run, carry [".gpu"]

`--no-wheels` skips the download (tests, or wheels already in place); `--encoder png` needs no jpegtran (larger).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lfwsiamese.data import protocols as P  # noqa: E402
from lfwsiamese.data.images import Preprocess  # noqa: E402
from lfwsiamese.data.pack import write_pack  # noqa: E402
from lfwsiamese.data.paths import require_data_dir, splits_dir  # noqa: E402
from lfwsiamese.recipes import get_config  # noqa: E402

LIMIT = 64 * 2**20  # what one run may carry, the tracked files included
#: Keras and the packages it needs that the GPU machine's image lacks; the versions this project is tested with.
WHEELS = ("keras==3.15.1", "namex==0.1.0", "optree==0.20.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
#: What `lfwsiamese bench` reads with its defaults (steps 12 + warm-up 3, batch 32): training pairs and all test pairs.
BENCH_TRAIN_PAIRS = (12 + 3) * 32


def needed_images(data_dir: Path, config: str = "improved") -> dict[str, set[Preprocess]]:
    """relpath -> the preprocessings the GPU run reads it with: the config's View 1 training and test images, and
    the bench's."""
    cfg = get_config(config)
    sdir = splits_dir(data_dir)
    need: dict[str, set[Preprocess]] = {}

    def add(rels, pre: Preprocess) -> None:
        for r in rels:
            need.setdefault(r, set()).add(pre)

    pre = Preprocess.of(cfg.data)
    if cfg.data.protocol != "view1":
        raise SystemExit(f"{config}: only View 1 configs are packed (its protocol is {cfg.data.protocol})")
    if cfg.data.sampling == "identities":  # any image of a training person may be drawn; validation people too
        people = [c for s in P.load_people("peopleDevTrain.txt", sdir) for c in s.counts]
        add((f"{n}/{n}_{i:04d}.jpg" for n, c in people for i in range(1, c + 1)), pre)
    else:
        add((r.relpath for p in P.load_pairs("pairsDevTrain.txt", sdir) for r in (p.a, p.b)), pre)
    test = P.load_pairs("pairsDevTest.txt", sdir)
    add((r.relpath for p in test for r in (p.a, p.b)), pre)
    bench = Preprocess()  # the reference network's input: the whole frame at 105
    add((r.relpath for p in P.load_pairs("pairsDevTrain.txt", sdir)[:BENCH_TRAIN_PAIRS] + test for r in (p.a, p.b)), bench)
    return need


def download_wheels(dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), *WHEELS]
    subprocess.run(cmd, check=True, timeout=600)
    return sorted(p.name for p in dest.glob("*.whl"))


def tree_bytes(root: Path) -> dict[str, int]:
    """What a run takes besides the carried folders: tracked files, and untracked ones git does not ignore."""
    def files(*args: str) -> list[str]:
        out = subprocess.run(["git", "ls-files", "-z", *args], cwd=root, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f]

    size = lambda fs: sum((root / f).stat().st_size for f in fs if (root / f).is_file())  # noqa: E731
    return {"tracked": size(files()), "untracked_not_ignored": size(files("--others", "--exclude-standard"))}


def folder_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="LFW-a (default: --data / $LFWSIAMESE_DATA / data/lfwa)")
    ap.add_argument("--out", default=str(ROOT / ".gpu"), help="the folder to build (default: .gpu)")
    ap.add_argument("--config", default="improved", help="the recipe whose images are packed (default: improved)")
    ap.add_argument("--no-wheels", action="store_true", help="do not download wheels")
    ap.add_argument("--encoder", default="jpegtran", choices=("jpegtran", "png"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    data_dir = require_data_dir(args.data)
    t = time.perf_counter()
    need = needed_images(data_dir, args.config)
    print(f"packing {len(need)} images from {data_dir} ...", flush=True)
    rep = write_pack(data_dir, out / "data", need, encoder=args.encoder)
    print(f"  {rep.bytes / 1e6:.1f} MB ({rep.cut} cut to their window, {rep.whole} whole; the original files: "
          f"{rep.source_bytes / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    wheels = sorted(p.name for p in (out / "wheels").glob("*.whl")) if args.no_wheels else download_wheels(out / "wheels")
    tree = tree_bytes(ROOT)
    sizes = {"pack": rep.bytes, "wheels": folder_bytes(out / "wheels") if (out / "wheels").is_dir() else 0, **tree}
    total = sum(sizes.values())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    manifest = {
        "commit": commit or "unknown", "config": args.config, "data": str(data_dir),
        "pack": {"images": rep.images, "cut": rep.cut, "whole": rep.whole, "bytes": rep.bytes,
                 "source_bytes": rep.source_bytes, "sha256_of_arrays": rep.checks},
        "wheels": wheels, "bytes": sizes, "total_bytes": total, "limit_bytes": LIMIT,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print("what travels:")
    for k, v in sizes.items():
        print(f"  {k:<24}{v / 2**20:>8.2f} MiB")
    print(f"  {'total':<24}{total / 2**20:>8.2f} MiB of {LIMIT / 2**20:.0f} MiB")
    if total > LIMIT:
        print(f"error: {total / 2**20:.1f} MiB is over the {LIMIT / 2**20:.0f} MiB a run carries", file=sys.stderr)
        return 1
    print(f"ready: {out} (carry it: the device run's carry [\"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}\"], "
          f"command `bash scripts/gpu_run.sh`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
