"""The status writer: a ModelService's computed figures in the shape of its `status.slo`.

Pure: the operator collects a window (`sloserve.report.collect`), computes the report
(`sloserve.report.compute.build_report`), finds its ModelService with `find_modelservice` and
patches the status with `status_patch(slo_status(...))` on its timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sloserve.api import status
from sloserve.api.durations import format_duration
from sloserve.report import model


def find_modelservice(
    report: model.Report, *, namespace: str, name: str, model_id: str, cluster: str | None = None
) -> model.ModelServiceReport | None:
    """The report's entry for ModelService `namespace`/`name` serving `model_id` (in `cluster`
    when given), or None when no gateway exported figures for it in the window."""
    return next(
        (
            service
            for item in report.clusters
            if cluster is None or item.name == cluster
            for space in item.namespaces
            if space.name == namespace
            for service in space.modelservices
            if service.name == name and service.model == model_id
        ),
        None,
    )


def _whole(value: float) -> int:
    # A restarted counter is read with Prometheus' extrapolating increase(); the status holds
    # whole requests.
    return max(0, round(value))


def _p99_ms(latency: model.Latency) -> float | None:
    found = latency.quantile(0.99)
    return None if found is None else found.seconds * 1000


def class_status(name: str, figures: model.ClassReport | None) -> status.ClassSLOStatus:
    """One class's status entry; a class without figures in the window has no requests.

    `rejected` counts every rejection reason. A p99 above the highest histogram bucket is that
    bucket's bound (a lower bound of the true value); the report's JSON flags such quantiles.
    """
    if figures is None:
        return status.ClassSLOStatus(name=name)
    counts = figures.counts
    attainment = None if counts.attainment is None else min(1.0, max(0.0, counts.attainment))
    return status.ClassSLOStatus(
        name=name,
        requests=_whole(counts.requests),
        admitted=_whole(counts.admitted),
        rejected=_whole(counts.rejected_total),
        attained=_whole(counts.attained),
        attainment=attainment,
        goodput_rps=max(0.0, counts.goodput_rps),
        ttft_p99_ms=_p99_ms(figures.ttft),
        tpot_p99_ms=_p99_ms(figures.tpot),
    )


def slo_status(
    service: model.ModelServiceReport | None,
    *,
    class_names: Sequence[str],
    window_seconds: float,
    updated_at: datetime,
) -> status.SLOStatus:
    """`status.slo` for a ModelService whose spec declares `class_names` (in that order).

    Classes of the spec without figures show no requests; figures of classes that are no longer
    in the spec are left out, since the status describes the ModelService as it is declared.
    `service` None (no gateway figures in the window) gives every class without requests.
    """
    by_name = {cls.name: cls for cls in service.classes} if service is not None else {}
    return status.SLOStatus(
        window=format_duration(max(1, round(window_seconds))),
        updated_at=updated_at,
        classes=tuple(class_status(name, by_name.get(name)) for name in class_names),
    )


def status_patch(slo: status.SLOStatus) -> dict[str, Any]:
    """The body of a status patch that writes `slo` and the one-line attainment summary that
    `kubectl get modelservices` prints."""
    return {
        "slo": slo.model_dump(mode="json", by_alias=True, exclude_none=True),
        "attainment": status.summarize_attainment(slo.classes),
    }
