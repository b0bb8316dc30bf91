"""The latest per-class SLO figures, and the part of a ModelService's status they make.

One background collector publishes a report per collection onto the `FigureBoard`; the status
refresh of each ModelService reads the board and writes `status.slo` and `status.attainment` once
per new report, through `sloserve.report.status`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sloserve.api.spec import ModelServiceSpec
from sloserve.report import model
from sloserve.report import status as slo_writer

__all__ = ["FigureBoard", "Figures", "slo_changes"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figures:
    """One collection's report.

    Attributes:
        report: the computed report of the window.
        sequence: counts collections from 1, so a reader knows whether it saw this one.
    """

    report: model.Report
    sequence: int


class FigureBoard:
    """Holds the latest `Figures`; the collector writes, status refreshes read (one event loop,
    so no lock is needed). A failed collection publishes nothing: the last figures stay.

    Attributes:
        cluster: the `cluster` label whose series describe this cluster; None takes any.
    """

    def __init__(self, *, cluster: str | None = None) -> None:
        self.cluster = cluster
        self.latest: Figures | None = None

    def publish(self, report: model.Report) -> Figures:
        """Makes `report` the latest figures."""
        sequence = self.latest.sequence + 1 if self.latest is not None else 1
        self.latest = Figures(report=report, sequence=sequence)
        return self.latest


def slo_changes(
    figures: Figures, *, cluster: str | None, namespace: str, name: str, spec: ModelServiceSpec
) -> dict[str, Any]:
    """The status merge patch (`slo` and `attainment`) for ModelService `namespace`/`name` from
    `figures`, in the order of the spec's classes; `{}` when no gateway exported figures for it
    in the window, so its status keeps what it had."""
    service = slo_writer.find_modelservice(
        figures.report, namespace=namespace, name=name, model_id=spec.model, cluster=cluster
    )
    if service is None:
        return {}
    window = figures.report.window
    slo = slo_writer.slo_status(
        service,
        class_names=[slo_class.name for slo_class in spec.slo_classes],
        window_seconds=window.seconds,
        updated_at=window.end,
    )
    return slo_writer.status_patch(slo)
