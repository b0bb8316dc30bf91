"""Collecting the window's samples from a Prometheus server that scrapes the gateways and engines.

A counter's increase is the difference between its last sample in the window
(`last_over_time(name[W])` at the end) and its value at the window's start (`name` at the start;
a series without one was created during the window and counts from zero). Unlike `increase()`,
which extrapolates each series to the window's edges on its own, this is exact, and attained can
never exceed requests because one series started later than another (a gateway creates a class's
series at its first request). A series that restarted in the window (`resets(name[W]) > 0`) falls
back to `increase()`, and a warning says so. The computation sums the series (gateway replicas).
A series with a sample before the window but none inside it is reported too: the window is then
shorter than Prometheus' scrape interval (nothing in it was scraped), or its gateway stopped.

Gauges are summarised with `last_over_time`, `avg_over_time` and `max_over_time`. The timeline
reads the raw values of the request counters at each step with a range query.
"""

from __future__ import annotations

from sloserve.report import metric_names, samples
from sloserve.report.collect.prometheus_api import PrometheusAPI, range_selector


def collect(
    *, api: PrometheusAPI, end: float, window_seconds: float, step_seconds: float
) -> samples.WindowSamples:
    """The samples of the window of `window_seconds` ending at unix time `end` (rounded to the
    millisecond, the precision of Prometheus' timestamps)."""
    window = range_selector(window_seconds)
    end = round(end, 3)
    start = round(end - window_seconds, 3)
    counter_names = (
        *metric_names.COUNTERS,
        *(metric_names.bucket_series(name) for name in metric_names.HISTOGRAMS),
    )
    increases: list[samples.Series] = []
    restarted: list[str] = []
    unscraped = 0
    for name in counter_names:
        found, restarts, missing = _increases(api, name, window=window, start=start, end=end)
        increases.extend(found)
        unscraped += missing
        if restarts:
            restarted.append(f"{name} ({restarts} series)")
    gauges = tuple(
        gauge for name in metric_names.GAUGES for gauge in _gauge(api, name, window, end)
    )
    timeline = tuple(
        samples.CounterTrace(name=name, labels=labels, points=tuple(points))
        for name in metric_names.TIMELINE_COUNTERS
        for labels, points in api.range(name, start=start, end=end, step=step_seconds)
        if points
    )
    warnings: list[str] = []
    if restarted:
        warnings.append(
            "counters restarted during the window (a gateway restarted): "
            + ", ".join(restarted)
            + "; their counts are Prometheus' increase(), extrapolated to the window's edges"
        )
    if unscraped:
        warnings.append(
            f"{unscraped} counter series have a sample before the window but none in it: the"
            f" window ({window_seconds:g} s) is shorter than Prometheus' scrape interval, so"
            " nothing in it was scraped (widen --window), or their gateway stopped before it"
        )
    return samples.WindowSamples(
        source=samples.Source(kind="prometheus", urls=(api.base_url,)),
        start=start,
        end=end,
        step_seconds=step_seconds,
        increases=tuple(increases),
        gauges=gauges,
        timeline=timeline,
        warnings=tuple(warnings),
    )


def _increases(
    api: PrometheusAPI, name: str, *, window: str, start: float, end: float
) -> tuple[list[samples.Series], int, int]:
    """Each series' increase over the window, how many series restarted in it, and how many
    had a sample before it but none in it."""
    last = api.instant(f"last_over_time({name}{window})", at=end)
    first = dict(api.instant(name, at=start))
    resets = dict(api.instant(f"resets({name}{window})", at=end))
    restarted = {labels for labels, count in resets.items() if count > 0}
    extrapolated = dict(api.instant(f"increase({name}{window})", at=end)) if restarted else {}
    found = []
    for labels, value in last:
        if labels in restarted:
            increase = extrapolated.get(labels, 0.0)
        else:
            before = first.get(labels, 0.0)
            # Lower than at the start: it restarted just as the window began, from zero.
            increase = value - before if value >= before else value
        found.append(samples.Series(name=name, labels=labels, value=increase))
    in_window = {labels for labels, _ in last}
    return found, len(restarted), sum(1 for labels in first if labels not in in_window)


def _gauge(api: PrometheusAPI, name: str, window: str, end: float) -> list[samples.GaugeSeries]:
    """The gauge's summaries under every spelling it may be stored with, as `name`."""
    return [
        gauge
        for spelling in metric_names.spellings(name)
        for gauge in _gauge_spelled(api, name, spelling, window, end)
    ]


def _gauge_spelled(
    api: PrometheusAPI, name: str, spelling: str, window: str, end: float
) -> list[samples.GaugeSeries]:
    last = dict(api.instant(f"last_over_time({spelling}{window})", at=end))
    mean = dict(api.instant(f"avg_over_time({spelling}{window})", at=end))
    maximum = dict(api.instant(f"max_over_time({spelling}{window})", at=end))
    return [
        samples.GaugeSeries(
            name=name,
            labels=labels,
            last=value,
            mean=mean.get(labels, value),
            maximum=maximum.get(labels, value),
        )
        for labels, value in last.items()
    ]
