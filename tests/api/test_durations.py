"""Durations: what parses, what is refused (naming the value), and that formatting round-trips."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloserve.api import durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("50ms", 0.05),
        ("3s", 3.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m0.5s", 60.5),
        ("0.25ms", 0.00025),
        ("0s1ms", 0.001),
    ],
)
def test_parses_kubernetes_style_durations_to_seconds(text: str, seconds: float) -> None:
    assert durations.parse_duration(text) == pytest.approx(seconds, rel=1e-15)


@pytest.mark.parametrize("text", ["0s", "0ms", "0.0s", "0h0m0s", ".0ms"])
def test_refuses_zero_naming_the_value(text: str) -> None:
    with pytest.raises(durations.DurationError, match=re.escape(repr(text))) as error:
        durations.parse_duration(text)
    assert "greater than zero" in str(error.value)


@pytest.mark.parametrize(
    "text",
    [
        "-500ms",
        "+3s",
        "fast",
        "",
        "30",
        "500us",
        "1ns",
        "1.s",
        "1 s",
        " 3s",
        "3S",
        "1d",
        "ms",
        "1e3s",
    ],
)
def test_refuses_unparsable_text_naming_the_value_and_the_units(text: str) -> None:
    with pytest.raises(durations.DurationError, match=re.escape(repr(text))) as error:
        durations.parse_duration(text)
    assert "ms, s, m or h" in str(error.value)


def test_refuses_text_longer_than_the_crd_allows() -> None:
    text = "1" * durations.DURATION_MAX_LENGTH + "s"
    with pytest.raises(durations.DurationError, match="longer than"):
        durations.parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (3.0, "3s"), (1.5, "1500ms"), (120.0, "2m"), (5400.0, "90m"), (7200, "2h")],
)
def test_formats_with_the_largest_unit_giving_a_whole_count(seconds: float, text: str) -> None:
    assert durations.format_duration(seconds) == text


def test_formats_sub_millisecond_values_as_decimal_seconds() -> None:
    assert durations.format_duration(0.00025) == "0.00025s"


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("inf"), float("nan")])
def test_refuses_to_format_values_that_are_not_positive_and_finite(seconds: float) -> None:
    with pytest.raises(durations.DurationError, match="must be positive"):
        durations.format_duration(seconds)


def test_refuses_to_format_values_too_large_to_write() -> None:
    with pytest.raises(durations.DurationError, match="at most 32 characters"):
        durations.format_duration(1e300)


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_formatting_then_parsing_gives_back_the_same_float(seconds: float) -> None:
    assert durations.parse_duration(durations.format_duration(seconds)) == seconds


_TERMS = st.tuples(
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["", ".5", ".25", ".001"]),
    st.sampled_from(list(durations.DURATION_UNITS)),
)


@given(st.lists(_TERMS, min_size=1, max_size=3))
def test_every_text_the_published_pattern_accepts_parses_unless_it_is_zero(
    terms: list[tuple[int, str, str]],
) -> None:
    text = "".join(f"{whole}{fraction}{unit}" for whole, fraction, unit in terms)
    assert re.fullmatch(durations.DURATION_PATTERN, text)
    if re.search(durations.NONZERO_DIGIT_PATTERN, text):
        assert durations.parse_duration(text) > 0
    else:
        with pytest.raises(durations.DurationError):
            durations.parse_duration(text)
