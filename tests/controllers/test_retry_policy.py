"""Retries of failed reconciles: exponential backoff with jitter; no retry for invalid objects."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from sloserve.controllers import retries

POLICY = retries.RetryPolicy(initial_s=1.0, max_s=30.0, jitter=0.2)


def test_backoff_doubles_up_to_the_maximum() -> None:
    delays = [retries.backoff_delay(n, policy=POLICY, rand=lambda: 0.5) for n in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_varies_the_delay_within_its_fraction() -> None:
    low = retries.backoff_delay(2, policy=POLICY, rand=lambda: 0.0)
    high = retries.backoff_delay(2, policy=POLICY, rand=lambda: 1.0)
    assert (low, high) == pytest.approx((3.2, 4.8))


def test_huge_retry_counts_do_not_overflow() -> None:
    assert retries.backoff_delay(10_000, policy=POLICY, rand=lambda: 0.5) == 30.0


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_objects_are_not_retried(status: int) -> None:
    assert retries.is_permanent(ApiException(status=status))


@pytest.mark.parametrize("status", [403, 404, 409, 429, 500, 503])
def test_errors_that_may_pass_are_retried(status: int) -> None:
    assert not retries.is_permanent(ApiException(status=status))


def test_connection_errors_are_retried() -> None:
    assert not retries.is_permanent(ConnectionResetError())
