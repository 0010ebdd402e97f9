#!/usr/bin/env bash
# The GPU run: `lfwsiamese bench --json` and one full `improved` training on Keras' JAX backend, on the lent GPU
# machine (one H200; JAX but no TensorFlow, Keras or package registry there), in well under 10 minutes.
#
# Build what travels first, here:  .venv/bin/python scripts/gpu_carry.py --data ../shared/lfwa
# Then, with the device tool, from the repository root:  run  command "bash scripts/gpu_run.sh"  carry [".gpu"]
#   timeout_s 600. Everything comes back under $OUT (at most 8 files): log.txt, check.json, manifest.json,
#   bench.json, record.tar.gz (the record folder, model.keras included), evaluate.txt.
#
# Knobs (environment): GPU_RUN_STEPS (default "check bench train"), GPU_RUN_QUICK=1 (a few steps on any device:
# the CPU check of this script), GPU_RUN_SET (extra `--set key=value` words for the training), GPU_CARRY (default
# .gpu), PYTHON (default python3), OUT (default .gpu/out).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=${GPU_CARRY:-.gpu}
OUT=${OUT:-$ROOT/.gpu/out}
PY=${PYTHON:-python3}
STEPS=${GPU_RUN_STEPS:-check bench train}
QUICK=${GPU_RUN_QUICK:-0}
SITE=${GPU_RUN_SITE:-/tmp/lfwsiamese-site}
RESULTS=${GPU_RUN_RESULTS:-/tmp/lfwsiamese-results}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
t0=$SECONDS
say() { echo "[gpu_run +$((SECONDS - t0))s] $*"; }
has() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

say "repository $ROOT, carried folder $CARRY, output $OUT, steps: $STEPS, quick: $QUICK"
[ -f "$CARRY/manifest.json" ] || { say "error: $CARRY/manifest.json missing: build it with scripts/gpu_carry.py and carry it"; exit 2; }
cp "$CARRY/manifest.json" "$OUT/manifest.json"

# 1. Keras and what it needs, from the carried wheels, only where this Python lacks them.
export KERAS_BACKEND=jax
if ! "$PY" -c "import keras, namex, optree" 2>/dev/null; then
  ls "$CARRY"/wheels/*.whl >/dev/null 2>&1 || { say "error: Keras is missing here and $CARRY/wheels holds no wheels"; exit 2; }
  say "installing $(ls "$CARRY"/wheels | tr '\n' ' ')into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$CARRY"/wheels/*.whl || exit 2
fi
export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export LFWSIAMESE_DATA="$CARRY/data" LFWSIAMESE_CACHE=/tmp/lfwsiamese-cache LFWSIAMESE_RESULTS="$RESULTS"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2

# 2. Every module the run imports, with versions; the devices JAX sees. Nothing missing, or stop here and say what.
"$PY" - "$OUT/check.json" "$QUICK" <<'EOF' || exit 3
import importlib, json, sys
mods = ["jax", "jaxlib", "keras", "numpy", "pandas", "sklearn", "scipy", "PIL", "tqdm", "filelock", "h5py",
        "ml_dtypes", "rich", "absl", "optree", "namex", "lfwsiamese"]
found, missing = {}, []
for m in mods:
    try:
        found[m] = getattr(importlib.import_module(m), "__version__", "?")
    except Exception as e:  # noqa: BLE001
        missing.append(f"{m} ({type(e).__name__}: {e})")
out = {"python": sys.version.split()[0], "modules": found, "missing": missing}
if not missing:
    import jax, keras
    out["keras_backend"] = keras.backend.backend()
    out["devices"] = [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}" for d in jax.devices()]
    try:
        import tensorflow  # noqa: F401  (not needed: the run never imports it)
        out["tensorflow_importable"] = True
    except ImportError:
        out["tensorflow_importable"] = False
json.dump(out, open(sys.argv[1], "w"), indent=2)
print(json.dumps(out, indent=2))
if missing:
    sys.exit("missing modules: " + "; ".join(missing) + " -- add their wheels to scripts/gpu_carry.py's WHEELS")
if out["keras_backend"] != "jax":
    sys.exit(f"Keras runs on {out['keras_backend']}, not jax")
if sys.argv[2] != "1" and not any(d.startswith("gpu") for d in out["devices"]):
    sys.exit("JAX sees no GPU here (GPU_RUN_QUICK=1 runs the CPU check)")
EOF
say "environment checked"
# The packed images decode here to the arrays they gave where the pack was built (this machine's Pillow/libjpeg).
"$PY" - "$CARRY" <<'EOF' || say "warning: the packed images decode differently here (see above); the run goes on"
import hashlib, json, sys
from pathlib import Path
from lfwsiamese.data.images import PACK_FILE, Preprocess, load_pack
carry = Path(sys.argv[1])
checks = json.loads((carry / "manifest.json").read_text())["pack"]["sha256_of_arrays"]
bad = []
for key, sha in checks.items():
    crop, size = key.rsplit("_s", 1)
    pre = Preprocess(() if crop == "full" else tuple(int(v) for v in crop[1:].split("-")), int(size))
    assert pre.key == key, (pre.key, key)
    got = hashlib.sha256(load_pack(carry / "data" / PACK_FILE, pre, progress=False).array.tobytes()).hexdigest()
    print(f"pack {key}: {'the same arrays as where it was built' if got == sha else 'DIFFERENT arrays'}")
    bad += [key] if got != sha else []
sys.exit(1 if bad else 0)
EOF
has check && [ "$STEPS" = "check" ] && exit 0

# 3. Deterministic GPU kernels (the runs' train.deterministic): XLA's flag, if this jaxlib knows it.
if XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true" "$PY" -c "import jax.numpy as j; j.ones(2).block_until_ready()" >/dev/null 2>&1; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true"
  DET=()
else
  say "warning: this jaxlib refuses --xla_gpu_deterministic_ops; training with train.deterministic=false"
  DET=(--set train.deterministic=false)
fi

status=0
# 4. Training speed: the reference network, reference-style loop against ours.
if has bench; then
  BENCH=(--json --out "$OUT/bench.json")
  [ "$QUICK" = 1 ] && BENCH+=(--steps 2)
  say "lfwsiamese bench ${BENCH[*]}"
  "$PY" -m lfwsiamese bench "${BENCH[@]}" >/dev/null || { say "bench failed"; status=4; }
  say "bench done"
fi

# 5. One full improved training (seed 0): its record, named apart from TensorFlow's by train.backend=jax.
if has train; then
  SET=("${DET[@]}")
  if [ "$QUICK" = 1 ]; then
    for kv in train.epochs=2 data.pairs_per_epoch=256 data.val_pairs=200; do SET+=(--set "$kv"); done
  fi
  for kv in ${GPU_RUN_SET:-}; do SET+=(--set "$kv"); done
  say "lfwsiamese train --config improved --seed 0 ${SET[*]}"
  if "$PY" -m lfwsiamese train --config improved --seed 0 "${SET[@]}" | tee /tmp/lfwsiamese-train.txt; then
    run=$(sed -n 's/^record: //p' /tmp/lfwsiamese-train.txt | head -n 1)
    "$PY" -m lfwsiamese evaluate "$run" > "$OUT/evaluate.txt" 2>&1 || status=5
    cat "$OUT/evaluate.txt"
    tar czf "$OUT/record.tar.gz" -C "$RESULTS" runs
    say "record $(basename "$run") -> $OUT/record.tar.gz ($(du -h "$OUT/record.tar.gz" | cut -f1))"
  else
    say "training failed"; status=5
  fi
fi
say "finished (status $status)"
exit $status
