"""The InferencePool of a ModelService, for clusters whose gateway implements the Gateway API
inference extension: the pool selects the ModelService's engine pods at their port and names
sloserve's endpoint picker (`sloserve epp`) as the one to ask where each request goes.

The API is `inference.networking.k8s.io/v1` as the extension publishes it (releases v1.0 to
v1.6). The pool is named after the ModelService and lives in its namespace; it carries the engine
labels, among them `sloserve.io/modelservice`, by which the picker knows whose pool it is. An
`endpointPickerRef` names a Service in the pool's own namespace (the API has no namespace for it).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import labels, workloads
from sloserve.builders.defaults import Manifest

__all__ = ["INFERENCE_POOL", "PoolOptions", "build_inference_pool"]

INFERENCE_POOL = workloads.ChildKind(
    "inference.networking.k8s.io/v1", "InferencePool", "inferencepools"
)

FailureMode = Literal["FailOpen", "FailClose"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """How the operator's pools reach the endpoint picker.

    Attributes:
        picker_service: the picker's Service, in each pool's namespace.
        picker_port: that Service's gRPC port.
        failure_mode: what the gateway does when the picker does not answer: `FailClose` refuses
            the request, `FailOpen` sends it to an endpoint of the gateway's choosing.
    """

    picker_service: str
    picker_port: int = 9002
    failure_mode: FailureMode = "FailClose"


def build_inference_pool(
    *, name: str, namespace: str, spec: ModelServiceSpec, options: PoolOptions
) -> Manifest:
    """The InferencePool manifest of ModelService `name` (a complete desired state)."""
    return {
        "apiVersion": INFERENCE_POOL.api_version,
        "kind": INFERENCE_POOL.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels.engine_labels(name, engine_kind=spec.engine.kind.value),
            "annotations": {labels.MODEL_ANNOTATION: spec.model},
        },
        "spec": {
            "selector": {"matchLabels": labels.selector_labels(name)},
            "targetPorts": [{"number": spec.engine.port}],
            "endpointPickerRef": {
                "group": "",
                "kind": "Service",
                "name": options.picker_service,
                "port": {"number": options.picker_port},
                "failureMode": options.failure_mode,
            },
        },
    }
