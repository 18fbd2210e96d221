"""The numbers behind the figures: Spearman's rho, binned means along the problem rank, a
seeded sample of points. Kept apart from the drawing so tests can recompute them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Spearman's rho over the examples finite in both, and their number.

    NaN when fewer than three such examples or either side is constant (rho is undefined
    there and scipy would warn).
    """
    from scipy.stats import spearmanr  # scipy.stats takes a second to import: only when used

    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    if n < 3 or np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return float("nan"), n
    return float(spearmanr(x[both], y[both]).statistic), n


def normalised_ranks(values: np.ndarray) -> np.ndarray:
    """Ascending ranks scaled to [0, 1) (ties share their average rank): what Spearman's rho
    correlates, so a scatter of these shows exactly the agreement the rho measures."""
    from scipy.stats import rankdata

    return (rankdata(values, method="average") - 1) / len(values)


@dataclass(frozen=True)
class Bins:
    """Equal-width bins of the problem rank over [0, 1): per bin the examples' count and the
    mean and standard deviation (ddof 0) of a measure; NaN for an empty bin."""

    edges: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def bin_by_rank(rank: np.ndarray, values: np.ndarray, bins: int) -> Bins:
    """Bin ``values`` by ``rank`` (both finite, in [0, 1)): bin k holds edges[k] <= rank < edges[k+1]."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(rank, edges) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(which, weights=values, minlength=bins) / count
        spread = np.bincount(which, weights=(values - mean[which]) ** 2, minlength=bins) / count
    return Bins(edges, count, mean, np.sqrt(spread))


def sample(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``range(n)``, chosen by a seeded generator, in ascending order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
