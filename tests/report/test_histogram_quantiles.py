"""Quantiles and shares of histogram buckets, as PromQL's histogram_quantile computes them."""

from __future__ import annotations

import math

import pytest

from sloserve.report.histogram import CumulativeBuckets

# 10 observations up to 0.1, 30 more up to 0.5, 10 more up to 1, none above.
BUCKETS = CumulativeBuckets.from_pairs([(0.1, 10), (0.5, 40), (1.0, 50), (math.inf, 50)])


def test_median_interpolates_linearly_inside_its_bucket() -> None:
    # rank 25 falls in (0.1, 0.5], 15 of its 30 observations in
    assert BUCKETS.quantile(0.5) == pytest.approx((0.1 + 0.4 * 15 / 30, False))


def test_low_quantile_interpolates_from_zero_in_the_first_bucket() -> None:
    assert BUCKETS.quantile(0.1) == pytest.approx((0.05, False))


def test_quantile_in_the_infinite_bucket_is_the_highest_bound_and_a_lower_bound() -> None:
    buckets = CumulativeBuckets.from_pairs([(0.1, 1), (1.0, 2), (math.inf, 10)])
    assert buckets.quantile(0.99) == (1.0, True)


def test_empty_histogram_has_no_quantile_and_no_share() -> None:
    empty = CumulativeBuckets.from_pairs([(0.1, 0), (math.inf, 0)])
    assert empty.quantile(0.5) is None
    assert empty.share_at_or_below(0.1) is None


def test_missing_infinite_bucket_is_added_with_the_total() -> None:
    buckets = CumulativeBuckets.from_pairs([(0.5, 3), (0.1, 1)])
    assert buckets.bounds == (0.1, 0.5, math.inf)
    assert buckets.counts == (1, 3, 3)


def test_counts_are_made_non_decreasing() -> None:
    buckets = CumulativeBuckets.from_pairs([(0.1, 5), (0.5, 4.9), (math.inf, 6)])
    assert buckets.counts == (5, 5, 6)


def test_duplicate_bounds_from_several_series_are_summed() -> None:
    buckets = CumulativeBuckets.from_pairs([(0.1, 1), (0.1, 2), (math.inf, 3), (math.inf, 4)])
    assert buckets.counts == (3, 7)


def test_share_at_or_below_interpolates_and_counts_infinite_as_above() -> None:
    assert BUCKETS.share_at_or_below(0.3) == pytest.approx((10 + 30 * 0.5) / 50)
    assert BUCKETS.share_at_or_below(0.1) == pytest.approx(10 / 50)
    overflow = CumulativeBuckets.from_pairs([(1.0, 8), (math.inf, 10)])
    assert overflow.share_at_or_below(5.0) == pytest.approx(0.8)


def test_per_bucket_counts_undo_the_accumulation() -> None:
    assert BUCKETS.per_bucket() == [(0.1, 10), (0.5, 30), (1.0, 10), (math.inf, 0)]


def test_quantile_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="within"):
        BUCKETS.quantile(1.5)
