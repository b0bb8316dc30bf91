"""Increases of Prometheus counters from raw observations, with resets handled as Prometheus does:
a value lower than the one before it means the counter restarted from zero."""

from __future__ import annotations

from collections.abc import Sequence


def increase(values: Sequence[float | None]) -> float:
    """The increase of one counter over consecutive observations, oldest first.

    `None` marks an observation at which the series did not exist. The first present value is the
    baseline when the series existed at the first observation; a series that appears later (or
    reappears after vanishing) was created in between, so its whole value counts.
    """
    total = 0.0
    previous: float | None = None
    for position, value in enumerate(values):
        if value is None:
            previous = None
            continue
        if previous is None:
            if position > 0:
                total += value
        elif value >= previous:
            total += value - previous
        else:
            total += value
        previous = value
    return total


def step_increases(
    points: Sequence[tuple[float, float]], *, created_after: float
) -> list[tuple[float, float]]:
    """The increase during each step ending at each point's time, for the points of one counter
    series sampled at regular steps (oldest first). A series whose first point comes after
    `created_after` did not exist before it, so that point's whole value is its step's increase;
    an earlier first point is only the baseline."""
    steps: list[tuple[float, float]] = []
    previous: float | None = None
    for time, value in points:
        if previous is None:
            if time > created_after:
                steps.append((time, value))
        elif value >= previous:
            steps.append((time, value - previous))
        else:
            steps.append((time, value))
        previous = value
    return steps
