"""The labels and annotations that tie engine workloads to their ModelService.

These keys are a contract with the gateway, which discovers engines through the EndpointSlices of
the engine Service (EndpointSlices carry the Service's labels, not its annotations), and with the
operator's own watches, which select what it manages by `app.kubernetes.io/managed-by`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "COMPONENT",
    "COMPONENT_ENGINE",
    "ENGINE_KIND",
    "INSTANCE",
    "MANAGED_BY",
    "MANAGER",
    "MODEL_ANNOTATION",
    "MODEL_SERVICE",
    "NAME",
    "NAME_ENGINE",
    "PART_OF",
    "PART_OF_VALUE",
    "PROFILE_ANNOTATION",
    "engine_labels",
    "managed_selector",
    "selector_labels",
    "selector_text",
]

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
#: Names the ModelService that an engine pod, Service or EndpointSlice belongs to.
MODEL_SERVICE = "sloserve.io/modelservice"
#: `vllm` or `sim`, from `spec.engine.kind`.
ENGINE_KIND = "sloserve.io/engine-kind"

#: The model id clients send (`spec.model`). An annotation, since model ids such as
#: `meta-llama/Llama-3.1-8B-Instruct` are not valid label values.
MODEL_ANNOTATION = "sloserve.io/model"
#: The latency profile the gateway predicts this engine's TTFT and TPOT with.
PROFILE_ANNOTATION = "sloserve.io/profile"

NAME_ENGINE = "sloserve-engine"
COMPONENT_ENGINE = "engine"
MANAGER = "sloserve"
PART_OF_VALUE = "sloserve"


def selector_labels(model_service: str) -> dict[str, str]:
    """The labels that select the engine pods of `model_service` in its namespace.

    They never change for a given ModelService, since a Deployment's selector is immutable.
    """
    return {
        NAME: NAME_ENGINE,
        INSTANCE: model_service,
        COMPONENT: COMPONENT_ENGINE,
        MODEL_SERVICE: model_service,
    }


def engine_labels(model_service: str, *, engine_kind: str) -> dict[str, str]:
    """Every label of the engine pods, Deployment, Service and PodDisruptionBudget."""
    return {
        **selector_labels(model_service),
        MANAGED_BY: MANAGER,
        PART_OF: PART_OF_VALUE,
        ENGINE_KIND: engine_kind,
    }


def selector_text(labels: Mapping[str, str]) -> str:
    """A label selector in the text form `kubectl` and the scale subresource use: `a=b,c=d`,
    keys sorted so that the text is the same for the same labels."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def managed_selector() -> str:
    """The server-side selector of everything the operator creates."""
    return f"{MANAGED_BY}={MANAGER}"
