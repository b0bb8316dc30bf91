"""Argument checks shared by the scheduling records, with messages that name the field."""

import math


def require_positive(field: str, value: float) -> None:
    """Raise ValueError naming `field` unless `value` is a finite number above zero."""
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a finite number above zero, got {value!r}")


def require_non_negative(field: str, value: float) -> None:
    """Raise ValueError naming `field` unless `value` is a finite number at or above zero."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field} must be a finite number at or above zero, got {value!r}")


def require_finite(field: str, value: float) -> None:
    """Raise ValueError naming `field` unless `value` is a finite number."""
    if not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number, got {value!r}")
