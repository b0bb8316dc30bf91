"""The Grafana dashboard reads the metrics docs/metrics.md documents, and nothing else."""

from __future__ import annotations

import json
import re
from typing import Any

from chart import helm_chart

DASHBOARD = json.loads(
    (helm_chart.CHART / "files" / "dashboards" / "sloserve-slo.json").read_text()
)
_METRIC = re.compile(r"\b(sloserve_[a-z_]+|vllm:[a-z_]+)")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _documented_labels() -> dict[str, set[str]]:
    """Each metric of docs/metrics.md's tables, with the labels the table lists for it."""
    metrics = (helm_chart.REPOSITORY / "docs" / "metrics.md").read_text()
    rows = re.findall(r"^\| `(sloserve_[a-z_]+)` \| [a-z]+ \| ([^|]*) \|", metrics, re.MULTILINE)
    return {name: {label.strip() for label in labels.split(",")} for name, labels in rows}


def _documented() -> set[str]:
    return set(_documented_labels())


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def _expressions() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _family(name: str, documented: set[str]) -> str:
    """A histogram's series (`x_bucket`, `x_sum`, `x_count`) belong to family `x`."""
    for suffix in _HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in documented:
            return name.removesuffix(suffix)
    return name


def test_every_gateway_metric_the_dashboard_queries_is_documented() -> None:
    documented = _documented()
    used = {
        _family(name, documented)
        for expression in _expressions()
        for name in _METRIC.findall(expression)
        if name.startswith("sloserve_")
    }
    assert used - documented == set()
    assert {"sloserve_requests_total", "sloserve_requests_attained_total"} <= used


def test_every_panel_queries_something_and_has_a_unique_id() -> None:
    panels = _panels()
    assert len(panels) >= 12
    assert all(panel["targets"] for panel in panels)
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


def test_panels_fit_the_24_column_grid_without_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


def test_queries_of_per_model_metrics_filter_by_the_dashboard_variables() -> None:
    variables = {variable["name"] for variable in DASHBOARD["templating"]["list"]}
    assert {"datasource", "namespace", "modelservice", "slo_class"} <= variables
    labels = _documented_labels()
    per_model = {name for name, names in labels.items() if "namespace" in names}
    filtered = 0
    for expression in _expressions():
        used = {_family(name, set(labels)) for name in _METRIC.findall(expression)}
        if used & per_model or any(name.startswith("vllm:") for name in used):
            assert 'namespace=~"$namespace"' in expression, expression
            filtered += 1
    assert filtered >= 12
