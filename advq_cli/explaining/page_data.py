"""The numbers of the HTML report that are not already another subcommand's: how run-to-run
agreement grows with the runs averaged, which examples the page carries, their epoch-by-epoch
correctness, and each class's quality distribution. Kept apart from the page so tests can
recompute them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..h5store import open_checked
from ..profiling.ranks import average_ranks
from ..profiling.store import FORMAT, complete_runs, read_record
from .examples import HIGHEST, LOWEST, extremes
from .stats import sample, spearman

MAX_DRAWS = 20
"""Most random splits averaged for one number of runs."""
NOT_TRAINED = "."
"""An epoch in which no run trained the example."""


@dataclass(frozen=True)
class Growth:
    """Spearman's rho between the means of two disjoint groups of k runs, for k = 1 … R // 2."""

    runs: list[int]
    rho: list[float]
    draws: list[int]


def agreement_growth(ranks: list[np.ndarray], seed: int) -> Growth:
    """How well two independent k-run estimates agree as k grows: for each k, the mean rho
    over up to ``MAX_DRAWS`` seeded draws of two disjoint groups of k runs each.

    Two disjoint groups give an honest answer (an estimate compared with a mean that holds
    it would agree with itself); the rise with k says how many runs suffice.
    """
    rng = np.random.default_rng(seed)
    growth = Growth([], [], [])
    for k in range(1, len(ranks) // 2 + 1):
        splits = disjoint_splits(len(ranks), k, rng)
        rhos = [spearman(average_ranks([ranks[i] for i in a]), average_ranks([ranks[i] for i in b]))[0] for a, b in splits]
        growth.runs.append(k)
        growth.rho.append(float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan"))
        growth.draws.append(len(splits))
    return growth


def disjoint_splits(r: int, k: int, rng: np.random.Generator) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every pair of disjoint k-run groups (each pair once) when there are at most ``MAX_DRAWS``,
    else ``MAX_DRAWS`` seeded random ones."""
    pairs = [
        (a, b) for a in itertools.combinations(range(r), k)
        for b in itertools.combinations(sorted(set(range(r)) - set(a)), k) if a < b
    ] if r <= 10 else []
    if pairs and len(pairs) <= MAX_DRAWS:
        return pairs
    draws = []
    for _ in range(MAX_DRAWS):
        order = rng.permutation(r)
        draws.append((tuple(sorted(order[:k])), tuple(sorted(order[k:2 * k]))))
    return draws


def page_examples(rank: np.ndarray, labels: np.ndarray, shown: np.ndarray, per_class: int) -> dict[str, np.ndarray]:
    """The examples whose images the page holds: the map's points and, per class, the
    ``per_class`` lowest- and highest-quality (the gallery's first pages in either order).

    Returns ``rows`` (sorted unique indices) and ``extremes`` (those chosen as extremes).
    """
    chosen = [extremes(rank, labels, c, per_class) for c in np.unique(labels)]
    ends = np.concatenate([np.concatenate([pick[LOWEST], pick[HIGHEST]]) for pick in chosen]).astype(np.int64)
    return {"rows": np.union1d(shown, ends).astype(np.int64), "extremes": np.unique(ends)}


def map_points(x: np.ndarray, y: np.ndarray, rank: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of the examples drawn on the data map: those ranked with both coordinates
    finite, a seeded sample of ``limit`` when there are more."""
    drawable = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & np.isfinite(rank))
    return drawable[sample(len(drawable), limit, seed)]


def epoch_strips(path: Path, rows: np.ndarray) -> tuple[list[str], int]:
    """Per example, one character per epoch: how many complete runs classified it correctly
    under the training attack then (base 36; ``.`` where no run trained it), and the number of runs."""
    with open_checked(path, (FORMAT,)) as handle:
        runs = complete_runs(handle)
        records = [read_record(handle, group.name.rsplit("/", 1)[-1])[0][:, rows] for group in runs]
    epochs = max(r.shape[0] for r in records)
    right = np.zeros((epochs, len(rows)), dtype=np.int64)
    trained = np.zeros((epochs, len(rows)), dtype=bool)
    for record in records:
        right[: record.shape[0]] += record == 1
        trained[: record.shape[0]] |= record >= 0
    digits = np.array(list("0123456789abcdefghijklmnopqrstuvwxyz"))
    cells = np.where(trained, digits[np.minimum(right, 35)], NOT_TRAINED)
    return ["".join(column) for column in cells.T], len(records)


@dataclass(frozen=True)
class ClassSpread:
    """Per class, the quartiles and the 5th/95th percentiles of the problem rank, and the count."""

    low: list[float]
    q1: list[float]
    median: list[float]
    q3: list[float]
    high: list[float]
    count: list[int]


def class_spread(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> ClassSpread:
    """Each class's problem-rank distribution over all its ranked examples (NaN for an unranked class)."""
    quantiles = []
    counts = []
    for c in range(n_classes):
        values = rank[(labels == c) & np.isfinite(rank)]
        counts.append(int(values.size))
        quantiles.append(np.percentile(values, [5, 25, 50, 75, 95]) if values.size else np.full(5, np.nan))
    columns = np.array(quantiles).T
    return ClassSpread(*(list(map(float, column)) for column in columns), counts)
