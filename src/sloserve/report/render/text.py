"""How figures are written in every format, so the table, Markdown and HTML agree."""

from __future__ import annotations

from sloserve.report import model

MISSING = "–"
NO_REQUESTS = "no requests"


def count(value: float) -> str:
    """A count: whole when within 0.05 of a whole number (an extrapolated count may not be)."""
    rounded = round(value)
    if abs(value - rounded) < 0.05:
        return f"{rounded:,}"
    return f"{value:,.1f}"


def seconds(value: float | None) -> str:
    if value is None:
        return MISSING
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def rate(value: float) -> str:
    return f"{value:.2f}/s"


def quantile(item: model.Quantile | None) -> str:
    if item is None:
        return MISSING
    prefix = ">" if item.lower_bound else ""
    return prefix + seconds(item.seconds)


def attainment(counts: model.Counts) -> str:
    return NO_REQUESTS if counts.requests <= 0 else percent(counts.attainment)


def modelservice(report: model.ModelServiceReport) -> str:
    """The ModelService's name, or the model for a gateway's static engine list."""
    return report.name or f"(static) {report.model}"


def qualified(report: model.ModelServiceReport) -> str:
    """namespace/ModelService, for tables that list ModelServices of several namespaces; a
    static engine list has no namespace, so just its model."""
    if not report.namespace:
        return modelservice(report)
    return f"{report.namespace}/{modelservice(report)}"


def namespace(name: str) -> str:
    return name or "(none)"


def slo_class(name: str) -> str:
    return name or "(unclassified)"


def rejected(counts: model.Counts) -> str:
    """Non-zero rejection reasons, largest first, like "ttft_unattainable 25, queue_full 5"."""
    reasons = sorted(
        ((reason, value) for reason, value in counts.rejected.items() if value > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return ", ".join(f"{reason} {count(value)}" for reason, value in reasons) or MISSING
