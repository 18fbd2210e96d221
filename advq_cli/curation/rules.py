"""Selection rules as pure functions of a quality order and the labels.

Every rule starts from ``ordered``: the candidate examples (the *pool*) from LOWEST to
HIGHEST quality, as ``quality_order`` makes it. Rules return sorted unique int64
indices, so they can be stored and compared as they are. With ``balanced`` a rule is
applied to each class on its own (classes in ascending label order), so per-class
counts follow from the class sizes exactly.

Conventions (documented in docs/curate.md):
- ties: examples of equal score are ordered by index; the lower index counts as the
  lower quality (it is removed first, and goes to the lower quantile);
- ``--remove-lowest F`` removes ``floor(F·n + 0.5)`` of n examples (round half up);
- ``--keep N --balanced`` gives every class ``N // C`` and one more to the ``N % C``
  largest classes (ties: lower label first);
- quantile k of K (1 = lowest quality) holds positions ``floor((k-1)·n/K)`` up to
  ``floor(k·n/K)`` of the order, so sizes differ by at most one.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import AdvqError


def quality_order(badness: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The pool (ascending indices) from lowest to highest quality; higher badness = lower quality."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    return pool[np.argsort(-np.asarray(badness, dtype=np.float64)[pool], kind="stable")]


def class_groups(ordered: np.ndarray, labels: np.ndarray, balanced: bool) -> list[np.ndarray]:
    """The order split per class (ascending label, order kept), or the whole order as one group."""
    if not balanced:
        return [ordered]
    members = labels[ordered]
    return [ordered[members == c] for c in np.unique(members)]


def removed_count(n: int, fraction: float) -> int:
    """How many of n examples ``--remove-lowest fraction`` removes: F·n rounded half up."""
    return math.floor(fraction * n + 0.5)


def remove_lowest(ordered: np.ndarray, labels: np.ndarray, fraction: float, balanced: bool = False) -> np.ndarray:
    """Drop the lowest-quality fraction of the pool (of each class when balanced)."""
    groups = class_groups(ordered, labels, balanced)
    return _sorted([g[removed_count(len(g), fraction):] for g in groups])


def keep_best(ordered: np.ndarray, labels: np.ndarray, n: int, balanced: bool = False) -> np.ndarray:
    """The n highest-quality examples of the pool (spread evenly over the classes when balanced)."""
    if n > len(ordered):
        raise AdvqError(f"--keep {n} is larger than the set: only {len(ordered)} ranked examples to choose from.")
    groups = class_groups(ordered, labels, balanced)
    counts = even_shares([len(g) for g in groups], n, [int(labels[g[0]]) for g in groups])
    return _sorted([g[len(g) - c:] for g, c in zip(groups, counts)])


def even_shares(sizes: list[int], n: int, class_labels: list[int]) -> list[int]:
    """n spread as evenly as possible: n // C each, the remainder to the largest classes first."""
    shares = [n // len(sizes)] * len(sizes)
    for position in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))[: n % len(sizes)]:
        shares[position] += 1
    short = [f"class {label} (needs {share}, has {size})"
             for size, share, label in zip(sizes, shares, class_labels) if share > size]
    if short:
        raise AdvqError(f"--keep {n} --balanced asks for more than some classes have ranked: {', '.join(short)}.")
    return shares


def quantiles(ordered: np.ndarray, labels: np.ndarray, k: int, balanced: bool = False) -> list[np.ndarray]:
    """K disjoint sets covering the pool, from lowest (first) to highest quality (per class when balanced)."""
    if k > len(ordered):
        raise AdvqError(f"--quantiles {k} needs at least {k} ranked examples; the set has {len(ordered)}.")
    parts: list[list[np.ndarray]] = [[] for _ in range(k)]
    for group in class_groups(ordered, labels, balanced):
        bounds = np.arange(k + 1) * len(group) // k
        for i in range(k):
            parts[i].append(group[bounds[i]: bounds[i + 1]])
    return [_sorted(p) for p in parts]


def random_like(selected: np.ndarray, pool: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random subset of the pool with the same size and the same count in every class."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    chosen_classes, counts = np.unique(labels[selected], return_counts=True)
    return _sorted([
        rng.choice(pool[labels[pool] == c], size=int(count), replace=False)
        for c, count in zip(chosen_classes, counts)
    ])


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(parts).astype(np.int64, copy=False))
