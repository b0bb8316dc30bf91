"""The SLO collector publishes each collection, and survives an unreachable source quietly."""

from __future__ import annotations

import logging
import threading

import pytest

from report import recorded
from sloserve.controllers.slo_figures import FigureBoard
from sloserve.operator import slo_collector
from sloserve.operator.settings import OperatorSettings, SLOSettings
from sloserve.report import model
from sloserve.report.errors import CollectError


class _DoneError(Exception):
    pass


class _Ticks:
    """Fake time: each sleep advances the clock; the loop ends after `rounds` sleeps."""

    def __init__(self, rounds: int) -> None:
        self.now = 0.0
        self.rounds = rounds
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if len(self.slept) >= self.rounds:
            raise _DoneError


def _scripted(outcomes: list[bool]) -> slo_collector.Collect:
    report = recorded.recorded_report()
    remaining = list(outcomes)

    def collect() -> model.Report:
        if remaining.pop(0):
            return report
        raise CollectError("cannot reach Prometheus at http://prometheus:9090")

    return collect


async def _run(outcomes: list[bool], board: FigureBoard, ticks: _Ticks) -> None:
    with pytest.raises(_DoneError):
        await slo_collector.run_collector(
            collect=_scripted(outcomes),
            board=board,
            interval_s=30,
            source="Prometheus at http://prometheus:9090",
            clock=ticks.clock,
            sleep=ticks.sleep,
        )


async def test_an_outage_logs_one_warning_and_keeps_the_last_figures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    board = FigureBoard()
    ticks = _Ticks(rounds=6)
    with caplog.at_level(logging.INFO, logger="sloserve.operator.slo"):
        await _run([True, False, False, False, True, False], board, ticks)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Two outages (rounds 2-4 and 6), one warning each.
    assert len(warnings) == 2
    assert "http://prometheus:9090" in warnings[0]
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert board.latest is not None
    assert board.latest.sequence == 2
    assert ticks.slept == [30.0] * 6


async def test_without_failures_every_collection_is_published() -> None:
    board = FigureBoard()
    await _run([True, True, True], board, _Ticks(rounds=3))
    assert board.latest is not None
    assert board.latest.sequence == 3


def test_a_stopping_operator_ends_a_direct_scrape_at_once() -> None:
    settings = SLOSettings(gateway_urls=("http://127.0.0.1:9",), window="5m", interval="1m")
    stopping = threading.Event()
    stopping.set()
    collect = slo_collector.collection(settings, stopping=stopping)
    with pytest.raises(slo_collector.CollectionStoppedError):
        collect()


def test_gateway_urls_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_OPERATOR__SLO__GATEWAY_URLS", "http://a:8080, http://b:8080")
    settings = OperatorSettings().slo
    assert settings.gateway_urls == ("http://a:8080", "http://b:8080")
    assert (settings.window_s, settings.interval_s) == (300.0, 30.0)
    assert slo_collector.source_name(settings) == "gateways http://a:8080, http://b:8080"


def test_no_source_leaves_the_figures_off() -> None:
    assert not OperatorSettings().slo.enabled
