"""Are two records the same run's result? The same name (config hash), per-pair scores and metrics, where only
timings, memory and the host may differ: what a run on another engine or worker, or a resumed run, must give."""
from __future__ import annotations

import math
from typing import Any

from .store import Record

#: Metrics that measure the machine or the process, not the result: never compared.
TIMING_METRICS = frozenset({
    "fit_seconds", "fit_seconds_this_process", "train_pairs_per_second", "predict_seconds_val_and_test",
    "predict_pairs_per_second", "peak_rss_mib", "max_rss_mib_this_run",
})
#: History columns that are timings.
TIMING_COLUMNS = frozenset({"epoch_seconds"})


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}{k}: only in {'the second' if k not in a else 'the first'} record")
            else:
                _diff(a[k], b[k], f"{where}{k}.", out)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif a != b:
        out.append(f"{where.rstrip('.')}: {a!r} != {b!r}")


def record_differences(a: Record, b: Record, ignore: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """What differs between two records beyond timings and host, as readable lines; [] when they are the same.

    Compared exactly: the folder name (config hash), the config, every pair's score (validation and test), every
    metric but `TIMING_METRICS` and `ignore` (e.g. {"resumed"} for a run that was killed and resumed), the history
    but its timings, and the weight histograms where both have them. `env.json` (host, versions) is not compared.
    """
    out: list[str] = []
    if a.path.name != b.path.name:
        out.append(f"name: {a.path.name} != {b.path.name}")
    if a.config != b.config:
        out.append("config differs")
    for split, fa, fb in (("test", a.scores, b.scores), ("val", a.val_scores, b.val_scores)):
        if not fa.equals(fb):
            n = int((fa["score"] != fb["score"]).sum()) if len(fa) == len(fb) else max(len(fa), len(fb))
            out.append(f"{split} scores: {n} of {max(len(fa), len(fb))} pairs differ")
    skip = TIMING_METRICS | set(ignore)
    _diff({k: v for k, v in a.metrics.items() if k not in skip},
          {k: v for k, v in b.metrics.items() if k not in skip}, "metrics.", out)
    ha, hb = (r.history.drop(columns=[c for c in TIMING_COLUMNS if c in r.history]) for r in (a, b))
    if not ha.equals(hb):
        out.append("history (other than epoch times) differs")
    wa, wb = a.weights, b.weights
    if wa is not None and wb is not None and wa != wb:
        out.append("weight histograms differ")
    return out
