"""The dataset chapter's tables that are not summaries of records: example pairs and the leakage of both splits."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import protocols as P
from ...data.protocols import Pair

LEAKAGE_COLUMNS = ["val_pairs", "val_same", "val_different", "frac_sharing_a_person", "frac_sharing_an_image"]


def example_pairs(n: int = 4, seed: int = 0, name: str = "pairsDevTrain.txt") -> list[Pair]:
    """`n` same-person then `n` different-person pairs of a pair file, drawn at random (seeded)."""
    pairs = P.load_pairs(name)
    same = [p for p in pairs if p.same]
    diff = [p for p in pairs if not p.same]
    rng = np.random.default_rng(seed)
    return ([same[i] for i in rng.choice(len(same), n, replace=False)] +
            [diff[i] for i in rng.choice(len(diff), n, replace=False)])


def leakage_summary(comparison: pd.DataFrame) -> pd.DataFrame:
    """A `split_comparison` averaged over its seeds, per kind of split."""
    return comparison.groupby("split")[LEAKAGE_COLUMNS].mean()


def leakage_reading(comparison: pd.DataFrame) -> dict[str, str]:
    """The pair-level split's leakage in words, and how many seeds measured it."""
    pl = comparison[comparison.split.str.startswith("pair")]
    return {"leak_person": f"{pl.frac_sharing_a_person.mean():.0%}", "leak_image": f"{pl.frac_sharing_an_image.mean():.0%}",
            "leak_seeds": str(comparison["seed"].nunique())}
