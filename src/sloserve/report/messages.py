"""What the report says when the window holds nothing to report: no gateway series at all (the
source does not see a gateway), or series but no requests (no traffic in the window)."""

from __future__ import annotations

from sloserve.api.durations import format_duration
from sloserve.report import model


def describe_window(report: model.Report) -> str:
    """Like "the 5m window ending 2025-01-01 12:00:00 UTC"."""
    # A scraped window is measured, so 300.004 s: whole seconds read better and lose nothing.
    length = format_duration(max(1, round(report.window.seconds)))
    end = report.window.end.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"the {length} window ending {end}"


def describe_source(report: model.Report) -> str:
    if report.source.kind == "prometheus":
        return f"Prometheus at {', '.join(report.source.urls)}"
    return f"the metrics scraped from {', '.join(report.source.urls)}"


def no_metrics(report: model.Report) -> str | None:
    """The message for a report without any gateway series, else None."""
    if report.has_series:
        return None
    if report.source.kind == "prometheus":
        advice = (
            "check that Prometheus scrapes the sloserve gateway (its Status > Targets page"
            " should list the gateway's /metrics as UP) and that the window covers a time the"
            " gateway ran (--window, --end)"
        )
    else:
        advice = "check that each --gateway URL is a sloserve gateway's metrics endpoint"
    return (
        f"no sloserve gateway metrics in {describe_source(report)} for"
        f" {describe_window(report)}: {advice}."
    )


def no_traffic(report: model.Report) -> str | None:
    """The message for a report whose classes all had no requests, else None."""
    if not report.has_series or report.total_requests > 0:
        return None
    classes = sum(
        len(service.classes)
        for cluster in report.clusters
        for namespace in cluster.namespaces
        for service in namespace.modelservices
    )
    services = sum(
        len(namespace.modelservices)
        for cluster in report.clusters
        for namespace in cluster.namespaces
    )
    return (
        f"no requests in {describe_window(report)} ({classes} class(es) of {services}"
        " ModelService(s) known, every one without traffic): send requests through the gateway,"
        " or choose a longer or earlier window with --window (and --end with --prometheus)."
    )
