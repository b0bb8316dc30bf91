"""How a failed reconcile is retried: exponential backoff with jitter for errors that may pass,
no retry for requests the API server refused as invalid (the spec must change)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from kubernetes.client.exceptions import ApiException

__all__ = ["RetryPolicy", "backoff_delay", "is_permanent"]

# Bad Request and Unprocessable Entity: the object itself is wrong; sending it again cannot help.
_PERMANENT_STATUSES = frozenset({400, 422})


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff: `initial_s` doubled per retry up to `max_s`, each delay varied by up
    to ±`jitter` (a fraction) of itself so that many failed objects do not retry in lockstep."""

    initial_s: float = 1.0
    max_s: float = 120.0
    jitter: float = 0.2


def backoff_delay(
    retry: int, *, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before retry number `retry` (0 for the first retry) under `policy`."""
    base = min(policy.max_s, policy.initial_s * 2.0 ** min(retry, 62))
    return base * (1.0 + policy.jitter * (2.0 * rand() - 1.0))


def is_permanent(error: BaseException) -> bool:
    """Whether retrying the request that raised `error` is pointless: the API server refused
    the object as malformed or invalid. Everything else (throttling, conflicts, server and
    network errors, missing permissions that an administrator may grant) may pass."""
    return isinstance(error, ApiException) and error.status in _PERMANENT_STATUSES
