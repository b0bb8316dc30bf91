"""Live: a real Prometheus (Debian's package) scrapes a real metrics endpoint; `sloserve report
--prometheus` must give the workload's known figures exactly (also for series created by the
workload itself), and agree with PromQL's own quantiles where PromQL sees every observation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from click.testing import CliRunner

from report import live_workload
from sloserve.cli import main
from sloserve.report import model
from sloserve.report.collect.prometheus_api import PrometheusAPI
from sloserve_dev import prometheus

pytestmark = pytest.mark.skipif(
    prometheus.find_binary() is None,
    reason="Debian's prometheus is not installed; install it with"
    " `sudo apt-get install -y prometheus` (`make setup` does)",
)

WINDOW_SECONDS = 60
STEP_SECONDS = 5
WAIT_SECONDS = 60.0


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not {what} within {WAIT_SECONDS:.0f} s")
        time.sleep(0.2)


def _scalar(api: PrometheusAPI, query: str) -> float | None:
    values = api.instant(query, at=time.time())
    return values[0][1] if values else None


@pytest.fixture(scope="module")
def live_report() -> Iterator[tuple[model.Report, PrometheusAPI]]:
    """Serves the metrics, lets Prometheus see the idle gateway, applies the workload, waits
    until Prometheus has scraped it, and reports the window ending now."""
    with (
        live_workload.serve() as endpoints,
        prometheus.start_prometheus(
            targets=[
                prometheus.ScrapeTarget(f"127.0.0.1:{endpoints.gateway_port}", "gateway"),
                prometheus.ScrapeTarget(f"127.0.0.1:{endpoints.engine_port}", "engine"),
            ],
            scrape_interval_s=1.0,
        ) as server,
        httpx.Client(timeout=5.0) as client,
    ):
        api = PrometheusAPI(base_url=server.url, client=client)
        _eventually(
            lambda: (
                (_scalar(api, "min(count_over_time(sloserve_requests_total[5m]))") or 0) >= 2
                and _scalar(api, 'max(up{job="engine"})') == 1
            ),
            "scrape the idle gateway twice and the engine once",
        )
        live_workload.apply_workload(endpoints.series)
        _eventually(
            lambda: _scalar(api, "sum(sloserve_requests_total)") == 60,
            "scrape the workload",
        )
        result = CliRunner().invoke(
            main,
            [
                *("report", "--prometheus", server.url, "--window", f"{WINDOW_SECONDS}s"),
                *("--step", f"{STEP_SECONDS}s", "--format", "json"),
            ],
        )
        assert result.exit_code == 0, result.output
        report = model.Report.model_validate_json(result.stdout)
        yield report, api


def _class(report: model.Report, name: str) -> model.ClassReport:
    (cluster,) = report.clusters
    (namespace,) = cluster.namespaces
    (service,) = namespace.modelservices
    return next(cls for cls in service.classes if cls.name == name)


@pytest.mark.parametrize("name", ["interactive", "standard"])
def test_counts_are_the_workload(
    live_report: tuple[model.Report, PrometheusAPI], name: str
) -> None:
    report, _ = live_report
    counts = _class(report, name).counts
    expected = live_workload.EXPECTED[name]
    assert counts.requests == pytest.approx(expected["requests"])
    assert counts.admitted == pytest.approx(expected["admitted"])
    assert counts.rejected_total == pytest.approx(expected["rejected"])
    assert counts.attained == pytest.approx(expected["attained"])
    assert counts.attainment == pytest.approx(expected["attained"] / expected["requests"])
    assert counts.goodput_rps == pytest.approx(expected["attained"] / WINDOW_SECONDS)


def test_quantiles_and_share_within_target_are_the_workload(
    live_report: tuple[model.Report, PrometheusAPI],
) -> None:
    report, _ = live_report
    ttft = _class(report, "interactive").ttft
    assert ttft.target_seconds == 0.5
    assert ttft.observations == pytest.approx(34)
    # 20 at 0.2 s, 10 at 0.4 s, 4 at 0.8 s in buckets 0.1, 0.25, 0.5, 1, ...
    assert [q.seconds for q in ttft.quantiles] == pytest.approx(
        [0.1 + 0.15 * 17 / 20, 0.5 + 0.5 * 0.6 / 4, 0.5 + 0.5 * 3.66 / 4]
    )
    assert ttft.within_target == pytest.approx(30 / 34)


def test_quantiles_agree_with_promql_histogram_quantile(
    live_report: tuple[model.Report, PrometheusAPI],
) -> None:
    report, api = live_report
    end = report.window.end.timestamp()
    # Only the standard class's series existed before the workload, so only there does PromQL's
    # increase() see every observation.
    standard = _class(report, "standard")
    for objective, latency in (("ttft", standard.ttft), ("tpot", standard.tpot)):
        assert len(latency.quantiles) == 3
        for quantile in latency.quantiles:
            query = (
                f"histogram_quantile({quantile.quantile}, sum by (le) (increase("
                f'sloserve_{objective}_seconds_bucket{{slo_class="standard"}}'
                f"[{WINDOW_SECONDS}s])))"
            )
            ((_, promql),) = api.instant(query, at=end)
            assert quantile.seconds == pytest.approx(promql), query


def test_engine_and_queue_gauges_are_summarised(
    live_report: tuple[model.Report, PrometheusAPI],
) -> None:
    report, _ = live_report
    service = report.clusters[0].namespaces[0].modelservices[0]
    assert service.utilization.engines == 1
    assert service.utilization.running_mean == pytest.approx(live_workload.ENGINE_RUNNING)
    assert service.utilization.kv_cache_usage_max == pytest.approx(live_workload.ENGINE_KV_USAGE)
    assert service.utilization.queue_depth_mean == pytest.approx(live_workload.QUEUE_DEPTH)
    assert report.warnings == []


def test_timeline_steps_add_up_to_the_window(
    live_report: tuple[model.Report, PrometheusAPI],
) -> None:
    report, _ = live_report
    timeline = _class(report, "interactive").timeline
    assert sum(point.requests for point in timeline) == pytest.approx(40)
    assert sum(point.ended for point in timeline) == pytest.approx(40)
    assert timeline[-1].time == report.window.end
    busy = [point for point in timeline if point.requests > 0]
    assert [point.attainment for point in busy] == pytest.approx([0.75])
