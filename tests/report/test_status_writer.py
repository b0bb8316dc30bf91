"""The status writer turns a ModelService's figures into its `status.slo`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from report import recorded
from sloserve.api import status
from sloserve.report import model
from sloserve.report import status as status_writer

UPDATED = datetime(2025, 1, 1, 12, tzinfo=UTC)


def _llama(report: model.Report) -> model.ModelServiceReport:
    found = status_writer.find_modelservice(
        report, namespace="team-a", name="llama-8b", model_id=recorded.LLAMA_MODEL
    )
    assert found is not None
    return found


def test_classes_follow_the_spec_order_with_the_computed_figures(
    recorded_report: model.Report,
) -> None:
    slo = status_writer.slo_status(
        _llama(recorded_report),
        class_names=["standard", "interactive"],
        window_seconds=300,
        updated_at=UPDATED,
    )
    assert slo.window == "5m"
    assert slo.updated_at == UPDATED
    standard, interactive = slo.classes
    assert standard.name == "standard"
    assert interactive.model_dump(by_alias=False) == {
        "name": "interactive",
        "requests": 200,
        "admitted": 170,
        "rejected": 30,
        "attained": 130,
        "attainment": pytest.approx(130 / 195),
        "goodput_rps": pytest.approx(130 / 300),
        "ttft_p99_ms": pytest.approx(3000),
        "tpot_p99_ms": pytest.approx(130),
    }


def test_a_spec_class_without_figures_shows_no_requests(recorded_report: model.Report) -> None:
    slo = status_writer.slo_status(
        _llama(recorded_report),
        class_names=["interactive", "premium"],
        window_seconds=300,
        updated_at=UPDATED,
    )
    assert slo.classes[1] == status.ClassSLOStatus(name="premium")
    assert slo.classes[1].attainment is None


def test_no_figures_at_all_gives_every_class_without_requests() -> None:
    slo = status_writer.slo_status(
        None, class_names=["a", "b"], window_seconds=60, updated_at=UPDATED
    )
    assert [(c.name, c.requests, c.attainment) for c in slo.classes] == [
        ("a", 0, None),
        ("b", 0, None),
    ]
    assert slo.window == "1m"


def test_extrapolated_counts_are_rounded_to_whole_requests() -> None:
    figures = model.Counts(
        requests=99.6,
        admitted=90.2,
        rejected={"queue_full": 9.4},
        rejected_total=9.4,
        finished={},
        client_errors=0,
        attained=80.5,
        output_tokens=0,
        attainment=80.5 / 99.6,
        goodput_rps=0.27,
    )
    empty = model.Latency(
        objective="ttft",
        target_seconds=None,
        observations=0,
        quantiles=[],
        within_target=None,
        buckets=[],
    )
    entry = status_writer.class_status(
        "fast",
        model.ClassReport(
            name="fast",
            counts=figures,
            ttft=empty,
            tpot=empty.model_copy(update={"objective": "tpot"}),
            timeline=[],
        ),
    )
    assert (entry.requests, entry.admitted, entry.rejected, entry.attained) == (100, 90, 9, 80)
    assert entry.ttft_p99_ms is None


def test_patch_writes_camel_case_fields_and_the_attainment_line(
    recorded_report: model.Report,
) -> None:
    slo = status_writer.slo_status(
        _llama(recorded_report),
        class_names=["interactive", "standard", "batch"],
        window_seconds=300,
        updated_at=UPDATED,
    )
    patch = status_writer.status_patch(slo)
    assert patch["attainment"] == "interactive 66.6% standard 93.3% batch -"
    first = patch["slo"]["classes"][0]
    assert first["goodputRps"] == pytest.approx(130 / 300)
    assert first["ttftP99Ms"] == pytest.approx(3000)
    assert "attainment" not in patch["slo"]["classes"][2]
    assert patch["slo"]["updatedAt"] == "2025-01-01T12:00:00Z"


def test_find_modelservice_needs_the_model_to_match(recorded_report: model.Report) -> None:
    assert (
        status_writer.find_modelservice(
            recorded_report, namespace="team-a", name="llama-8b", model_id="other"
        )
        is None
    )
