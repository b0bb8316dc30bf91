"""Recorded scrapes (tests/report/data) replayed on fake time, with the answers they must give.

The files are three scrapes, 150 s apart, of one gateway and three engines, written in the text
format prometheus_client produces. The gateway reports ModelService team-a/llama-8b (classes
interactive, standard, batch) and team-b/qwen-7b (class standard, never used); engines 1 and 2
serve llama, engine 3 a model no gateway knows. The expected figures below were worked out by
hand from the differences between the first and the last scrape.
"""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime

import httpx

from sloserve.report import compute, model, samples
from sloserve.report.collect import scrape

DATA = pathlib.Path(__file__).parent / "data"
START = 1_700_000_000.0
STEP_SECONDS = 150.0
WINDOW_SECONDS = 300.0
GENERATED_AT = datetime(2023, 11, 14, 22, 20, tzinfo=UTC)
GATEWAY_URL = "http://gateway:8080"
ENGINE_URLS = ("http://engine-1:8000", "http://engine-2:8000", "http://engine-3:8000")
LLAMA_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


class FakeClock:
    """Wall time that only moves when someone sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def replay_transport(clock: FakeClock) -> httpx.MockTransport:
    """Answers `GET http://<name>:<port>/metrics` with the recorded scrape of `<name>` at the
    clock's current step."""

    def answer(request: httpx.Request) -> httpx.Response:
        step = round((clock.now - START) / STEP_SECONDS)
        path = DATA / f"{request.url.host}-{step}.prom"
        if request.url.path != "/metrics" or not path.exists():
            return httpx.Response(404, text="not found")
        return httpx.Response(200, text=path.read_text(), headers={"content-type": "text/plain"})

    return httpx.MockTransport(answer)


def recorded_window() -> samples.WindowSamples:
    clock = FakeClock(START)
    with httpx.Client(transport=replay_transport(clock)) as client:
        return scrape.collect(
            gateways=[GATEWAY_URL],
            engines=ENGINE_URLS,
            window_seconds=WINDOW_SECONDS,
            step_seconds=STEP_SECONDS,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
        )


def recorded_report() -> model.Report:
    return compute.build_report(
        recorded_window(), default_cluster="local", generated_at=GENERATED_AT
    )


def modelservice(report: model.Report, name: str) -> model.ModelServiceReport:
    return next(
        service
        for cluster in report.clusters
        for namespace in cluster.namespaces
        for service in namespace.modelservices
        if service.name == name
    )


def slo_class(report: model.Report, service: str, name: str) -> model.ClassReport:
    return next(cls for cls in modelservice(report, service).classes if cls.name == name)
