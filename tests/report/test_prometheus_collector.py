"""The Prometheus collector: the queries it sends, how it reads the answers, and the messages it
gives when the server is missing or is not a Prometheus."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sloserve.report import compute, samples
from sloserve.report.collect import prometheus
from sloserve.report.collect.prometheus_api import PrometheusAPI
from sloserve.report.errors import CollectError

END = 1_700_000_300.0
BASE = "http://prometheus.test:9090"
GATEWAY = {"namespace": "team-a", "modelservice": "llama", "model": "m", "slo_class": "fast"}


def _vector(*items: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "resultType": "vector",
        "result": [{"metric": labels, "value": [END, value]} for labels, value in items],
    }


GW1, GW2, GW3 = ({**GATEWAY, "instance": gw} for gw in ("gw-1", "gw-2", "gw-3"))
START = END - 300
# Answers by (query, evaluation time).
ANSWERS: dict[tuple[str, float], dict[str, Any]] = {
    # gw-1 went from 30 to 150; gw-2 appeared during the window; gw-3 restarted at its start.
    ("last_over_time(sloserve_requests_total[300000ms])", END): _vector(
        (GW1, "150"), (GW2, "80"), (GW3, "5")
    ),
    ("sloserve_requests_total", START): _vector((GW1, "30"), (GW3, "40")),
    ("resets(sloserve_requests_total[300000ms])", END): _vector((GW1, "0"), (GW2, "0"), (GW3, "0")),
    # attained restarted inside the window: Prometheus' increase() is used.
    ("last_over_time(sloserve_requests_attained_total[300000ms])", END): _vector((GW1, "10")),
    ("sloserve_requests_attained_total", START): _vector((GW1, "90")),
    ("resets(sloserve_requests_attained_total[300000ms])", END): _vector((GW1, "1")),
    ("increase(sloserve_requests_attained_total[300000ms])", END): _vector((GW1, "97.5")),
    ("last_over_time(sloserve_slo_target_seconds[300000ms])", END): _vector(
        ({**GATEWAY, "objective": "ttft"}, "0.5")
    ),
    ("last_over_time(vllm:kv_cache_usage_perc[300000ms])", END): _vector(
        ({"model_name": "m", "instance": "e-1"}, "0.5"),
        ({"model_name": "m", "instance": "e-2"}, "NaN"),
    ),
    ("avg_over_time(vllm:kv_cache_usage_perc[300000ms])", END): _vector(
        ({"model_name": "m", "instance": "e-1"}, "0.3")
    ),
    ("max_over_time(vllm:kv_cache_usage_perc[300000ms])", END): _vector(
        ({"model_name": "m", "instance": "e-1"}, "0.9")
    ),
    # The spelling prometheus_client's OpenMetrics output gives vLLM's gauge.
    ("last_over_time(vllm_num_requests_running[300000ms])", END): _vector(
        ({"model_name": "m", "instance": "e-1"}, "7")
    ),
}
RANGE_ANSWER = {
    "resultType": "matrix",
    "result": [
        {
            "metric": {"__name__": "sloserve_requests_total", **GATEWAY},
            "values": [[END - 300, "0"], [END - 150, "50"], [END, "200"]],
        }
    ],
}


class FakePrometheus:
    """Answers the queries above; every other instant query gets an empty vector."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.requests.append((request.url.path, form))
        if request.url.path == "/api/v1/query_range":
            data = RANGE_ANSWER if form["query"] == "sloserve_requests_total" else _matrix()
        else:
            data = ANSWERS.get((form["query"], float(form["time"])), _vector())
        return httpx.Response(200, json={"status": "success", "data": data})


def _matrix() -> dict[str, Any]:
    return {"resultType": "matrix", "result": []}


def _collect(handler: Any) -> samples.WindowSamples:
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return prometheus.collect(
            api=PrometheusAPI(base_url=BASE + "/", client=client),
            end=END,
            window_seconds=300,
            step_seconds=150,
        )


def _requests(window: samples.WindowSamples, name: str) -> dict[str, float]:
    return {s.label("instance"): s.value for s in window.increases if s.name == name}


def test_increase_is_the_last_value_minus_the_value_at_the_start() -> None:
    assert _requests(_collect(FakePrometheus()), "sloserve_requests_total")["gw-1"] == 120


def test_series_created_during_the_window_counts_from_zero() -> None:
    assert _requests(_collect(FakePrometheus()), "sloserve_requests_total")["gw-2"] == 80


def test_series_lower_than_at_the_start_restarted_and_counts_from_zero() -> None:
    assert _requests(_collect(FakePrometheus()), "sloserve_requests_total")["gw-3"] == 5


def test_series_that_restarted_inside_the_window_uses_increase_and_warns() -> None:
    window = _collect(FakePrometheus())
    assert _requests(window, "sloserve_requests_attained_total") == {"gw-1": 97.5}
    (warning,) = window.warnings
    assert "sloserve_requests_attained_total (1 series)" in warning
    assert "increase()" in warning


def test_instant_queries_are_evaluated_at_the_window_edges() -> None:
    fake = FakePrometheus()
    _collect(fake)
    times = {float(form["time"]) for path, form in fake.requests if path == "/api/v1/query"}
    assert times == {START, END}
    queries = {form["query"] for path, form in fake.requests if path == "/api/v1/query"}
    assert "last_over_time(sloserve_ttft_seconds_bucket[300000ms])" in queries


def test_gauges_join_last_mean_and_maximum_and_skip_non_finite_values() -> None:
    window = _collect(FakePrometheus())
    kv = [g for g in window.gauges if g.name == "vllm:kv_cache_usage_perc"]
    assert [(g.label("instance"), g.last, g.mean, g.maximum) for g in kv] == [
        ("e-1", 0.5, 0.3, 0.9)
    ]
    (target,) = [g for g in window.gauges if g.name == "sloserve_slo_target_seconds"]
    assert (target.label("objective"), target.last) == ("ttft", 0.5)


def test_gauges_stored_with_an_escaped_colon_are_read_under_vllm_names() -> None:
    window = _collect(FakePrometheus())
    (running,) = [g for g in window.gauges if g.name == "vllm:num_requests_running"]
    assert (running.label("instance"), running.last) == ("e-1", 7.0)


def test_timeline_is_a_range_query_over_the_window_without_the_metric_name() -> None:
    fake = FakePrometheus()
    window = _collect(fake)
    (trace,) = window.timeline
    assert trace.points == ((END - 300, 0.0), (END - 150, 50.0), (END, 200.0))
    assert dict(trace.labels) == GATEWAY
    ranges = [form for path, form in fake.requests if path == "/api/v1/query_range"]
    assert {(f["start"], f["end"], f["step"]) for f in ranges} == {
        (f"{END - 300:.3f}", f"{END:.3f}", "150.000")
    }
    assert (window.start, window.end, window.source.urls) == (END - 300, END, (BASE,))


def test_unreachable_prometheus_names_the_url_and_the_alternatives() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(CollectError) as caught:
        _collect(refuse)
    message = str(caught.value)
    assert BASE in message
    assert "Connection refused" in message
    assert "--prometheus" in message
    assert "--gateway" in message


def test_a_server_that_is_not_prometheus_is_named_as_such() -> None:
    def web_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>nope</html>", headers={"content-type": "text/html"})

    with pytest.raises(CollectError, match=r"did not answer like a Prometheus server \(HTTP 404"):
        _collect(web_page)


def test_a_refused_query_quotes_prometheus_error() -> None:
    def bad_data(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
        return httpx.Response(400, content=json.dumps(body))

    with pytest.raises(CollectError, match=r"refused the query .*bad_data: parse error at char 3"):
        _collect(bad_data)


def test_an_answer_of_the_wrong_shape_is_refused() -> None:
    def scalar(request: httpx.Request) -> httpx.Response:
        data = {"resultType": "scalar", "result": [END, "1"]}
        return httpx.Response(200, json={"status": "success", "data": data})

    with pytest.raises(CollectError, match="with a scalar, expected a vector"):
        _collect(scalar)


class ScrapedEvery15Seconds:
    """A Prometheus that scraped one gateway every 15 s, at the times in `scrapes`; it answers the
    collector's instant queries as Prometheus would (the value at a time is the last sample at or
    before it, within its 5-minute lookback)."""

    def __init__(self, scrapes: dict[str, list[tuple[float, float]]]) -> None:
        self.scrapes = scrapes

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        if request.url.path == "/api/v1/query_range":
            return httpx.Response(200, json={"status": "success", "data": _matrix()})
        query, at = form["query"], float(form["time"])
        items: list[tuple[dict[str, str], str]] = []
        for name, points in self.scrapes.items():
            labels = {**GATEWAY, "instance": "gw-1", "__name__": name}
            if query == name:
                before = [value for time, value in points if at - 300 < time <= at]
                items.extend([(labels, str(before[-1]))] if before else [])
            elif query == f"last_over_time({name}[10000ms])":
                inside = [value for time, value in points if at - 10 < time <= at]
                items.extend([(labels, str(inside[-1]))] if inside else [])
            elif query == f"resets({name}[10000ms])":
                items.append((labels, "0"))
        return httpx.Response(200, json={"status": "success", "data": _vector(*items)})


def _collect_10s(scrapes: dict[str, list[tuple[float, float]]]) -> samples.WindowSamples:
    with httpx.Client(transport=httpx.MockTransport(ScrapedEvery15Seconds(scrapes))) as client:
        return prometheus.collect(
            api=PrometheusAPI(base_url=BASE, client=client),
            end=END,
            window_seconds=10,
            step_seconds=10,
        )


def test_a_window_shorter_than_the_scrape_interval_without_a_scrape_says_so() -> None:
    # Scraped 12 s and 27 s before the end: nothing inside the 10 s window.
    window = _collect_10s({"sloserve_requests_total": [(END - 27, 30), (END - 12, 40)]})
    assert window.increases == ()
    (warning,) = window.warnings
    assert "1 counter series have a sample before the window but none in it" in warning
    assert "shorter than Prometheus' scrape interval" in warning
    assert "--window" in warning


def test_a_window_shorter_than_the_scrape_interval_never_attains_more_than_ended() -> None:
    # One scrape inside the window: each counter's increase runs from the scrape before it, and
    # both counters were sampled at the same scrapes, so attained stays within what ended.
    window = _collect_10s(
        {
            "sloserve_requests_total": [(END - 19, 40), (END - 4, 52)],
            "sloserve_requests_attained_total": [(END - 19, 35), (END - 4, 45)],
            "sloserve_requests_finished_total": [(END - 19, 38), (END - 4, 49)],
        }
    )
    assert _requests(window, "sloserve_requests_total") == {"gw-1": 12}
    assert _requests(window, "sloserve_requests_attained_total") == {"gw-1": 10}
    assert window.warnings == ()
    report = compute.build_report(
        window, default_cluster="main", generated_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    (cls,) = report.clusters[0].namespaces[0].modelservices[0].classes
    assert cls.counts.attainment is not None
    assert cls.counts.attainment <= 1.0
