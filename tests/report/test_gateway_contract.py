"""The names the report reads are the names the gateway exports (docs/metrics.md)."""

from __future__ import annotations

from sloserve.gateway.metrics import GatewayMetrics
from sloserve.report import metric_names


def _families() -> dict[str, str]:
    return {family.name: family.type for family in GatewayMetrics().registry.collect()}


def test_gateway_exports_every_counter_the_report_reads() -> None:
    families = _families()
    for name in metric_names.COUNTERS:
        assert families.get(name.removesuffix("_total")) == "counter", name


def test_gateway_exports_every_histogram_the_report_reads() -> None:
    families = _families()
    for name in metric_names.HISTOGRAMS:
        assert families.get(name) == "histogram", name


def test_gateway_exports_every_sloserve_gauge_the_report_reads() -> None:
    families = _families()
    for name in metric_names.GAUGES:
        if name.startswith("sloserve_"):
            assert families.get(name) == "gauge", name
