"""Kubernetes-style durations for latency objectives: ``500ms``, ``3s``, ``1.5s``, ``2m``, ``1h``.

Pure functions, no I/O and no third-party imports, so that every part (scheduling, gateway, engine
simulator, report) can parse the durations it reads from a ModelService the same way the API
server checks them.

The grammar is the part of Go's ``time.ParseDuration`` that makes sense for latency objectives:
one or more ``<number><unit>`` terms (``1h30m``), the number a non-negative decimal, the unit
``ms``, ``s``, ``m`` or ``h``. Signs, spaces, ``us``/``ns`` and bare numbers are refused. A
duration must be strictly positive. The same pattern (:data:`DURATION_PATTERN`) is published in
the CRD, so a value the API server accepts is a value :func:`parse_duration` accepts.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext

__all__ = [
    "DURATION_MAX_LENGTH",
    "DURATION_PATTERN",
    "DURATION_UNITS",
    "NONZERO_DIGIT_PATTERN",
    "DurationError",
    "format_duration",
    "parse_duration",
]

#: Seconds per unit, exact, so that "1.5s" and "1500ms" parse to the same number.
DURATION_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}

_NUMBER = r"([0-9]+(\.[0-9]+)?|\.[0-9]+)"
# "ms" is listed before "m" so that the alternation never reads "5ms" as "5m" followed by junk.
_UNIT = r"(ms|s|m|h)"
_TERM = re.compile(rf"(?P<number>{_NUMBER})(?P<unit>{_UNIT})")

#: Anchored syntax of a duration, usable by Python ``re``, Go RE2 (OpenAPI ``pattern``) and CEL.
DURATION_PATTERN = rf"^({_NUMBER}{_UNIT})+$"

#: A syntactically valid duration is positive exactly when some digit is not zero.
NONZERO_DIGIT_PATTERN = "[1-9]"

#: Longest accepted text; bounds the API server's CEL cost estimate and rejects absurd inputs.
DURATION_MAX_LENGTH = 32

_DURATION = re.compile(DURATION_PATTERN)
# Enough digits that sums, products and quotients of any float or any accepted text stay exact.
_EXACT_DIGITS = 1000
_EXAMPLES = "500ms, 3s, 1.5s, 2m or 1h30m"


class DurationError(ValueError):
    """A duration that cannot be parsed, is not positive, or cannot be written back."""


def parse_duration(text: str) -> float:
    """Return the number of seconds that ``text`` denotes.

    Raises :class:`DurationError`, naming ``text``, when it is not a duration in the grammar
    above, is longer than :data:`DURATION_MAX_LENGTH`, or is zero.
    """
    if len(text) > DURATION_MAX_LENGTH:
        raise DurationError(
            f"duration {text!r} is longer than {DURATION_MAX_LENGTH} characters;"
            f" write it like {_EXAMPLES}"
        )
    if _DURATION.fullmatch(text) is None:
        raise DurationError(
            f"invalid duration {text!r}: write a number followed by a unit"
            f" (ms, s, m or h), like {_EXAMPLES}"
        )
    with localcontext(prec=_EXACT_DIGITS):
        total = sum(
            (
                Decimal(term["number"]) * DURATION_UNITS[term["unit"]]
                for term in _TERM.finditer(text)
            ),
            start=Decimal(0),
        )
    if total <= 0:
        raise DurationError(f"duration {text!r} must be greater than zero, like {_EXAMPLES}")
    return float(total)


def format_duration(seconds: float) -> str:
    """Write ``seconds`` as a single-unit duration that denotes it exactly.

    The largest of ``h``, ``m``, ``s`` and ``ms`` that divides it into a whole count is used
    (``1.5`` is written ``1500ms``, ``5400`` is ``90m``); anything finer than a millisecond is
    written as decimal seconds. Whenever it returns, ``parse_duration(format_duration(x)) == x``.
    Raises :class:`DurationError` for values that are not positive and finite, and for values
    whose exact text would exceed :data:`DURATION_MAX_LENGTH`.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise DurationError(f"cannot write {seconds!r} seconds as a duration: it must be positive")
    # repr() is the shortest text that reads back as the same float, so these digits are exact.
    exact = Decimal(repr(seconds))
    text = f"{exact:f}s"
    with localcontext(prec=_EXACT_DIGITS):
        for unit in ("h", "m", "s", "ms"):
            count = exact / DURATION_UNITS[unit]
            if count >= 1 and count == count.to_integral_value():
                text = f"{int(count)}{unit}"
                break
    if len(text) > DURATION_MAX_LENGTH:
        raise DurationError(
            f"cannot write {seconds!r} seconds as a duration of at most"
            f" {DURATION_MAX_LENGTH} characters"
        )
    return text
