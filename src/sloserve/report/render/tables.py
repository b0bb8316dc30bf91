"""The report's tables as plain cells, written once and drawn by each format (rich, Markdown,
HTML). A cell's tone says how to emphasise it: `bad` for a latency above its target, `good` for
one within it, `muted` for a class without requests."""

from __future__ import annotations

import dataclasses
from typing import Literal

from sloserve.report import model
from sloserve.report.render import text

Tone = Literal["plain", "good", "bad", "muted", "strong"]


@dataclasses.dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = "plain"


@dataclasses.dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    #: Whether each column holds numbers (drawn right-aligned).
    numeric: tuple[bool, ...]
    rows: tuple[tuple[Cell, ...], ...]


def _counts_cells(counts: model.Counts) -> tuple[Cell, ...]:
    tone: Tone = "muted" if counts.requests <= 0 else "plain"
    return (
        Cell(text.count(counts.requests), tone),
        Cell(text.count(counts.admitted), tone),
        Cell(text.count(counts.rejected_total), tone),
        Cell(text.count(counts.attained), tone),
        Cell(text.attainment(counts), tone),
        Cell(text.rate(counts.goodput_rps), tone),
    )


def attainment_table(cluster: model.ClusterReport) -> Table:
    """One row per class, a total row per ModelService and per namespace, one for the cluster."""
    rows: list[tuple[Cell, ...]] = []
    for namespace in cluster.namespaces:
        for service in namespace.modelservices:
            for cls in service.classes:
                rows.append(
                    (
                        Cell(text.namespace(namespace.name)),
                        Cell(text.modelservice(service)),
                        Cell(text.slo_class(cls.name)),
                        *_counts_cells(cls.counts),
                    )
                )
            if len(service.classes) > 1:
                rows.append(
                    (
                        Cell(text.namespace(namespace.name)),
                        Cell(text.modelservice(service), "strong"),
                        Cell("all classes", "strong"),
                        *_counts_cells(service.counts),
                    )
                )
        if len(namespace.modelservices) > 1:
            rows.append(
                (
                    Cell(text.namespace(namespace.name), "strong"),
                    Cell("all ModelServices", "strong"),
                    Cell(""),
                    *_counts_cells(namespace.counts),
                )
            )
    rows.append(
        (
            Cell(f"cluster {cluster.name}", "strong"),
            Cell(""),
            Cell(""),
            *_counts_cells(cluster.counts),
        )
    )
    return Table(
        title="Attainment by class",
        columns=(
            "Namespace",
            "ModelService",
            "Class",
            "Requests",
            "Admitted",
            "Rejected",
            "Attained",
            "Attainment",
            "Goodput",
        ),
        numeric=(False, False, False, True, True, True, True, True, True),
        rows=tuple(rows),
    )


def _latency_row(
    service: model.ModelServiceReport, cls: model.ClassReport, latency: model.Latency
) -> tuple[Cell, ...]:
    target = latency.target_seconds

    def judged(q: float) -> Cell:
        found = latency.quantile(q)
        if found is None:
            return Cell(text.MISSING, "muted")
        if target is None:
            return Cell(text.quantile(found))
        over = found.lower_bound or found.seconds > target
        return Cell(text.quantile(found), "bad" if over else "good")

    return (
        Cell(text.qualified(service)),
        Cell(text.slo_class(cls.name)),
        Cell(latency.objective.upper()),
        Cell(text.seconds(target)),
        judged(0.5),
        judged(0.9),
        judged(0.99),
        Cell(
            text.percent(latency.within_target) if latency.observations > 0 else text.NO_REQUESTS,
            "plain" if latency.observations > 0 else "muted",
        ),
    )


def latency_table(cluster: model.ClusterReport) -> Table:
    rows = [
        _latency_row(service, cls, latency)
        for namespace in cluster.namespaces
        for service in namespace.modelservices
        for cls in service.classes
        for latency in (cls.ttft, cls.tpot)
    ]
    return Table(
        title="Latency against the class targets",
        columns=("ModelService", "Class", "Objective", "Target", "p50", "p90", "p99", "Within"),
        numeric=(False, False, False, True, True, True, True, True),
        rows=tuple(rows),
    )


def rejections_table(cluster: model.ClusterReport) -> Table | None:
    """Rejections by reason per class; None when nothing was rejected."""
    rows = [
        (
            Cell(text.qualified(service)),
            Cell(text.slo_class(cls.name)),
            Cell(text.count(cls.counts.rejected_total)),
            Cell(text.rejected(cls.counts)),
        )
        for namespace in cluster.namespaces
        for service in namespace.modelservices
        for cls in service.classes
        if cls.counts.rejected_total > 0
    ]
    if not rows:
        return None
    return Table(
        title="Rejected requests by reason",
        columns=("ModelService", "Class", "Rejected", "Reasons"),
        numeric=(False, False, True, False),
        rows=tuple(rows),
    )


def _load(value: float | None) -> str:
    return text.MISSING if value is None else f"{value:.1f}"


def utilization_table(cluster: model.ClusterReport) -> Table:
    """Engines' and gateway queues' load, per ModelService and for the whole cluster."""
    groups = [
        (Cell(text.qualified(service)), service.utilization)
        for namespace in cluster.namespaces
        for service in namespace.modelservices
    ]
    groups.append((Cell(f"cluster {cluster.name}", "strong"), cluster.utilization))
    rows = [
        (
            name,
            Cell(str(load.engines)),
            Cell(_load(load.running_mean)),
            Cell(_load(load.waiting_mean)),
            Cell(text.percent(load.kv_cache_usage_mean)),
            Cell(text.percent(load.kv_cache_usage_max)),
            Cell(_load(load.gateway_inflight_mean)),
            Cell(f"{_load(load.queue_depth_mean)} / {_load(load.queue_depth_max)}"),
        )
        for name, load in groups
    ]
    return Table(
        title="Engines' utilization (means over the window)",
        columns=(
            "ModelService",
            "Engines",
            "Running",
            "Waiting",
            "KV cache",
            "KV cache max",
            "Gateway in flight",
            "Queue mean / max",
        ),
        numeric=(False, True, True, True, True, True, True, True),
        rows=tuple(rows),
    )


def cluster_tables(cluster: model.ClusterReport) -> list[Table]:
    """Every table of one cluster, in reading order."""
    tables = [attainment_table(cluster), latency_table(cluster)]
    rejections = rejections_table(cluster)
    if rejections is not None:
        tables.append(rejections)
    tables.append(utilization_table(cluster))
    return tables
