"""Kubernetes resource quantities (``500m``, ``2``, ``16Gi``, ``1e3``) as exact decimals.

Pure, no third-party imports. Only non-negative amounts with whole decimal exponents are accepted,
since a ModelService uses quantities for resource requests and limits; within that, the grammar is
the API server's, and :data:`QUANTITY_PATTERN` is published in the CRD.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

__all__ = ["QUANTITY_MAX_LENGTH", "QUANTITY_PATTERN", "QuantityError", "parse_quantity"]

_NUMBER = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)"

#: Anchored syntax of a non-negative quantity, usable by Python ``re`` and Go RE2.
QUANTITY_PATTERN = rf"^\+?{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"

#: Longest accepted text; bounds the API server's CEL cost estimate.
QUANTITY_MAX_LENGTH = 32

_QUANTITY = re.compile(
    rf"\+?(?P<number>{_NUMBER})"
    r"(?:(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?"
)

_BINARY_POWERS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# Exact arithmetic for every quantity the pattern admits at the lengths the CRD allows.
_EXACT_DIGITS = 200


class QuantityError(ValueError):
    """A text that is not a non-negative Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """Return the amount that ``text`` denotes, in base units (cores, bytes, devices).

    Raises :class:`QuantityError`, naming ``text``, when it is not a non-negative quantity.
    """
    match = _QUANTITY.fullmatch(text) if len(text) <= QUANTITY_MAX_LENGTH else None
    if match is None:
        raise QuantityError(
            f"invalid quantity {text!r}: write a non-negative number with an optional suffix,"
            f" like 500m, 2, 16Gi or 1e3, in at most {QUANTITY_MAX_LENGTH} characters"
        )
    number = Decimal(match["number"])
    with localcontext(prec=_EXACT_DIGITS):
        if match["binary"] is not None:
            return number * Decimal(2) ** _BINARY_POWERS[match["binary"]]
        if match["decimal"] is not None:
            return number.scaleb(_DECIMAL_EXPONENTS[match["decimal"]])
        if match["exponent"] is None:
            return number
        try:
            return number.scaleb(int(match["exponent"]))
        except ArithmeticError:
            raise QuantityError(f"quantity {text!r} is out of range") from None
