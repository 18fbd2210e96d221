"""Where the ranks come from: a stored measure of a profile, or an imported problem rank (.npy).

A problem rank is a float in [0, 1) per training example, 1 = least stable = lowest
quality, NaN for examples that were not ranked (outside a profiled subset). Other
measures have their own direction; ``MEASURE_DIRECTIONS`` holds the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..h5store import open_checked
from ..profiling.store import FORMAT as PROFILE_FORMAT
from ..profiling.store import PROBLEM_RANK, quality_arrays
from ..registry import normalise_name
from ..subsets import read_npy

SUBSETS_FORMAT = "advq-subsets"
READABLE_FORMATS = (PROFILE_FORMAT, SUBSETS_FORMAT)

# True: a higher value means LOWER quality. Plugin measures not listed here need
# --higher-is-worse or --higher-is-better.
MEASURE_DIRECTIONS = {
    "problem-rank": True,
    "instability": True,
    "forgetting-events": True,
    "first-learned-epoch": True,
    "variability": True,
    "true-prob": False,
    "min-perturbation": False,
    "confidence": False,
}


@dataclass(frozen=True)
class Ranking:
    """One score per training example (NaN: not ranked) and which way is worse."""

    scores: np.ndarray
    measure: str
    higher_is_worse: bool
    source: str
    problem_rank: np.ndarray | None

    @property
    def badness(self) -> np.ndarray:
        """Scores turned so that a higher value always means lower quality."""
        return self.scores if self.higher_is_worse else -self.scores

    def mean_rank(self, indices: np.ndarray) -> float:
        """The mean problem rank of a set (NaN when no problem rank is known)."""
        if self.problem_rank is None:
            return float("nan")
        values = self.problem_rank[indices]
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else float("nan")


def file_dataset(path: Path) -> str:
    """The dataset an advq profile or subsets file was made for."""
    with open_checked(path, READABLE_FORMATS) as handle:
        name = handle.attrs.get("dataset")
    if not name:
        raise AdvqError(f"{path} does not say which dataset it was made for (no 'dataset' attribute).")
    return str(name)


def read_profile_ranking(path: Path, measure: str, higher_is_worse: bool | None, bundle: DatasetBundle) -> Ranking:
    """A stored measure ``/quality/<measure>`` of a profile made for ``bundle``."""
    key, rank_key = normalise_name(measure), normalise_name(PROBLEM_RANK)
    with open_checked(path, READABLE_FORMATS, bundle.fingerprint) as handle:
        quality = quality_arrays(handle)
    stored = {normalise_name(k): k for k in quality}
    if key not in stored:
        known = ", ".join(sorted(stored.values())) or "(none)"
        raise AdvqError(f"{path} has no measure '{measure}' in /quality. Stored: {known}.")
    raw = quality[stored[key]]
    raw_rank = quality[stored[rank_key]] if rank_key in stored else None
    name = stored[key]
    direction = measure_direction(name, higher_is_worse)
    scores = check_scores(raw, bundle, f"Measure '{name}' in {path}", is_problem_rank=key == rank_key)
    problem_rank = None if raw_rank is None else check_scores(raw_rank, bundle, f"{path}:/quality/{PROBLEM_RANK}", True)
    return Ranking(scores, name, direction, f"{path.resolve()}:/quality/{name}", problem_rank)


def read_npy_ranking(path: Path, bundle: DatasetBundle) -> Ranking:
    """An external problem rank: one value in [0, 1) per training example, NaN = not ranked."""
    if not path.is_file():
        raise AdvqError(f"Rank file not found: {path}.")
    raw = read_npy(path, f"Rank file {path}")
    scores = check_scores(raw, bundle, f"Rank file {path}", is_problem_rank=True)
    return Ranking(scores, PROBLEM_RANK, True, str(path.resolve()), scores)


def measure_direction(measure: str, higher_is_worse: bool | None) -> bool:
    """Whether higher values of a measure mean lower quality: the override, else the known table."""
    if higher_is_worse is not None:
        return higher_is_worse
    key = normalise_name(measure)
    if key not in MEASURE_DIRECTIONS:
        raise AdvqError(
            f"advq does not know which way measure '{measure}' points: add --higher-is-worse or --higher-is-better."
        )
    return MEASURE_DIRECTIONS[key]


def check_scores(values: np.ndarray, bundle: DatasetBundle, what: str, is_problem_rank: bool) -> np.ndarray:
    """One real number (or NaN) per training example; a problem rank must lie in [0, 1)."""
    values = np.asarray(values)
    numeric = np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)
    if values.ndim != 1 or not numeric or values.dtype == np.bool_:
        raise AdvqError(f"{what} must be a 1-D array of numbers, got {values.dtype} of shape {values.shape}.")
    if values.size != bundle.n_train:
        raise AdvqError(
            f"{what} has {values.size} values; dataset '{bundle.name}' has {bundle.n_train} training examples."
        )
    values = values.astype(np.float64)
    ranked = values[~np.isnan(values)]
    if ranked.size == 0:
        raise AdvqError(f"{what} ranks no example: every value is NaN.")
    if is_problem_rank and (not np.all(np.isfinite(ranked)) or ranked.min() < 0 or ranked.max() >= 1):
        raise AdvqError(
            f"{what} must hold problem ranks in [0, 1) (or NaN for unranked), found {ranked.min()}..{ranked.max()}."
        )
    return values
