"""The "View 2 and one-shot" chapter: LFW's ten folds (the N-pair chapter's too), errors, N-way one-shot."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..records.store import Record
from .literature import LFW_VIEW2_VERIFIED, category_of
from .stats import LEVEL, PAIR_KEYS, interval, pair_correct, seed_interval
from .tables import pct, pct_interval, recipe_name


def page(ours: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Our View 2 rows (recipe -> its ten folds) among LFW's results page, best first: mean, SE over folds and
    mean ± t(9) SE."""
    rows = [(e.accuracy, e.method, e.category, e.se) for e in LFW_VIEW2_VERIFIED]
    rows += [(interval(v)["mean"], recipe_name(k) + " (ours)", category_of(v[0].config), interval(v)["se"])
             for k, v in ours.items()]
    t = stats.t.ppf((1 + LEVEL) / 2, 9)
    return pd.DataFrame([{"method": m, "results-page category": c, "accuracy": pct(a),
                          "SE (points)": "not given" if se is None else f"{100 * se:.1f}",
                          "95% interval": "not given" if se is None else f"{pct(a - t * se)} to {pct(a + t * se)}"}
                         for a, m, c, se in sorted(rows, key=lambda r: -r[0])])


def overlap(a: Record, b: Record) -> pd.DataFrame:
    """How the test pairs split between right and wrong for two runs, each at its own validation threshold."""
    if not a.scores[PAIR_KEYS].equals(b.scores[PAIR_KEYS]):
        raise ValueError(f"{a.path.name} and {b.path.name} scored different pairs")
    ra, rb = pair_correct(a).astype(bool), pair_correct(b).astype(bool)
    na, nb = recipe_name(a.config.name), recipe_name(b.config.name)
    return pd.DataFrame({na: ["right", "wrong"], f"{nb} right": [(ra & rb).sum(), (~ra & rb).sum()],
                         f"{nb} wrong": [(ra & ~rb).sum(), (~ra & ~rb).sum()]})


def oneshot(groups: Mapping[str, Sequence[Record]]) -> dict[tuple[str, int], dict[str, float]]:
    """Each record's stored oneshot.csv by (column, N): network, pixel baseline of its preprocessing, chance."""
    out = {}
    for name, recs in groups.items():
        pix = "pixels, " + ("face crop" if recs[0].config.data.crop else "whole frame")
        table = pd.concat([pd.read_csv(r.path / "oneshot.csv") for r in recs])
        for (method, n), g in table.groupby(["method", "N"]):
            col = {"random": "chance", "pixels_nn": pix, "siamese": recipe_name(name)}[method]
            acc = g["accuracy"] if method == "siamese" else np.unique(g["accuracy"])  # the same for every seed
            out[col, int(n)] = seed_interval(acc, n_pairs=int(g["n_trials"].iloc[0]))
    return out


def oneshot_table(res: Mapping[tuple[str, int], dict[str, float]]) -> pd.DataFrame:
    """`oneshot` as a table: one row per N, chance first, each cell "61% ± 3" (± the 95% half width)."""
    cols = ["chance"] + [c for c in dict.fromkeys(c for c, _ in res) if c != "chance"]
    return pd.DataFrame([{"N": n, **{c: pct(res[c, n]["mean"], 0) if c == "chance" else pct_interval(res[c, n], 0)
                                     for c in cols}} for n in sorted({n for _, n in res})])
