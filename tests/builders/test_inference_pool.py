"""The InferencePool of a ModelService: its engine pods at their port, and sloserve's endpoint
picker; valid under the extension's v1 schema."""

from __future__ import annotations

import pathlib
from typing import Any

import jsonschema
import yaml
from builder_specs import make_spec

from sloserve.builders import inference_pool, labels

CRD = (
    pathlib.Path(__file__).resolve().parents[1]
    / "epp"
    / "crds"
    / "inference.networking.k8s.io_inferencepools.yaml"
)


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_the_pool_selects_the_engine_pods_at_their_port_and_names_the_picker() -> None:
    spec = make_spec(engine={"port": 8100})
    pool = inference_pool.build_inference_pool(
        name="llama",
        namespace="team",
        spec=spec,
        options=inference_pool.PoolOptions(
            picker_service="sloserve-epp", picker_port=9002, failure_mode="FailOpen"
        ),
    )
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["metadata"]["labels"][labels.MODEL_SERVICE] == "llama"
    assert pool["spec"]["selector"]["matchLabels"] == labels.selector_labels("llama")
    assert pool["spec"]["targetPorts"] == [{"number": spec.engine.port}]
    assert pool["spec"]["endpointPickerRef"] == {
        "group": "",
        "kind": "Service",
        "name": "sloserve-epp",
        "port": {"number": 9002},
        "failureMode": "FailOpen",
    }
    jsonschema.validate(pool, _schema())
