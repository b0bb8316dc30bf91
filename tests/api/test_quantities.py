"""Resource quantities parse exactly, and what is not a non-negative quantity is refused."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from sloserve.api import quantities


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("2", Decimal(2)),
        ("500m", Decimal("0.5")),
        ("250m", Decimal("0.25")),
        ("16Gi", Decimal(16 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1.5G", Decimal("1.5e9")),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("100n", Decimal("1e-7")),
        ("+1", Decimal(1)),
        (".5", Decimal("0.5")),
    ],
)
def test_parses_quantities_to_exact_amounts(text: str, amount: Decimal) -> None:
    assert quantities.parse_quantity(text) == amount
    assert re.fullmatch(quantities.QUANTITY_PATTERN, text)


@pytest.mark.parametrize("text", ["-1", "lots", "", "1x", "Gi", "1e1.5", "1 Gi", "1" * 40])
def test_refuses_what_is_not_a_non_negative_quantity_naming_it(text: str) -> None:
    with pytest.raises(quantities.QuantityError, match=re.escape(repr(text))):
        quantities.parse_quantity(text)


def test_refuses_exponents_out_of_range() -> None:
    with pytest.raises(quantities.QuantityError, match="out of range"):
        quantities.parse_quantity("1e999999999")


def test_compares_binary_and_decimal_suffixes_by_amount() -> None:
    assert quantities.parse_quantity("1Gi") > quantities.parse_quantity("1G")
    assert quantities.parse_quantity("1000m") == quantities.parse_quantity("1")
