"""Waiting for real controllers, whose timing is theirs, not the test's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """A condition did not hold in time; the message names it and what was last seen."""


def until(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.5,
    describe: Callable[[], str] | None = None,
) -> T:
    """Calls `probe` until it returns something other than None or False, and returns that.
    Raises WaitTimeoutError naming `what` (and `describe()`, the state to show) after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            seen = f"; last seen: {describe()}" if describe is not None else ""
            raise WaitTimeoutError(f"timed out after {timeout_s:.0f} s waiting to {what}{seen}")
        time.sleep(interval_s)
