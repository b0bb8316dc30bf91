"""Scraping gateways directly: when it scrapes, what it makes of failures, and its messages."""

from __future__ import annotations

import httpx
import pytest

from report import recorded
from sloserve.report import samples
from sloserve.report.collect import scrape
from sloserve.report.errors import CollectError


def test_metrics_url_adds_the_metrics_path_only_when_none_is_given() -> None:
    assert scrape.metrics_url("http://gw:8080") == "http://gw:8080/metrics"
    assert scrape.metrics_url("http://gw:8080/") == "http://gw:8080/metrics"
    assert scrape.metrics_url("http://gw:8080/custom") == "http://gw:8080/custom"


def test_a_url_without_scheme_is_refused_with_an_example() -> None:
    with pytest.raises(CollectError, match="'gw:8080' is not an http"):
        scrape.metrics_url("gw:8080")


def test_scrapes_at_the_start_every_step_and_at_the_end() -> None:
    assert scrape.scrape_times(start=0, window_seconds=300, step_seconds=150) == [0, 150, 300]
    assert scrape.scrape_times(start=0, window_seconds=10, step_seconds=3) == [0, 3, 6, 9, 10]


def _collect(handler: httpx.MockTransport, clock: recorded.FakeClock) -> samples.WindowSamples:
    with httpx.Client(transport=handler) as client:
        return scrape.collect(
            gateways=[recorded.GATEWAY_URL],
            window_seconds=300,
            step_seconds=150,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
        )


def test_unreachable_gateway_at_the_first_scrape_stops_with_its_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(CollectError) as caught:
        _collect(httpx.MockTransport(refuse), recorded.FakeClock(recorded.START))
    assert "http://gateway:8080/metrics" in str(caught.value)
    assert "Connection refused" in str(caught.value)


def test_a_later_failed_scrape_becomes_a_warning_and_the_rest_is_used() -> None:
    clock = recorded.FakeClock(recorded.START)
    replay = recorded.replay_transport(clock)

    def flaky(request: httpx.Request) -> httpx.Response:
        if clock.now == recorded.START + 150:
            return httpx.Response(503, text="busy")
        return replay.handle_request(request)

    with httpx.Client(transport=httpx.MockTransport(flaky)) as client:
        window = scrape.collect(
            gateways=[recorded.GATEWAY_URL],
            window_seconds=300,
            step_seconds=150,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
        )
    assert len(window.warnings) == 1
    assert "scrape 1 of 2 failed" in window.warnings[0]
    assert "HTTP 503" in window.warnings[0]
    requests = [
        s.value
        for s in window.increases
        if s.name == "sloserve_requests_total" and s.label("slo_class") == "interactive"
    ]
    assert requests == [200]


def test_an_answer_that_is_not_the_text_format_is_named() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html><body>{hello}</body></html>")

    with pytest.raises(CollectError, match="did not answer in the Prometheus text format"):
        _collect(httpx.MockTransport(html), recorded.FakeClock(recorded.START))


def test_window_spans_the_first_to_the_last_scrape() -> None:
    window = recorded.recorded_window()
    assert (window.start, window.end) == (recorded.START, recorded.START + 300)
    assert window.source.kind == "gateways"
    assert window.source.urls[0] == "http://gateway:8080/metrics"


def test_engine_gauges_with_an_escaped_colon_are_read_under_vllm_names() -> None:
    text = 'vllm_kv_cache_usage_perc{model_name="m"} 0.5\n'
    clock = recorded.FakeClock(recorded.START)
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text=text))
    ) as client:
        window = scrape.collect(
            gateways=["http://engine:8000"],
            window_seconds=2,
            step_seconds=1,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
        )
    assert [(g.name, g.mean) for g in window.gauges] == [("vllm:kv_cache_usage_perc", 0.5)]
