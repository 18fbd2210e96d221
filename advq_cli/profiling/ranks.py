"""Problem ranks: the rank of learning instability, normalised to [0, 1).

Within one run (``/runs/<id>/measures/problem_rank``), the trained examples are sorted by
instability in ascending order with a stable sort, so ties are broken by example index.
Rank r (0-based) of n trained examples becomes r / n, so values lie in [0, 1) and larger
means less stable (lower quality). Examples outside the run's training subset are NaN.

The profile's ``/quality/problem_rank`` has the form of the paper's published array: the
instability is first averaged over the complete runs and then ranked (``published_rank``),
so the values are a permutation of k / n. Averaged instability ties a lot (the paper's
footnote 2: about 1600 distinct values for 50,000 examples), and breaking those ties by
index would correlate the rank with the dataset's order; they are broken in a seeded
random order instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalised_rank(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Float64 (N,): ascending rank / n among ``mask`` (ties by index), NaN elsewhere."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError("values must be one-dimensional")
    mask = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != values.shape:
        raise ValueError("mask must have the shape of values")
    members = np.flatnonzero(mask)
    if np.isnan(values[members]).any():
        raise ValueError("values to rank must not be NaN inside the mask")
    return _rank_over(values, members)


def published_rank(values: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """``normalised_rank`` with ties in a random order drawn from ``seed`` instead of by index."""
    members = np.random.default_rng(seed).permutation(np.flatnonzero(np.asarray(mask, dtype=bool)))
    return _rank_over(np.asarray(values, dtype=np.float64), members)


def _rank_over(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Rank / n of ``members`` by value, equal values keeping their order in ``members``; NaN elsewhere."""
    order = members[np.argsort(values[members], kind="stable")]
    ranks = np.full(values.shape, np.nan)
    ranks[order] = np.arange(len(order), dtype=np.float64) / max(len(order), 1)
    return ranks


def average_ranks(ranks: Sequence[np.ndarray]) -> np.ndarray:
    """The element-wise mean of several runs' rank arrays (NaN where a run has NaN)."""
    if not ranks:
        raise ValueError("no ranks to average")
    return np.mean(np.stack([np.asarray(r, dtype=np.float64) for r in ranks]), axis=0)
