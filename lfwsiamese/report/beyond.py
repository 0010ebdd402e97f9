"""The "Beyond the reference" chapter: the improved model next to the reference, the peers and its own ablation."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..records.store import Record
from .literature import PEERS_DEVTEST, PEERS_PROTOCOL, protocol_of
from .stats import interval, pair_correct, paired_difference, seed_interval
from .tables import minutes, pct, pct_interval, recipe_name

#: What each ablation row takes away (`no-flip`: the same weights scored without the mirrored pair).
TAKEN_AWAY = {"no-flip": "no test-time flip", "no-crop": "no face crop (whole frame)",
              "pairs": "DevTrain pairs, not identities", "no-augment": "no augmentation",
              "l1-head": "L1 head, not cosine", "constant-lr": "no cosine decay", "no-weight-decay": "no weight decay"}


def summary(groups: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """One row per recipe: seeds, DevTest accuracy with its 95% interval (seeds and pairs), AUC, time per run."""
    return pd.DataFrame([{"model": recipe_name(k), "seeds": len(v), "DevTest accuracy": pct_interval(interval(v)),
                          "AUC": np.mean([r.metrics["test"]["auc"] for r in v]),
                          "training per run": minutes(np.mean([r.metrics["fit_seconds"] for r in v]))}
                         for k, v in groups.items()])


def difference(a: Sequence[Record], b: Sequence[Record]) -> dict[str, float]:
    """Test accuracy of a minus b, seed k against seed k, on the same test pairs (interval: seeds and pairs)."""
    ca, cb = (np.stack([pair_correct(r) for r in recs]) for recs in (a, b))
    return seed_interval(ca.mean(axis=1) - cb.mean(axis=1), ca.mean(axis=0) - cb.mean(axis=0))


def peers(ours: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Peers' reported DevTest accuracies and ours, best first (a peer's interval: its test pairs only)."""
    n = len(next(iter(ours.values()))[0].scores)
    rows = [(acc, name.split("/")[0] + (" (the reference)" if "reference" in name else ""), PEERS_PROTOCOL,
             pct_interval(seed_interval([acc], n_pairs=n)), how) for name, acc, how in PEERS_DEVTEST]
    rows += [(interval(v)["mean"], recipe_name(k) + " (ours)", protocol_of(v[0].config), pct_interval(interval(v)),
              "seed mean, threshold on validation people") for k, v in ours.items()]
    cols = ["implementation", "protocol", "DevTest accuracy", "how"]
    return pd.DataFrame(sorted(rows, key=lambda r: -r[0]), columns=["acc"] + cols)[cols]


def changes(full: Sequence[Record], variants: Sequence[Record]) -> dict[str, dict]:
    """Each variant minus the full model of the same seed, validation and test accuracy, t interval over seeds."""
    base = {r.config.seed: r.metrics for r in full}
    runs: dict[str, list] = {"no-flip": [(s, m["without_tta"]) for s, m in base.items()]}
    for r in variants:
        runs.setdefault(r.config.name.removeprefix("improved-"), []).append((r.config.seed, r.metrics))
    return {step: {"seeds": len(v), "val_acc": float(np.mean([m["val"]["accuracy"] for _, m in v])),
                   **{sp: paired_difference([m[sp]["accuracy"] for _, m in v], [base[s][sp]["accuracy"] for s, _ in v])
                      for sp in ("val", "test")}} for step, v in runs.items()}


def ablation_table(ch: Mapping[str, dict]) -> pd.DataFrame:
    """`changes` as the chapter shows it."""
    def pts(d: dict) -> str:  # in points: "-6.1 [-9.9, -2.3]"
        return f"{100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
    return pd.DataFrame([{"taken away": TAKEN_AWAY[k], "seeds": c["seeds"], "validation accuracy": pct(c["val_acc"]),
                          "validation change (points)": pts(c["val"]), "test change (points)": pts(c["test"])}
                         for k, c in ch.items()])
