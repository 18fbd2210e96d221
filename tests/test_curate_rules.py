"""The selection rules of `advq curate` as properties over random ranks and labels.

Quality is checked independently of the implementation's ordering: example a ranks
strictly lower than b when its badness is higher, or equal with a lower index (the
documented tie rule).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advq_cli.curation import rules
from advq_cli.errors import AdvqError

fast = settings(max_examples=40, deadline=None)


@st.composite
def problems(draw, min_size: int = 1):
    """badness (with ties and NaN = unranked), labels, and the pool of ranked examples."""
    n = draw(st.integers(min_size, 120))
    n_classes = draw(st.integers(1, 5))
    labels = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    levels = draw(st.integers(1, 12))  # few levels: many ties
    badness = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n)), dtype=np.float64) / levels
    unranked = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if unranked.all():
        unranked[draw(st.integers(0, n - 1))] = False
    badness[unranked] = np.nan
    pool = np.flatnonzero(~unranked)
    return badness, labels, pool


def lower_quality(badness: np.ndarray, a: int, b: int) -> bool:
    return badness[a] > badness[b] or (badness[a] == badness[b] and a < b)


def assert_ranks_no_worse(badness, labels, better, worse, per_class: bool) -> None:
    """Every example of ``better`` ranks above every example of ``worse`` (in its class when per_class)."""
    b, w = np.asarray(better)[:, None], np.asarray(worse)[None, :]
    w_lower = (badness[w] > badness[b]) | ((badness[w] == badness[b]) & (w < b))
    compared = labels[b] == labels[w] if per_class else np.ones(w_lower.shape, dtype=bool)
    assert np.all(w_lower | ~compared)


def assert_index_set(indices: np.ndarray, pool: np.ndarray) -> None:
    assert indices.dtype == np.int64
    assert np.all(np.diff(indices) > 0), "sorted and unique"
    assert np.isin(indices, pool).all(), "only ranked examples of the pool"


def counts(indices: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    values, n = np.unique(labels[indices], return_counts=True)
    return dict(zip(values.tolist(), n.tolist()))


@fast
@given(problems(), st.randoms(use_true_random=False))
def test_quality_order_is_the_pool_from_lowest_to_highest_quality_whatever_the_input_order(problem, random):
    badness, labels, pool = problem
    shuffled = pool.copy()
    random.shuffle(shuffled)
    ordered = rules.quality_order(badness, shuffled)
    assert sorted(ordered.tolist()) == pool.tolist()
    assert all(lower_quality(badness, a, b) for a, b in zip(ordered[:-1], ordered[1:]))


@fast
@given(problems(), st.floats(0.001, 0.999), st.booleans())
def test_remove_lowest_sizes_class_counts_and_that_kept_rank_above_removed(problem, fraction, balanced):
    badness, labels, pool = problem
    ordered = rules.quality_order(badness, pool)
    kept = rules.remove_lowest(ordered, labels, fraction, balanced)
    assert_index_set(kept, pool)
    removed = np.setdiff1d(pool, kept)
    if balanced:
        for c, n_c in counts(pool, labels).items():
            assert counts(kept, labels).get(c, 0) == n_c - math.floor(fraction * n_c + 0.5)
    else:
        assert kept.size == pool.size - math.floor(fraction * pool.size + 0.5)
    assert_ranks_no_worse(badness, labels, kept, removed, per_class=balanced)
    assert np.array_equal(kept, rules.remove_lowest(ordered, labels, fraction, balanced)), "deterministic"


@pytest.mark.parametrize(("n", "fraction", "removed"), [(10, 0.2, 2), (3, 0.5, 2), (5, 0.5, 3), (7, 0.2, 1), (1, 0.4, 0)])
def test_remove_lowest_rounds_half_up(n, fraction, removed):
    assert rules.removed_count(n, fraction) == removed


@fast
@given(problems(), st.data())
def test_keep_best_keeps_exactly_n_of_the_highest_quality(problem, data):
    badness, labels, pool = problem
    n = data.draw(st.integers(1, pool.size))
    kept = rules.keep_best(rules.quality_order(badness, pool), labels, n)
    assert_index_set(kept, pool)
    assert kept.size == n
    assert_ranks_no_worse(badness, labels, kept, np.setdiff1d(pool, kept), per_class=False)


@fast
@given(problems(), st.data())
def test_keep_best_balanced_spreads_n_evenly_over_the_classes(problem, data):
    badness, labels, pool = problem
    available = counts(pool, labels)
    n = data.draw(st.integers(1, pool.size))
    ordered = rules.quality_order(badness, pool)
    base, extra = divmod(n, len(available))
    # the documented shares: n // C each, one more for the n % C largest classes (lower label first)
    largest = sorted(available, key=lambda c: (-available[c], c))[:extra]
    shares = {c: base + (c in largest) for c in available}
    if any(shares[c] > available[c] for c in available):
        with pytest.raises(AdvqError, match="--keep .* --balanced asks for more than some classes have"):
            rules.keep_best(ordered, labels, n, balanced=True)
        return
    kept = rules.keep_best(ordered, labels, n, balanced=True)
    assert_index_set(kept, pool)
    assert kept.size == n
    assert {c: counts(kept, labels).get(c, 0) for c in available} == shares
    assert_ranks_no_worse(badness, labels, kept, np.setdiff1d(pool, kept), per_class=True)


@fast
@given(problems())
def test_keep_more_than_the_set_is_refused(problem):
    badness, labels, pool = problem
    with pytest.raises(AdvqError, match="larger than the set"):
        rules.keep_best(rules.quality_order(badness, pool), labels, pool.size + 1)


@fast
@given(problems(min_size=2), st.data(), st.booleans())
def test_quantiles_are_disjoint_cover_the_pool_and_rise_in_quality(problem, data, balanced):
    badness, labels, pool = problem
    k = data.draw(st.integers(2, max(2, min(6, pool.size))))
    if k > pool.size:
        return
    parts = rules.quantiles(rules.quality_order(badness, pool), labels, k, balanced)
    assert len(parts) == k
    for part in parts:
        assert_index_set(part, pool)
    joined = np.concatenate(parts)
    assert joined.size == pool.size and np.array_equal(np.sort(joined), pool), "disjoint and covering"
    groups = [np.flatnonzero(labels[pool] == c) for c in np.unique(labels[pool])] if balanced else [np.arange(pool.size)]
    for group in groups:
        members = set(pool[group].tolist())
        sizes = [len(members & set(p.tolist())) for p in parts]
        assert max(sizes) - min(sizes) <= 1, sizes
    for low, high in zip(parts[:-1], parts[1:]):
        assert_ranks_no_worse(badness, labels, high, low, per_class=balanced)


def test_quantiles_need_as_many_examples_as_sets():
    with pytest.raises(AdvqError, match="--quantiles 4 needs at least 4"):
        rules.quantiles(np.arange(3), np.zeros(3, dtype=np.int64), 4)


@fast
@given(problems(), st.floats(0.05, 0.95), st.integers(0, 2**32 - 1))
def test_random_baseline_matches_size_and_class_counts_and_is_seeded(problem, fraction, seed):
    badness, labels, pool = problem
    chosen = rules.remove_lowest(rules.quality_order(badness, pool), labels, fraction)
    baseline = rules.random_like(chosen, pool, labels, np.random.default_rng(seed))
    assert_index_set(baseline, pool)
    assert counts(baseline, labels) == counts(chosen, labels)
    again = rules.random_like(chosen, pool, labels, np.random.default_rng(seed))
    assert np.array_equal(baseline, again)


def test_random_baseline_differs_from_the_curated_set_on_real_sizes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    badness = rng.random(2000)
    pool = np.arange(2000)
    chosen = rules.remove_lowest(rules.quality_order(badness, pool), labels, 0.2)
    baseline = rules.random_like(chosen, pool, labels, np.random.default_rng(1))
    assert not np.array_equal(baseline, chosen)
    # random removal leaves the mean badness near the whole set's; quality removal lowers it
    assert badness[chosen].mean() < badness[baseline].mean() - 0.05
    assert abs(badness[baseline].mean() - badness.mean()) < 0.02
