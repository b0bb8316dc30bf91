"""Interpolation over measured points: exact at points, linear between, held or extrapolated."""

from __future__ import annotations

import pytest

from sloserve.engine import interpolation


def test_one_axis_reproduces_points_and_is_linear_between() -> None:
    grid = interpolation.NestedGrid(
        {(10.0,): 2.0, (20.0,): 4.0, (40.0,): 5.0}, extrapolate_above=True
    )
    assert grid.value((10.0,)) == 2.0
    assert grid.value((20.0,)) == 4.0
    assert grid.value((15.0,)) == pytest.approx(3.0)
    assert grid.value((30.0,)) == pytest.approx(4.5)


def test_below_the_first_point_the_value_is_held() -> None:
    grid = interpolation.NestedGrid({(10.0,): 2.0, (20.0,): 4.0}, extrapolate_above=True)
    assert grid.value((1.0,)) == 2.0


def test_above_the_last_point_it_extrapolates_or_holds() -> None:
    points = {(10.0,): 2.0, (20.0,): 4.0}
    extrapolating = interpolation.NestedGrid(points, extrapolate_above=True)
    holding = interpolation.NestedGrid(points, extrapolate_above=False)
    assert extrapolating.value((30.0,)) == pytest.approx(6.0)
    assert holding.value((30.0,)) == 4.0


def test_a_falling_last_segment_never_extrapolates_downwards() -> None:
    grid = interpolation.NestedGrid({(10.0,): 5.0, (20.0,): 4.0}, extrapolate_above=True)
    assert grid.value((100.0,)) == 4.0


def test_ragged_rows_interpolate_each_row_then_between_rows() -> None:
    # the row at outer 2 lacks inner 30, as a decode grid lacks batches that do not fit
    points = {
        (1.0, 10.0): 1.0,
        (1.0, 30.0): 3.0,
        (2.0, 10.0): 2.0,
        (2.0, 20.0): 4.0,
    }
    grid = interpolation.NestedGrid(points, extrapolate_above=True)
    for point, measured in points.items():
        assert grid.value(point) == pytest.approx(measured)
    # row 1 at inner 20 is 2.0; row 2 extrapolates to 4.0; halfway between rows: 3.0
    assert grid.value((1.5, 20.0)) == pytest.approx(3.0)


def test_fixing_the_inner_coordinate_gives_the_same_values() -> None:
    points = {(1.0, 10.0): 1.0, (1.0, 30.0): 3.0, (2.0, 10.0): 2.0, (2.0, 20.0): 4.0}
    grid = interpolation.NestedGrid(points, extrapolate_above=True)
    along_outer = grid.with_inner_fixed((25.0,))
    for outer in (0.5, 1.0, 1.25, 2.0, 3.0):
        assert along_outer.value((outer,)) == pytest.approx(grid.value((outer, 25.0)))


def test_a_point_measured_twice_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="decode") as error:
        interpolation.grid_from_records(
            [(1.0, 2.0), (1.0, 2.0)], [3.0, 4.0], extrapolate_above=True, what="decode"
        )
    assert "(1.0, 2.0)" in str(error.value)


def test_the_line_function_gives_value_at_everywhere() -> None:
    grid = interpolation.NestedGrid({(1.0,): 2.0, (4.0,): 8.0, (9.0,): 7.0}, extrapolate_above=True)
    line = grid.line_function()
    scaled = grid.line_function(scale=1.7, offset=0.3, multiplier=0.5, divisor=1000.0)
    for x in (-3.0, 1.0, 2.5, 4.0, 6.0, 9.0, 12.0, 40.0):
        assert line(x) == grid.value_at(x)
        assert scaled(x) == (grid.value_at(x) * 1.7 + 0.3) * 0.5 / 1000.0
    held = interpolation.NestedGrid({(1.0,): 2.0, (4.0,): 8.0}, extrapolate_above=False)
    assert held.line_function()(10.0) == held.value_at(10.0) == 8.0
    single = interpolation.NestedGrid({(5.0,): 3.0}, extrapolate_above=True)
    assert single.line_function()(9.0) == single.value_at(9.0) == 3.0
