"""The ModelService models: wire names, defaults, and the rules a spec must satisfy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from sloserve.api import modelservice, spec


def _manifest() -> dict[str, Any]:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "llama-8b", "namespace": "team-a"},
        "spec": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "engine": {"kind": "vllm", "image": "vllm/vllm-openai:v0.32.0", "gpus": 1},
            "sloClasses": [
                {"name": "interactive", "ttft": "500ms", "tpot": "50ms", "priority": 2},
                {"name": "standard", "ttft": "3s", "tpot": "30ms"},
            ],
            "defaultClass": "standard",
        },
    }


def _spec(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(_manifest()["spec"])
    body.update(changes)
    return body


def test_reads_camel_case_and_exposes_snake_case() -> None:
    service = modelservice.ModelService.model_validate(_manifest())
    assert service.spec.slo_classes[0].name == "interactive"
    assert service.spec.default_class == "standard"
    assert service.metadata.namespace == "team-a"


def test_accepts_python_field_names_too() -> None:
    built = spec.ModelServiceSpec(
        model="m",
        engine=spec.Engine(kind=spec.EngineKind.SIM),
        slo_classes=(spec.SLOClass(name="standard", ttft="3s", tpot="30ms"),),
        default_class="standard",
    )
    assert built.engine.gpu_product is None


def test_writes_camel_case_on_the_wire() -> None:
    dumped = spec.ModelServiceSpec.model_validate(_spec()).model_dump(mode="json")
    assert {"sloClasses", "defaultClass", "placement"} <= dumped.keys()
    assert dumped["placement"]["maxPredictedSlowdown"] == 1.25
    assert "gpuProduct" in dumped["engine"]


def test_fills_the_documented_defaults() -> None:
    parsed = spec.ModelServiceSpec.model_validate(_spec())
    assert parsed.replicas == 1
    assert parsed.engine.port == 8000
    assert parsed.engine.profile == spec.AUTO_PROFILE == "auto"
    assert parsed.placement == spec.Placement(
        interference_aware=False, max_predicted_slowdown=1.25, scheduler_name=None
    )
    assert parsed.slo_classes[1].priority is None


def test_objectives_are_available_in_seconds() -> None:
    parsed = spec.ModelServiceSpec.model_validate(_spec())
    interactive = parsed.slo_class("interactive")
    assert (interactive.ttft_seconds, interactive.tpot_seconds) == (0.5, 0.05)
    assert parsed.default_slo_class.name == "standard"


def test_looking_up_an_unknown_class_names_it() -> None:
    parsed = spec.ModelServiceSpec.model_validate(_spec())
    with pytest.raises(KeyError, match="premium"):
        parsed.slo_class("premium")


def test_records_are_immutable() -> None:
    parsed = spec.ModelServiceSpec.model_validate(_spec())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        parsed.replicas = 3  # type: ignore[misc]


def test_the_resource_names_match_the_published_constants() -> None:
    service = modelservice.ModelService.model_validate(_manifest())
    assert service.api_version == modelservice.API_VERSION == "sloserve.io/v1alpha1"
    assert service.kind == modelservice.KIND


def test_keeps_metadata_it_does_not_model() -> None:
    manifest = _manifest()
    manifest["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    manifest["metadata"]["creationTimestamp"] = "2025-01-02T03:04:05Z"
    service = modelservice.ModelService.model_validate(manifest)
    assert service.metadata.creation_timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert service.model_dump(mode="json")["metadata"]["managedFields"] == [{"manager": "kubectl"}]


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"defaultClass": "premium"}, 'defaultClass "premium" must be the name of one of'),
        (
            {
                "sloClasses": [
                    {"name": "a", "ttft": "1s", "tpot": "10ms"},
                    {"name": "a", "ttft": "2s", "tpot": "10ms"},
                ],
                "defaultClass": "a",
            },
            "sloClasses has two entries named 'a'",
        ),
        ({"sloClasses": []}, "sloClasses"),
        ({"replicas": -1}, "replicas"),
        ({"model": ""}, "model"),
        ({"engine": {"kind": "vllm"}}, "engine.image is required when engine.kind is vllm"),
        ({"engine": {"kind": "tgi"}}, "engine.kind"),
        ({"engine": {"kind": "sim", "gpus": -1}}, "engine.gpus"),
        (
            {"engine": {"kind": "sim", "env": [{"name": "A"}, {"name": "A", "value": "2"}]}},
            "engine.env has two entries named 'A'",
        ),
        ({"maxReplicas": 3}, "maxReplicas"),
        ({"placement": {"maxPredictedSlowdown": 0.99}}, "placement.maxPredictedSlowdown"),
    ],
)
def test_refuses_bad_specs_naming_the_field(changes: dict[str, Any], mentions: str) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        spec.ModelServiceSpec.model_validate(_spec(**changes))
    assert mentions in str(error.value)


def test_default_class_is_required() -> None:
    body = _spec()
    del body["defaultClass"]
    with pytest.raises(pydantic.ValidationError, match="defaultClass"):
        spec.ModelServiceSpec.model_validate(body)


def test_a_sim_engine_needs_no_image() -> None:
    parsed = spec.ModelServiceSpec.model_validate(_spec(engine={"kind": "sim"}))
    assert parsed.engine.image is None


@pytest.mark.parametrize("bad", ["0s", "-1s", "soon", "500"])
def test_refuses_bad_class_objectives_naming_the_field_and_value(bad: str) -> None:
    classes = [{"name": "standard", "ttft": bad, "tpot": "30ms"}]
    with pytest.raises(pydantic.ValidationError) as error:
        spec.ModelServiceSpec.model_validate(_spec(sloClasses=classes))
    assert "sloClasses.0.ttft" in str(error.value)
    assert repr(bad) in str(error.value)


def test_accepts_integer_quantities_as_yaml_writes_them() -> None:
    engine = spec.Engine.model_validate(
        {"kind": "sim", "resources": {"requests": {"cpu": 2}, "limits": {"cpu": "2500m"}}}
    )
    assert engine.resources.requests == {"cpu": "2"}


@pytest.mark.parametrize(
    ("resources", "mentions"),
    [
        ({"requests": {"memory": "16Gi"}, "limits": {"memory": "8Gi"}}, "limits['memory']"),
        ({"requests": {"nvidia.com/gpu": 1}}, "set GPUs with engine.gpus"),
        ({"limits": {"nvidia.com/gpu": "1"}}, "resources.limits['nvidia.com/gpu']"),
        ({"requests": {"cpu": "lots"}}, "invalid quantity 'lots'"),
        ({"requests": {"cpu": 0.5}}, "requests.cpu"),
    ],
)
def test_refuses_bad_resources_naming_them(resources: dict[str, Any], mentions: str) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        spec.Resources.model_validate(resources)
    assert mentions in str(error.value)


def test_refuses_names_that_cannot_name_a_service() -> None:
    manifest = _manifest()
    manifest["metadata"]["name"] = "Llama.8B"
    with pytest.raises(pydantic.ValidationError, match=r"metadata\.name"):
        modelservice.ModelService.model_validate(manifest)
