"""The one background task that collects the gateways' metrics and publishes per-class SLO figures.

Started beside kopf while this replica holds the Lease, only when a source is set. A collection
that fails (an unreachable Prometheus or gateway) logs one warning per outage, keeps the last
figures, and is tried again at the next tick; the operator goes on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from sloserve.controllers.slo_figures import FigureBoard
from sloserve.operator.settings import SLOSettings
from sloserve.report import compute, model
from sloserve.report.collect import prometheus, scrape
from sloserve.report.collect.prometheus_api import PrometheusAPI

__all__ = [
    "Collect",
    "CollectionStoppedError",
    "collection",
    "run_collector",
    "source_name",
]

logger = logging.getLogger("sloserve.operator.slo")

#: Collects one window and computes its report; blocking.
Collect = Callable[[], model.Report]

#: The cluster name of series without a `cluster` label.
_DEFAULT_CLUSTER = "default"


class CollectionStoppedError(Exception):
    """The operator is stopping while a direct scrape waits for its next round."""


def source_name(settings: SLOSettings) -> str:
    """The source, as a log line names it."""
    if settings.prometheus_url is not None:
        return f"Prometheus at {settings.prometheus_url}"
    return "gateways " + ", ".join(settings.gateway_urls)


def collection(settings: SLOSettings, *, stopping: threading.Event) -> Collect:
    """A blocking function that collects one window from the configured source (Prometheus when
    set, else the gateways) and computes its report. A direct scrape takes the whole window and
    raises CollectionStoppedError as soon as `stopping` is set."""

    def wait(seconds: float) -> None:
        if stopping.wait(seconds):
            raise CollectionStoppedError

    def collect() -> model.Report:
        with httpx.Client(timeout=settings.request_timeout_s) as client:
            if settings.prometheus_url is not None:
                window = prometheus.collect(
                    api=PrometheusAPI(base_url=settings.prometheus_url, client=client),
                    end=time.time(),
                    window_seconds=settings.window_s,
                    step_seconds=settings.interval_s,
                )
            else:
                window = scrape.collect(
                    gateways=settings.gateway_urls,
                    window_seconds=settings.window_s,
                    step_seconds=settings.interval_s,
                    client=client,
                    sleep=wait,
                )
        return compute.build_report(
            window,
            default_cluster=settings.cluster or _DEFAULT_CLUSTER,
            generated_at=datetime.now(UTC),
        )

    return collect


async def run_collector(
    *,
    collect: Collect,
    board: FigureBoard,
    interval_s: float,
    source: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Runs `collect` (in a thread) every `interval_s` until cancelled, publishing each report on
    `board`. A collection that takes longer than the interval is followed at once by the next.
    Failures never end the loop: the first of an outage is logged as a warning, the recovery as
    an info line."""
    failing = False
    warned: frozenset[str] = frozenset()
    while True:
        started = clock()
        try:
            report = await asyncio.to_thread(collect)
        except CollectionStoppedError:
            return
        # Whatever a source does wrong, the operator's other work must go on.
        except Exception as error:
            if not failing:
                logger.warning(
                    "SLO figures: collecting from %s failed, keeping the last figures and "
                    "retrying every %g s: %s",
                    source,
                    interval_s,
                    error,
                )
            failing = True
        else:
            if failing:
                logger.info("SLO figures: %s answers again", source)
            failing = False
            new_warnings = frozenset(report.warnings) - warned
            for warning in sorted(new_warnings):
                logger.info("SLO figures: %s", warning)
            warned = frozenset(report.warnings)
            board.publish(report)
        await sleep(max(0.0, started + interval_s - clock()))
