"""Our results next to published ones, protocol by protocol: the headline table, the peers on View 1, LFW's results
page on View 2, and how much of a gain over the peers is protocol and how much is model.

Every row says which protocol it follows (`protocol.protocol_of`) and which category of LFW's results page it falls
in, and every accuracy carries a 95% interval saying what it covers (`intervals`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...records.store import Record
from .columns import TEST_ACC, TEST_ACC_05, TEST_AUC
from .intervals import accuracy_interval, combined_interval, interval_text
from .literature import (
    LFW_VIEW2_VERIFIED,
    PEERS_CATEGORY,
    PEERS_DEVTEST,
    PEERS_PROTOCOL,
    REFERENCE_REPORTED,
)
from .protocol import (
    STRICT,
    VIEW1_RESTRICTED,
    VIEW2_RESTRICTED,
    VIEW2_UNRESTRICTED,
    category_of,
    protocol_of,
)
from .stats import processors

PROTOCOL = "protocol"
CATEGORY = "results-page category"
INTERVAL = "95% interval"
COVERS = "interval covers"
PAGE_SOURCE = "LFW results page"


def devtest_pairs() -> int:
    """The number of View 1 test pairs (pairsDevTest.txt), for intervals of numbers reported without their pairs."""
    from ...data import protocols as P
    return len(P.load_pairs("pairsDevTest.txt"))


def _one_protocol(records: Sequence[Record]) -> tuple[str, str]:
    found = {(protocol_of(r.config), category_of(r.config)) for r in records}
    if len(found) != 1:
        raise ValueError(f"records of several protocols in one row: {sorted(found)}")
    return found.pop()


def _groups(records: Sequence[Record] | Mapping[str, Sequence[Record]], label: str) -> dict[str, Sequence[Record]]:
    """One unnamed group of records as {label: records}; named groups as they are."""
    return dict(records) if isinstance(records, Mapping) else {label: records}


def _complete_view2(records: Sequence[Record]) -> bool:
    return sorted(r.config.data.fold for r in records) == list(range(10))


def headline_table(groups: dict[str, Sequence[Record]],
                   view2: Sequence[Record] | Mapping[str, Sequence[Record]] = ()) -> pd.DataFrame:
    """The book's headline: the reference's reported number, then each group of our seeds (one recipe each) and,
    for each View 2 group with all ten folds (unnamed: `improved`'s), its View 2 result. Means only (no ±): the
    interval columns say what each covers."""
    n = devtest_pairs()
    rep = combined_interval([REFERENCE_REPORTED["test_accuracy"]], n_pairs=n)
    rows = {"reference, reported": {
        PROTOCOL: PEERS_PROTOCOL, CATEGORY: PEERS_CATEGORY, "runs": f"{REFERENCE_REPORTED['runs']} (reported)",
        TEST_ACC_05: f"{REFERENCE_REPORTED['test_accuracy']:.3f}", f"{INTERVAL} @0.5": interval_text(rep),
        TEST_ACC: "not reported", f"{INTERVAL} (val threshold)": "", TEST_AUC: "not reported",
        COVERS: rep["covers"], "processor": "not reported"}}
    for label, recs in groups.items():
        if not recs:
            continue
        proto, cat = _one_protocol(recs)
        iv, iv05 = accuracy_interval(recs), accuracy_interval(recs, "accuracy_at_0.5")
        rows[label] = {PROTOCOL: proto, CATEGORY: cat, "runs": f"{len(recs)} seed{'s' if len(recs) != 1 else ''}",
                       TEST_ACC_05: f"{iv05['mean']:.3f}", f"{INTERVAL} @0.5": interval_text(iv05),
                       TEST_ACC: f"{iv['mean']:.3f}", f"{INTERVAL} (val threshold)": interval_text(iv),
                       TEST_AUC: f"{np.mean([r.metrics['test']['auc'] for r in recs]):.3f}", COVERS: iv["covers"],
                       "processor": processors(recs)}
    for label, folds in _groups(view2, "improved, View 2 (10 folds)").items():
        if not _complete_view2(folds):
            continue
        proto, cat = _one_protocol(folds)
        iv, iv05 = accuracy_interval(folds), accuracy_interval(folds, "accuracy_at_0.5")
        rows[label] = {
            PROTOCOL: proto, CATEGORY: cat, "runs": "10 folds", TEST_ACC_05: f"{iv05['mean']:.3f}",
            f"{INTERVAL} @0.5": interval_text(iv05), TEST_ACC: f"{iv['mean']:.3f}",
            f"{INTERVAL} (val threshold)": interval_text(iv),
            TEST_AUC: f"{np.mean([r.metrics['test']['auc'] for r in folds]):.3f}", COVERS: iv["covers"],
            "processor": processors(folds)}
    return pd.DataFrame(rows).T


def peers_table(ours: dict[str, Sequence[Record]]) -> pd.DataFrame:
    """Our seed-mean DevTest accuracy (validation threshold) next to the peers' reported single numbers, each with
    its protocol, the results page's category and a 95% interval (a peer's: its test pairs only)."""
    n = devtest_pairs()
    rows = []
    for name, acc, how in PEERS_DEVTEST:
        iv = combined_interval([acc], n_pairs=n)
        rows.append({"implementation": name, PROTOCOL: PEERS_PROTOCOL, CATEGORY: PEERS_CATEGORY, "DevTest accuracy": acc,
                     INTERVAL: interval_text(iv), COVERS: iv["covers"], "how": how, "source": "reported in its README"})
    for label, recs in ours.items():
        if recs:
            proto, cat = _one_protocol(recs)
            iv = accuracy_interval(recs)
            rows.append({"implementation": label, PROTOCOL: proto, CATEGORY: cat, "DevTest accuracy": iv["mean"],
                         INTERVAL: interval_text(iv), COVERS: iv["covers"],
                         "how": f"mean of {len(recs)} seed{'s' if len(recs) != 1 else ''}, threshold chosen on validation "
                                f"people ({processors(recs)})",
                         "source": "measured here: " + ", ".join(r.path.name for r in recs)})
    return pd.DataFrame(rows).sort_values("DevTest accuracy", ascending=False).set_index("implementation")


def se_interval(mean: float, se: float, folds: int = 10, level: float = 0.95) -> tuple[float, float]:
    """mean ± t(folds - 1) * SE: the interval of a View 2 mean from the standard error the results page gives."""
    from scipy import stats
    h = float(stats.t.ppf((1 + level) / 2, folds - 1) * se)
    return mean - h, mean + h


def view2_comparison(records: Sequence[Record] | Mapping[str, Sequence[Record]],
                     label: str = "lfwsiamese: improved") -> pd.DataFrame:
    """Our View 2 mean with its standard error over folds (the results page's ±), AUC and 95% interval, next to
    the results page's entries; a row of ours (one per named group) only when all ten folds are recorded (a partial
    mean is not the protocol's)."""
    from ...evaluate import fold_summary
    rows = []
    for e in LFW_VIEW2_VERIFIED:
        lo_hi = se_interval(e.accuracy, e.se) if e.se is not None else None
        rows.append({"method": e.method, PROTOCOL: VIEW2_RESTRICTED if e.category.startswith("image-restricted") else VIEW2_UNRESTRICTED,
                     CATEGORY: e.category, "View 2 accuracy": e.accuracy, "SE": np.nan if e.se is None else e.se,
                     INTERVAL: f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else "no SE given",
                     "note": e.note, "source": PAGE_SOURCE})
    for name, folds in _groups(records, label).items():
        if not _complete_view2(folds):
            continue
        s = fold_summary([r.metrics["test"] for r in folds])
        proto, cat = _one_protocol(folds)
        rows.append({"method": name, PROTOCOL: proto, CATEGORY: cat, "View 2 accuracy": s["accuracy"]["mean"],
                     "SE": s["accuracy"]["se"], INTERVAL: interval_text(accuracy_interval(folds)),
                     "AUC": s["auc"]["mean"],
                     "note": f"trained on LFW-a with identities ({processors(folds)})",
                     "source": "measured here, 10 folds, threshold on each fold's validation people"})
    return pd.DataFrame(rows).sort_values("View 2 accuracy", ascending=False).set_index("method")


def view2_standing(table: pd.DataFrame, ours: str) -> str:
    """Where our View 2 row stands among the results page's entries of its own category (a `view2_comparison`
    table): how many score higher and lower, and the nearest one above, so the reader need not count rows."""
    if ours not in table.index:
        raise ValueError(f"{ours!r} is not a row of this table (rows appear when all ten folds are recorded); "
                         f"rows: {', '.join(map(str, table.index))}")
    row = table.loc[ours]
    acc, cat = float(row["View 2 accuracy"]), row[CATEGORY]
    page = table[(table["source"] == PAGE_SOURCE) & (table[CATEGORY] == cat)]
    above = page[page["View 2 accuracy"] > acc].sort_values("View 2 accuracy")
    n_below = int((page["View 2 accuracy"] < acc).sum())
    # four decimals, as the table and the page print them; plain text, since chapters glue it as text
    where = f"In its results-page category ({cat}), {ours} at {acc:.4f}"
    if not len(above):
        return f"{where} is above all {len(page)} of the page's entries."
    near = above.iloc[0]
    nearest = f"{above.index[0]}, {near['View 2 accuracy']:.4f}" + ("" if pd.isna(near["SE"]) else f" ± {near['SE']:.4f}")
    if not n_below:
        return f"{where} is below all {len(page)} of the page's entries; the nearest is {nearest}."
    return (f"{where} is below {len(above)} of the page's {len(page)} entries and above {n_below}; the nearest above "
            f"is {nearest}.")


def best_peer() -> tuple[str, float]:
    """The best accuracy the peers report, and whose."""
    name, acc, _ = max(PEERS_DEVTEST, key=lambda p: p[1])
    return name, acc


def protocol_gain(unrestricted: Sequence[Record], restricted: Sequence[Record]) -> dict[str, object]:
    """The gain of our unrestricted model over the best (restricted) peer, split in two: the protocol (the same
    model trained on the DevTrain pairs only, minus trained on all images of the DevTrain people) and the model
    (the same model under the peers' protocol, minus the best peer)."""
    if not unrestricted or not restricted:
        raise ValueError("need records of the model under both protocols")
    if {protocol_of(r.config) for r in restricted} != {VIEW1_RESTRICTED}:
        raise ValueError("the restricted records must follow View 1's restricted protocol (data.sampling=pairs)")
    name, peer = best_peer()
    iu, ir = accuracy_interval(unrestricted), accuracy_interval(restricted)
    return {"peer": name, "peer accuracy": peer, "unrestricted": iu, "restricted": ir,
            "total": iu["mean"] - peer, "protocol": iu["mean"] - ir["mean"], "model": ir["mean"] - peer,
            "processors": (processors(unrestricted), processors(restricted))}


def protocol_sentence(g: dict[str, object]) -> str:
    """`protocol_gain` in words, every number from it."""
    iu, ir, peer = g["unrestricted"], g["restricted"], g["peer accuracy"]
    k_u, k_r = iu["seeds"], ir["seeds"]
    pts = lambda x: f"{x * 100:+.1f}"  # noqa: E731
    if ir["low"] <= peer <= ir["high"]:
        verdict = ("the best peer's number lies inside that interval, so under the same protocol the model is not "
                   "shown to be better than the best peer, nor worse")
    elif ir["mean"] > peer:
        verdict = "the best peer's number lies below that interval: the model is better under the peers' protocol too"
    else:
        verdict = ("the best peer's number lies above that interval: under the peers' protocol the model is worse "
                   "than the best peer")
    seeds = ("" if k_r > 1 else
             " The restricted result rests on one seed, so its interval holds the test pairs' sampling only; "
             "the seed-to-seed spread would widen it.")
    cpu = ("" if g["processors"][0] == g["processors"][1] else
           f" The two were trained on different processors ({g['processors'][0]} and {g['processors'][1]}).")
    return (f"Against the best restricted peer ({g['peer']}, {peer:.3f}), the improved model trained on every image of "
            f"the DevTrain people (unrestricted, mean of {k_u} seeds, {iu['mean']:.3f}) is {pts(g['total'])} points "
            f"ahead. Trained on the DevTrain pairs alone, as the peers were ({k_r} seed{'s' if k_r != 1 else ''}), the "
            f"same model scores {ir['mean']:.3f} (95% interval {interval_text(ir)}): {pts(g['protocol'])} of those "
            f"points come from the protocol and {pts(g['model'])} from the model, and {verdict}.{seeds}{cpu}")


__all__ = ["PROTOCOL", "CATEGORY", "INTERVAL", "COVERS", "STRICT", "devtest_pairs", "headline_table", "peers_table",
           "se_interval", "view2_comparison", "view2_standing", "best_peer", "protocol_gain", "protocol_sentence"]
