"""The status records and the one-line attainment shown by `kubectl get`."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from sloserve.api import status


def _figures(name: str, attainment: float | None) -> status.ClassSLOStatus:
    return status.ClassSLOStatus(name=name, attainment=attainment)


def test_summarizes_attainment_per_class_in_order() -> None:
    classes = [_figures("interactive", 0.97), _figures("standard", 0.995), _figures("batch", 1.0)]
    assert status.summarize_attainment(classes) == "interactive 97% standard 99.5% batch 100%"


def test_rounds_down_so_that_100_percent_means_no_miss() -> None:
    assert status.summarize_attainment([_figures("standard", 0.99999)]) == "standard 99.9%"


def test_marks_classes_without_requests() -> None:
    assert status.summarize_attainment([_figures("batch", None)]) == "batch -"


def test_summary_of_no_classes_is_empty() -> None:
    assert status.summarize_attainment([]) == ""


def test_finds_a_condition_by_type() -> None:
    ready = status.Condition(
        type=status.ConditionType.READY,
        status=status.ConditionStatus.TRUE,
        reason="AllReplicasReady",
        last_transition_time=datetime(2025, 1, 1, tzinfo=UTC),
    )
    observed = status.ModelServiceStatus(conditions=(ready,))
    assert observed.condition("Ready") == ready
    assert observed.condition("Degraded") is None


def test_writes_conditions_in_the_kubernetes_shape() -> None:
    condition = status.Condition(
        type="Progressing",
        status=status.ConditionStatus.FALSE,
        reason="Stalled",
        last_transition_time=datetime(2025, 1, 1, tzinfo=UTC),
        observed_generation=3,
    )
    assert condition.model_dump(mode="json") == {
        "type": "Progressing",
        "status": "False",
        "reason": "Stalled",
        "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 3,
    }


def test_refuses_times_without_a_zone() -> None:
    with pytest.raises(pydantic.ValidationError, match="lastTransitionTime"):
        status.Condition.model_validate(
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ok",
                "lastTransitionTime": "2025-01-01T00:00:00",
            }
        )


@pytest.mark.parametrize("attainment", [-0.1, 1.1])
def test_refuses_attainment_outside_zero_to_one(attainment: float) -> None:
    with pytest.raises(pydantic.ValidationError, match="attainment"):
        status.ClassSLOStatus(name="standard", attainment=attainment)
