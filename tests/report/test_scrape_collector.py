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


def _requests_exposition(count: float) -> str:
    return (
        "# TYPE sloserve_requests_total counter\n"
        'sloserve_requests_total{model="m",modelservice="svc",namespace="ns",'
        f'slo_class="interactive"}} {count}\n'
    )


def _replicas_transport(
    clock: recorded.FakeClock, counts: dict[str, list[float]]
) -> httpx.MockTransport:
    """Each address answers its own replica's counter at the clock's step."""

    def answer(request: httpx.Request) -> httpx.Response:
        step = round((clock.now - recorded.START) / 150)
        series = counts.get(request.url.host)
        if series is None or step >= len(series):
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(200, text=_requests_exposition(series[step]))

    return httpx.MockTransport(answer)


def _collect_replicas(
    counts: dict[str, list[float]], resolve: scrape.Resolve, gateway: str
) -> samples.WindowSamples:
    clock = recorded.FakeClock(recorded.START)
    with httpx.Client(transport=_replicas_transport(clock, counts)) as client:
        return scrape.collect(
            gateways=[gateway],
            window_seconds=300,
            step_seconds=150,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
            resolve=resolve,
        )


def _requests(window: samples.WindowSamples) -> dict[str, float]:
    increases = window.increases
    return {s.label("instance"): s.value for s in increases if s.name == "sloserve_requests_total"}


def test_a_dns_name_scrapes_every_address_as_its_own_replica() -> None:
    counts = {"10.244.1.5": [0, 10, 20], "10.244.2.7": [100, 105, 110]}
    looked_up: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append((host, port))
        return sorted(counts)

    window = _collect_replicas(counts, resolve, "dns+http://gateway-pods.sloserve:8080")
    assert _requests(window) == {
        "http://10.244.1.5:8080/metrics": 20,
        "http://10.244.2.7:8080/metrics": 10,
    }
    # Looked up again at every round, so replicas that come and go are followed.
    assert looked_up == [("gateway-pods.sloserve", 8080)] * 3
    assert window.warnings == ()


def test_a_replica_gone_during_the_window_is_a_warning_and_its_scrapes_still_count() -> None:
    counts = {"10.244.1.5": [0, 10, 20], "10.244.2.7": [100, 104]}

    def resolve(host: str, port: int) -> list[str]:
        return sorted(counts)

    window = _collect_replicas(counts, resolve, "dns+http://gateway-pods:8080")
    assert _requests(window) == {
        "http://10.244.1.5:8080/metrics": 20,
        "http://10.244.2.7:8080/metrics": 4,
    }
    assert len(window.warnings) == 1
    assert "scrape 2 of 2 failed" in window.warnings[0]
    assert "10.244.2.7" in window.warnings[0]


def test_a_dns_name_that_resolves_to_nothing_at_the_start_stops_with_what_to_check() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return []

    with pytest.raises(CollectError, match="gateway-pods resolves to no address") as caught:
        _collect_replicas({}, resolve, "dns+http://gateway-pods:8080")
    assert "headless Service" in str(caught.value)


def test_a_failed_lookup_after_the_start_is_a_warning() -> None:
    counts = {"10.244.1.5": [0, 10, 20]}
    calls = 0

    def resolve(host: str, port: int) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("Temporary failure in name resolution")
        return sorted(counts)

    window = _collect_replicas(counts, resolve, "dns+http://gateway-pods:8080")
    assert _requests(window) == {"http://10.244.1.5:8080/metrics": 20}
    assert window.warnings == (
        "scrape 1 of 2: cannot resolve gateway-pods: Temporary failure in name resolution"
        " (from dns+http://gateway-pods:8080/metrics); check that the gateways run and that"
        " the name is a headless Service of theirs",
    )


def test_ipv6_addresses_are_scraped_in_brackets() -> None:
    counts = {"fd00::5": [0, 1, 3]}

    def resolve(host: str, port: int) -> list[str]:
        return ["fd00::5"]

    window = _collect_replicas(counts, resolve, "dns+http://gateway-pods:8080")
    assert _requests(window) == {"http://[fd00::5]:8080/metrics": 3}


def test_a_dns_url_without_a_port_is_refused_with_an_example() -> None:
    with pytest.raises(CollectError, match="needs a host name and a port"):
        scrape.metrics_url("dns+http://gateway-pods")
    assert scrape.metrics_url("dns+http://gw:8080") == "dns+http://gw:8080/metrics"
