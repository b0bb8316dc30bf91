"""Interpolation over measured points: piecewise-linear in one axis, nested over several.

Profiles are measured on grids that need not be complete (a GPU cannot hold a batch of 256
sequences of 8k tokens each), so the several-axis form treats the points as ragged rows: along the
first axis it brackets the query between two measured values and interpolates the rows there, each
row being interpolated the same way along the remaining axes. Every measured point is reproduced
exactly. Below the smallest measured value of an axis the value is held (GPU time does not fall
below fixed costs); above the largest it is either extrapolated from the last two values (never
downwards) or held.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence


class NestedGrid:
    """A function of one or more coordinates, given by its values at measured points.

    Contract: `value(point)` equals the measured value at every measured point; it is continuous,
    and monotone between neighbouring measured values of each axis.
    """

    def __init__(
        self,
        points: Mapping[tuple[float, ...], float],
        *,
        extrapolate_above: bool,
        what: str = "point",
    ) -> None:
        if not points:
            raise ValueError(f"cannot interpolate without any measured {what}")
        dimensions = {len(key) for key in points}
        if len(dimensions) != 1 or 0 in dimensions:
            raise ValueError(f"every measured {what} needs the same number (≥ 1) of coordinates")
        self._extrapolate_above = extrapolate_above
        self._dimensions = dimensions.pop()
        rows: dict[float, dict[tuple[float, ...], float]] = {}
        for key, measured in points.items():
            rows.setdefault(key[0], {})[key[1:]] = measured
        self._axis = sorted(rows)
        if self._dimensions == 1:
            self._values: list[float] = [rows[x][()] for x in self._axis]
            self._rows: list[NestedGrid] = []
        else:
            self._values = []
            self._rows = [
                NestedGrid(rows[x], extrapolate_above=extrapolate_above, what=what)
                for x in self._axis
            ]

    def with_inner_fixed(self, inner: Sequence[float]) -> NestedGrid:
        """The one-coordinate function x ↦ value((x, *inner)): the same values, evaluated faster
        when the inner coordinates repeat (callers cache it per inner point)."""
        if self._dimensions == 1:
            return self
        along: dict[tuple[float, ...], float] = {
            (x,): row.value(inner) for x, row in zip(self._axis, self._rows, strict=True)
        }
        return NestedGrid(along, extrapolate_above=self._extrapolate_above)

    def value(self, point: Sequence[float]) -> float:
        """The interpolated value at `point` (one coordinate per dimension, outermost first)."""
        return self._value_from(point, 0)

    def value_at(self, x: float) -> float:
        """`value((x,))` of a one-coordinate grid, without packing the point."""
        if self._dimensions != 1:
            raise ValueError(
                f"value_at needs a one-coordinate grid, this one has {self._dimensions}"
            )
        return _interpolate_line(self._axis, self._values, x, self._extrapolate_above)

    def line_function(
        self,
        *,
        scale: float = 1.0,
        offset: float = 0.0,
        multiplier: float = 1.0,
        divisor: float = 1.0,
    ) -> Callable[[float], float]:
        """x ↦ `(value_at(x) * scale + offset) * multiplier / divisor` of a one-coordinate
        grid, with the grid's fields bound once, for callers that evaluate it at every simulated
        step (a step time from a GPU time)."""
        if self._dimensions != 1:
            raise ValueError(
                f"line_function needs a one-coordinate grid, this one has {self._dimensions}"
            )
        axis = self._axis
        values = self._values
        extrapolate_above = self._extrapolate_above

        def scaled_value(x: float) -> float:
            value = _interpolate_line(axis, values, x, extrapolate_above)
            return (value * scale + offset) * multiplier / divisor

        return scaled_value

    def _value_from(self, point: Sequence[float], depth: int) -> float:
        if self._dimensions == 1:
            return _interpolate_line(
                self._axis, self._values, point[depth], self._extrapolate_above
            )
        lower, upper, fraction = _bracket(self._axis, point[depth], self._extrapolate_above)
        low_value = self._rows[lower]._value_from(point, depth + 1)
        if upper == lower:
            return low_value
        high_value = self._rows[upper]._value_from(point, depth + 1)
        return _blend(low_value, high_value, fraction)


def _bracket(axis: list[float], x: float, extrapolate_above: bool) -> tuple[int, int, float]:
    """Indices of the measured values around `x` and how far `x` is from the lower one
    (a fraction above 1 extrapolates; lower == upper holds a value)."""
    last = len(axis) - 1
    if last == 0 or x <= axis[0]:
        return 0, 0, 0.0
    if x >= axis[last]:
        if not extrapolate_above:
            return last, last, 0.0
        upper = last
    else:
        upper = bisect.bisect_right(axis, x)
    lower = upper - 1
    return lower, upper, (x - axis[lower]) / (axis[upper] - axis[lower])


def _blend(low_value: float, high_value: float, fraction: float) -> float:
    interpolated = low_value + fraction * (high_value - low_value)
    if fraction > 1.0:
        # a last segment that falls (measurement noise) must not extrapolate towards zero
        return max(interpolated, high_value)
    return interpolated


def _interpolate_line(
    axis: list[float], values: list[float], x: float, extrapolate_above: bool
) -> float:
    lower, upper, fraction = _bracket(axis, x, extrapolate_above)
    if upper == lower:
        return values[lower]
    return _blend(values[lower], values[upper], fraction)


def grid_from_records(
    coordinates: Sequence[tuple[float, ...]],
    values: Sequence[float],
    *,
    extrapolate_above: bool,
    what: str,
) -> NestedGrid:
    """A NestedGrid from parallel lists; raises ValueError naming the first duplicated point."""
    points: dict[tuple[float, ...], float] = {}
    for key, measured in zip(coordinates, values, strict=True):
        if key in points:
            raise ValueError(
                f"the profile measures {what} {key} twice; keep one measurement per point"
            )
        points[key] = measured
    return NestedGrid(points, extrapolate_above=extrapolate_above, what=what)
