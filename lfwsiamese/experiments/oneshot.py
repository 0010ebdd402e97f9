"""One-shot N-way identification (Koch et al.'s own task) on the DevTest people.

A trial: N distinct people, one query image of one of them, and a support set of one *other* image
of that person plus one image of each of the N-1 others; the prediction is the most similar support
image. Chance is 1/N. Nothing here is used to choose anything in training.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from ..data import protocols as P
from ..data.images import ImageStore, Preprocess, load_image
from ..data.paths import images_dir, require_data_dir, splits_dir
from ..data.protocols import ImageRef
from ..errors import DataError, LfwSiameseError
from ..files import atomic_write_text, check_writable_file, write_errors

COLUMNS = ["method", "N", "accuracy", "ci95_low", "ci95_high", "n_trials", "seed"]
DEFAULT_WAYS = (5, 10, 20)
Z95 = 1.959963984540054


class Trial(NamedTuple):
    """A query, its N support images, and the index of the support image of the query's person."""

    query: ImageRef
    support: tuple[ImageRef, ...]
    correct: int


#: Scores every support image of every trial: (n_trials, N), higher = more similar to the query.
ScoreFn = Callable[[Sequence[Trial]], np.ndarray]


def dev_test_people(data: str | os.PathLike | None = None) -> dict[str, int]:
    """DevTest people and image counts (the data folder's splits/ if present, else the packaged file)."""
    sdir = None
    if data is not None:
        sdir = splits_dir(Path(data))
    sets = P.load_people("peopleDevTest.txt", sdir)
    return {n: c for s in sets for n, c in s.counts}


def make_trials(people_counts: Mapping[str, int], n_way: int, n_trials: int, seed: int = 0) -> list[Trial]:
    """Seeded N-way trials over the people with >= 2 images; the correct index is uniform over 0..N-1."""
    if n_way < 2:
        raise LfwSiameseError(f"n_way={n_way}: a one-shot trial needs at least 2 people (e.g. 5, 10, 20)")
    if n_trials < 1:
        raise LfwSiameseError(f"n_trials={n_trials}: must be >= 1")
    eligible = sorted(n for n, c in people_counts.items() if c >= 2)
    if len(eligible) < n_way:
        raise LfwSiameseError(
            f"{n_way}-way trials need {n_way} people with >= 2 images, only {len(eligible)} available; use fewer ways"
        )
    counts = np.array([people_counts[n] for n in eligible])
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    for _ in range(n_trials):
        chosen = rng.choice(len(eligible), n_way, replace=False)  # random order: position = support index
        correct = int(rng.integers(n_way))
        support: list[ImageRef] = []
        query: ImageRef | None = None
        for pos, k in enumerate(chosen):
            name = eligible[k]
            if pos == correct:
                qi, si = rng.choice(int(counts[k]), 2, replace=False) + 1
                query = ImageRef(name, int(qi))
                support.append(ImageRef(name, int(si)))
            else:
                support.append(ImageRef(name, int(rng.integers(int(counts[k]))) + 1))
        assert query is not None
        trials.append(Trial(query, tuple(support), correct))
    return trials


def trial_refs(trials: Sequence[Trial]) -> list[ImageRef]:
    """Every distinct image the trials use, sorted."""
    return sorted({r for t in trials for r in (t.query, *t.support)})


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval: unlike the normal one it stays inside [0, 1] near 0 and 1.

    Ours, not SciPy's `binomtest(k, n).proportion_ci(method="wilson")`: that needs an integer count, and tie credit
    (see `nway_accuracy`) makes `successes` fractional. For integer counts the two agree (tests/test_oneshot.py).
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the ends (p=0 gives 0, p=1 gives 1), and never excluding p through rounding
    lo = 0.0 if successes <= 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if successes >= n else min(1.0, max(p, centre + half))
    return (lo, hi)


def nway_accuracy(score_fn: ScoreFn, trials: Sequence[Trial]) -> dict[str, float]:
    """Fraction of trials whose query's person gets the top score, with a Wilson 95% interval.

    A tie for the top score earns 1/(number tied) if the correct image is among them, the expected
    value of a random tie-break: a constant scorer gets exactly chance, not the luck of argmax order.
    """
    if not trials:
        raise LfwSiameseError("no trials to score")
    s = np.asarray(score_fn(trials), dtype=np.float64)
    n_way = len(trials[0].support)
    if s.shape != (len(trials), n_way):
        raise ValueError(f"score function returned shape {s.shape}, expected {(len(trials), n_way)}")
    s = np.where(np.isnan(s), -np.inf, s)  # a NaN score never wins; all-NaN rows fall back to chance
    correct = np.array([t.correct for t in trials])
    top = s.max(axis=1, keepdims=True)
    at_top = s >= top
    credit = at_top[np.arange(len(trials)), correct] / at_top.sum(axis=1)
    successes = float(credit.sum())
    lo, hi = wilson_interval(successes, len(trials))
    return {"accuracy": successes / len(trials), "ci95_low": lo, "ci95_high": hi, "n_trials": len(trials)}


def random_baseline(n_way: int) -> float:
    """Chance accuracy of an N-way trial."""
    return 1.0 / n_way


def _rows(store: ImageStore, trials: Sequence[Trial]) -> tuple[np.ndarray, np.ndarray]:
    q = np.array([store.row(t.query) for t in trials], dtype=np.int64)
    s = np.array([[store.row(r) for r in t.support] for t in trials], dtype=np.int64)
    return q, s


def pixel_baseline(store: ImageStore) -> ScoreFn:
    """Negative L2 distance between raw preprocessed pixels: nearest neighbour with no learning at all."""
    flat = store.array.reshape(len(store.array), -1)

    def score(trials: Sequence[Trial], chunk: int = 64) -> np.ndarray:
        q, s = _rows(store, trials)
        out = np.empty(s.shape, np.float64)
        for i in range(0, len(trials), chunk):  # direct differences, in chunks to bound memory
            xq = flat[q[i:i + chunk]].astype(np.float64)[:, None, :]
            d = flat[s[i:i + chunk]].astype(np.float64) - xq
            out[i:i + chunk] = -np.sqrt(np.einsum("tkp,tkp->tk", d, d))
        return out

    return score


_KNOWN_HEADS = {
    ("l1_distance", "dropout", "same_probability"),
    ("l1_distance", "same_probability"),
    ("scaled_cosine", "same_probability"),
}
_PLUMBING = {"image_a", "image_b", "stack_pair", "split_pair", "tower"}


def _head_layers(model: Any) -> list[Any] | None:
    """The layers after the twin towers, when the model is one of the known shapes; else None."""
    names = [layer.name for layer in model.layers if layer.name not in _PLUMBING]
    if tuple(names) not in _KNOWN_HEADS or "tower" not in {layer.name for layer in model.layers}:
        return None
    return [model.get_layer(n) for n in names]


def head_scores(model: Any, emb: np.ndarray, ia: np.ndarray, ib: np.ndarray, batch_size: int = 2048) -> np.ndarray | None:
    """P(same) of pairs (emb[ia], emb[ib]) through the model's own head layers (None if the head is unknown).

    Gathered per batch: 20,000 pairs of 4096-d embeddings would otherwise take 650 MB.
    """
    layers = _head_layers(model)
    if layers is None:
        return None
    out = []
    for i in range(0, len(ia), batch_size):
        x = layers[0]([emb[ia[i:i + batch_size]], emb[ib[i:i + batch_size]]], training=False)
        for layer in layers[1:]:
            x = layer(x, training=False)
        out.append(np.asarray(x, dtype=np.float64).ravel())
    return np.concatenate(out) if out else np.zeros(0)


def model_scores(model: Any, store: ImageStore, pixel_scale: float, batch_size: int = 128) -> ScoreFn:
    """The Siamese model's P(same) for every (query, support) pair.

    Each distinct image goes through the tower once and the pairs through the model's head; a model
    whose head is not a known shape falls back to `model.predict` on every pair (same numbers, slower).
    """
    def score(trials: Sequence[Trial]) -> np.ndarray:
        q, s = _rows(store, trials)
        n_way = s.shape[1]
        a = np.repeat(q, n_way)
        b = s.ravel()
        if _head_layers(model) is not None:
            from ..serve.embed import embed_arrays
            used = np.unique(np.concatenate([a, b]))
            emb = embed_arrays(model.get_layer("tower"), store.array[used], pixel_scale, batch_size)
            p = head_scores(model, emb, np.searchsorted(used, a), np.searchsorted(used, b))
        else:
            from ..data.pipeline import pair_dataset
            ds = pair_dataset(store.array, a, b, np.zeros(len(a), np.float32), batch_size, pixel_scale=pixel_scale)
            p = model.predict(ds, verbose=0).astype(np.float64).ravel()
        return np.asarray(p).reshape(len(trials), n_way)

    return score


def scorer_scores(scorer: Any, store: ImageStore) -> ScoreFn:
    """A `serve.scorer.Scorer`'s P(same) for every (query, support) pair: each image embedded once per view, pairs
    scored as the record's test pairs were (flip averaging included)."""
    def score(trials: Sequence[Trial]) -> np.ndarray:
        q, s = _rows(store, trials)
        a, b = np.repeat(q, s.shape[1]), s.ravel()
        used = np.unique(np.concatenate([a, b]))
        views = scorer.embed(store.array[used])
        p = scorer.score(views[np.searchsorted(used, a)], views[np.searchsorted(used, b)])
        return np.asarray(p).reshape(len(trials), s.shape[1])

    return score


def load_refs(refs: Sequence[ImageRef], data: str | os.PathLike | None, pre: Preprocess, progress: bool = True) -> ImageStore:
    """Only the images the trials use (a few thousand at most), not the whole of LFW-a."""
    root = images_dir(require_data_dir(data))
    from tqdm.auto import tqdm
    arr = np.empty((len(refs), pre.size, pre.size), np.uint8)
    for k, r in enumerate(tqdm(refs, desc="loading one-shot images", unit="img", disable=not progress)):
        path = root / r.relpath
        if not path.is_file():
            raise DataError(f"{path}: missing, needed by the one-shot trials; check the data with `lfwsiamese data check`")
        arr[k] = load_image(path, pre, warn=False)
    return ImageStore([r.relpath for r in refs], arr, pre)


def evaluate_nway(run_dir: str | os.PathLike | None = None, ns: Sequence[int] = DEFAULT_WAYS, n_trials: int = 1000,
                  seed: int = 0, data: str | os.PathLike | None = None,
                  people_counts: Mapping[str, int] | None = None, progress: bool = True,
                  scorer: Any = None) -> pd.DataFrame:
    """Random, pixel nearest-neighbour and (with a run, or a `scorer` such as the shipped model) Siamese accuracy for
    each N.

    With a run, images are preprocessed as that run was trained, and the table is also written
    atomically to <run_dir>/oneshot.csv. `people_counts` defaults to the DevTest people.
    """
    ns = [int(n) for n in ns]
    if not ns:
        raise LfwSiameseError("no N given; use e.g. --ways 5,10,20")
    model, pre, scale, rec = None, Preprocess(), 1.0, None
    if run_dir is not None:
        from ..records.store import load_record, load_run_model
        rec = load_record(run_dir)
        table = Path(rec.path) / "oneshot.csv"
        check_writable_file(table, f"one-shot table {table}", "oneshot writes it into the run folder: make that "
                            "writable, or copy the run folder somewhere writable and pass it as --run")
        model = load_run_model(run_dir)
        pre = Preprocess.of(rec.config.data)
        scale = rec.config.data.pixel_scale
    elif scorer is not None:
        pre = scorer.pre
    if people_counts is None:
        people_counts = dev_test_people(require_data_dir(data))
    all_trials = {n: make_trials(people_counts, n, n_trials, seed) for n in ns}
    store = load_refs(sorted({r for ts in all_trials.values() for r in trial_refs(ts)}), data, pre, progress)
    rows: list[dict[str, Any]] = []
    for n, trials in all_trials.items():
        chance = random_baseline(n)
        rows.append({"method": "random", "N": n, "accuracy": chance, "ci95_low": chance, "ci95_high": chance,
                     "n_trials": n_trials, "seed": seed})
        rows.append({"method": "pixels_nn", "N": n, **nway_accuracy(pixel_baseline(store), trials), "seed": seed})
        if model is not None:
            rows.append({"method": "siamese", "N": n, **nway_accuracy(model_scores(model, store, scale), trials), "seed": seed})
        elif scorer is not None:
            rows.append({"method": "siamese", "N": n, **nway_accuracy(scorer_scores(scorer, store), trials), "seed": seed})
    df = pd.DataFrame(rows, columns=COLUMNS)
    if rec is not None:
        table = Path(rec.path) / "oneshot.csv"
        with write_errors(table, "the table was not stored; free space on that disk and rerun"):
            atomic_write_text(table, df.to_csv(index=False))
    return df
