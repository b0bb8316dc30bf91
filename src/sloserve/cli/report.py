"""`sloserve report`: the cluster's SLO report over a window, from Prometheus or the gateways.

Exit status: 0 with a report; 1 when nothing could be collected (the message says why); 3 when
the window holds gateway metrics but no requests (the report is still written); 2 for bad usage.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
from rich.console import Console

from sloserve.api.durations import DurationError, parse_duration
from sloserve.report import compute, messages, model, render
from sloserve.report.collect import prometheus, scrape
from sloserve.report.collect.prometheus_api import PrometheusAPI
from sloserve.report.errors import CollectError
from sloserve.report.render import terminal

EXIT_NOTHING_COLLECTED = 1
EXIT_NO_TRAFFIC = 3
#: Points on the attainment-over-time chart when --step is not given.
DEFAULT_TIMELINE_POINTS = 30
MIN_STEP_SECONDS = 1.0


def _duration(option: str, text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as error:
        raise click.BadParameter(str(error), param_hint=option) from error


def _end_time(text: str) -> float:
    """Unix seconds from RFC 3339 (`2025-01-01T12:00:00Z`) or a number of unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(
            f"{text!r} is neither RFC 3339 (like 2025-01-01T12:00:00Z) nor unix seconds",
            param_hint="--end",
        ) from error
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"{text!r} has no time zone; add one, like 2025-01-01T12:00:00Z", param_hint="--end"
        )
    return moment.timestamp()


@click.command()
@click.option(
    "--prometheus",
    "prometheus_url",
    metavar="URL",
    help="Base URL of a Prometheus that scrapes the gateways and engines (http://host:9090).",
)
@click.option(
    "--gateway",
    "gateway_urls",
    metavar="URL",
    multiple=True,
    help="Without a Prometheus: a gateway to scrape over the window (repeat for replicas, or "
    "dns+http://NAME:PORT for every address NAME resolves to, like a headless Service). "
    "The report takes the whole window to collect.",
)
@click.option(
    "--engine",
    "engine_urls",
    metavar="URL",
    multiple=True,
    help="With --gateway: an engine's metrics to scrape too, for utilization (repeatable).",
)
@click.option("--window", "window_text", default="5m", show_default=True, help="Window length.")
@click.option(
    "--step",
    "step_text",
    default=None,
    help=f"Spacing of the attainment-over-time points [default: window/{DEFAULT_TIMELINE_POINTS},"
    f" at least {MIN_STEP_SECONDS:g}s]; with --gateway, also the scrape interval.",
)
@click.option(
    "--end",
    "end_text",
    default=None,
    help="With --prometheus: end of the window, RFC 3339 or unix seconds [default: now].",
)
@click.option(
    "--cluster",
    "cluster_name",
    default="default",
    show_default=True,
    help="Cluster name for series without a `cluster` label.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(render.FORMATS),
    default="table",
    show_default=True,
    help="table: for a terminal; json: the documented schema; markdown; html: one offline page"
    " with charts.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each HTTP answer.",
)
def report(
    *,
    prometheus_url: str | None,
    gateway_urls: tuple[str, ...],
    engine_urls: tuple[str, ...],
    window_text: str,
    step_text: str | None,
    end_text: str | None,
    cluster_name: str,
    fmt: render.Format,
    output: Path | None,
    timeout: float,
) -> None:
    """Per-class SLO attainment, goodput, latency against targets and engine utilization.

    Exit status: 0 with a report; 1 when nothing could be collected; 3 when the window holds no
    requests (the report is still written); 2 for bad usage.
    """
    if bool(prometheus_url) == bool(gateway_urls):
        raise click.UsageError(
            "choose one source: --prometheus URL, or --gateway URL (repeatable) to scrape"
            " the gateways directly"
        )
    if engine_urls and not gateway_urls:
        raise click.UsageError(
            "--engine goes with --gateway; with --prometheus, engines are read from Prometheus"
        )
    if end_text is not None and not prometheus_url:
        raise click.UsageError(
            "--end needs --prometheus: scraping can only cover a window from now"
        )
    window_seconds = _duration("--window", window_text)
    step_seconds = (
        _duration("--step", step_text)
        if step_text is not None
        else max(MIN_STEP_SECONDS, window_seconds / DEFAULT_TIMELINE_POINTS)
    )
    if step_seconds > window_seconds:
        raise click.BadParameter(
            f"the step ({step_text}) is longer than the window ({window_text})",
            param_hint="--step",
        )
    end = _end_time(end_text) if end_text is not None else time.time()
    try:
        with httpx.Client(timeout=timeout) as client:
            if prometheus_url:
                window = prometheus.collect(
                    api=PrometheusAPI(base_url=prometheus_url, client=client),
                    end=end,
                    window_seconds=window_seconds,
                    step_seconds=step_seconds,
                )
            else:
                click.echo(
                    f"scraping {len(gateway_urls) + len(engine_urls)} target(s) every"
                    f" {step_seconds:g} s for {window_text}; the report follows the window",
                    err=True,
                )
                window = scrape.collect(
                    gateways=gateway_urls,
                    engines=engine_urls,
                    window_seconds=window_seconds,
                    step_seconds=step_seconds,
                    client=client,
                )
    except CollectError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:
        click.echo("interrupted before the window ended; no report", err=True)
        sys.exit(130)
    result = compute.build_report(
        window, default_cluster=cluster_name, generated_at=datetime.now(tz=UTC)
    )
    _write(result, fmt=fmt, output=output)
    problem = messages.no_metrics(result)
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_NOTHING_COLLECTED)
    problem = messages.no_traffic(result)
    if problem is not None:
        # A table on the terminal shows the note already; elsewhere it goes to standard error.
        if output is not None or fmt != "table":
            click.echo(f"note: {problem}", err=True)
        sys.exit(EXIT_NO_TRAFFIC)


def _write(result: model.Report, *, fmt: render.Format, output: Path | None) -> None:
    if output is None and fmt == "table":
        console = Console()
        console.print(terminal.renderable(result, console))
        return
    rendered = render.render(result, fmt)
    if output is None:
        click.echo(rendered, nl=False)
        return
    try:
        output.write_text(rendered, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write the report to {output}: {error}") from error
    click.echo(f"wrote the {fmt} report to {output}", err=True)
