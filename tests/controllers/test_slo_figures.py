"""Collected SLO figures become a ModelService's `status.slo` and `status.attainment`."""

from __future__ import annotations

from typing import Any

import pytest

from report import recorded
from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus
from sloserve.controllers.slo_figures import FigureBoard, slo_changes


def _spec(*class_names: str, model: str = recorded.LLAMA_MODEL) -> ModelServiceSpec:
    return ModelServiceSpec.model_validate(
        {
            "model": model,
            "engine": {"kind": "sim"},
            "sloClasses": [{"name": name, "ttft": "3s", "tpot": "100ms"} for name in class_names],
            "defaultClass": class_names[0],
        }
    )


def _changes(board: FigureBoard, spec: ModelServiceSpec, name: str = "llama-8b") -> dict[str, Any]:
    assert board.latest is not None
    return slo_changes(board.latest, cluster=None, namespace="team-a", name=name, spec=spec)


def test_recorded_figures_fill_slo_and_the_attainment_column() -> None:
    board = FigureBoard()
    board.publish(recorded.recorded_report())
    changes = _changes(board, _spec("interactive", "standard"))
    status = ModelServiceStatus.model_validate(changes)
    assert status.slo is not None
    assert status.slo.window == "5m"
    assert [slo_class.name for slo_class in status.slo.classes] == ["interactive", "standard"]
    interactive = status.slo.classes[0]
    assert (interactive.requests, interactive.attained) == (200, 130)
    assert interactive.attainment == pytest.approx(130 / 195)
    assert changes["attainment"].startswith("interactive 66.6%")


def test_a_modelservice_without_gateway_figures_keeps_its_status() -> None:
    board = FigureBoard()
    board.publish(recorded.recorded_report())
    assert _changes(board, _spec("standard"), name="not-served") == {}
    assert _changes(board, _spec("standard", model="another/model")) == {}


def test_every_publication_gets_a_new_sequence() -> None:
    board = FigureBoard(cluster="east")
    first = board.publish(recorded.recorded_report())
    second = board.publish(recorded.recorded_report())
    assert (first.sequence, second.sequence) == (1, 2)
    assert board.latest is second
