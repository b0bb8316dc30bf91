"""`spec.autoscaling` and `status.autoscaling`: defaults, wire names and the rules they keep."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from sloserve.api import autoscaling, spec


def _spec(**scaling: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "engine": {"kind": "sim"},
        "sloClasses": [
            {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
            {"name": "standard", "ttft": "3s", "tpot": "30ms"},
        ],
        "defaultClass": "standard",
        "autoscaling": scaling,
    }


def test_defaults_hold_every_class_at_95_percent_and_wait_five_minutes_to_scale_down() -> None:
    scaling = spec.ModelServiceSpec.model_validate(_spec(maxReplicas=4)).autoscaling
    assert scaling is not None
    assert (scaling.min_replicas, scaling.max_replicas, scaling.max_surge) == (1, 4, 2)
    assert scaling.target_for("interactive") == autoscaling.DEFAULT_TARGET_ATTAINMENT
    assert scaling.scale_down_delay_s == 300.0
    assert scaling.scale_up_stabilization_s == 0.0


def test_a_class_target_overrides_the_overall_one_for_that_class_only() -> None:
    scaling = spec.ModelServiceSpec.model_validate(
        _spec(
            maxReplicas=4,
            targetAttainment=0.9,
            classTargets=[{"name": "interactive", "targetAttainment": 0.99}],
            scaleUpStabilization="30s",
        )
    ).autoscaling
    assert scaling is not None
    assert scaling.target_for("interactive") == 0.99
    assert scaling.target_for("standard") == 0.9
    assert scaling.scale_up_stabilization_s == 30.0


def test_zero_min_replicas_is_allowed_for_scale_to_zero() -> None:
    scaling = spec.ModelServiceSpec.model_validate(_spec(minReplicas=0, maxReplicas=1)).autoscaling
    assert scaling is not None
    assert scaling.min_replicas == 0


def test_without_autoscaling_the_spec_keeps_its_fixed_replicas() -> None:
    body = _spec()
    del body["autoscaling"]
    assert spec.ModelServiceSpec.model_validate(body).autoscaling is None


@pytest.mark.parametrize(
    ("scaling", "words"),
    [
        ({"minReplicas": 3, "maxReplicas": 2}, "minReplicas must be at most maxReplicas (3 > 2)"),
        ({"maxReplicas": 2, "targetAttainment": 1.5}, "targetAttainment"),
        ({"maxReplicas": 2, "targetAttainment": 0}, "targetAttainment"),
        ({"maxReplicas": 0}, "maxReplicas"),
        ({"maxReplicas": 2, "maxSurge": 0}, "maxSurge"),
        ({"maxReplicas": 2, "scaleDownDelay": "0s"}, "scaleDownDelay"),
        (
            {
                "maxReplicas": 2,
                "classTargets": [
                    {"name": "standard", "targetAttainment": 0.9},
                    {"name": "standard", "targetAttainment": 0.8},
                ],
            },
            "classTargets has two entries named 'standard'",
        ),
        (
            {"maxReplicas": 2, "classTargets": [{"name": "gold", "targetAttainment": 0.9}]},
            "autoscaling.classTargets names 'gold'",
        ),
    ],
)
def test_bad_autoscaling_is_refused_naming_the_field(scaling: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        spec.ModelServiceSpec.model_validate(_spec(**scaling))
    assert words in str(error.value)


def test_the_status_records_a_decision_in_camel_case() -> None:
    decision = autoscaling.AutoscalingStatus(
        desired_replicas=3,
        recommended_replicas=4,
        reason="DemandAboveCapacity",
        predicted_capacity_rps=2.5,
    )
    dumped = decision.model_dump(mode="json", exclude_none=True)
    assert dumped["desiredReplicas"] == 3
    assert dumped["predictedCapacityRps"] == 2.5
    with pytest.raises(pydantic.ValidationError, match="reason"):
        autoscaling.AutoscalingStatus(
            desired_replicas=1, recommended_replicas=1, reason="no spaces"
        )
