"""The clock the scheduling core reads: injected, so the gateway and the simulator share one core.

The gateway passes a clock over real monotonic time; the discrete-event simulator passes its virtual
clock; tests pass a `ManualClock`. Nothing in this package reads wall time itself.
"""

from typing import Protocol

from sloserve.scheduling import _validation


class Clock(Protocol):
    """A source of the current time in seconds.

    Contract: `now()` never decreases between calls, and every time handed to the core (arrival
    times included) is on the same scale.
    """

    def now(self) -> float:
        """The current time in seconds."""
        ...


class ManualClock:
    """A clock that moves only when told to: for tests and for callers that keep their own time."""

    def __init__(self, start_s: float = 0.0) -> None:
        _validation.require_finite("start_s", start_s)
        self._now_s = start_s

    def now(self) -> float:
        """The current time in seconds."""
        return self._now_s

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (at or above zero)."""
        _validation.require_non_negative("seconds", seconds)
        self._now_s += seconds

    def set(self, now_s: float) -> None:
        """Move the clock to `now_s`, which must not be earlier than the current time."""
        _validation.require_finite("now_s", now_s)
        if now_s < self._now_s:
            raise ValueError(
                f"now_s {now_s!r} is earlier than the clock's current time {self._now_s!r}; "
                "a clock never goes backwards"
            )
        self._now_s = now_s
