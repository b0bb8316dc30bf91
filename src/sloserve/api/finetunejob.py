"""The FineTuneJob custom resource: its names in the API, the whole object, and its CRD.

The CRD is built as ModelService's is (:mod:`sloserve.api.crd`): the schema of `spec` and
`status` comes from the models; this module adds names, subresources and printer columns.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sloserve.api import crd, modelservice, schema
from sloserve.api.fields import ApiModel
from sloserve.api.finetune_spec import FineTuneJobSpec
from sloserve.api.finetune_status import FineTuneJobStatus

__all__ = [
    "CRD_NAME",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "FineTuneJob",
    "finetunejob_crd",
]

KIND = "FineTuneJob"
PLURAL = "finetunejobs"
SINGULAR = "finetunejob"
SHORT_NAMES = ("ftj",)
CRD_NAME = f"{PLURAL}.{modelservice.GROUP}"


class FineTuneJob(ApiModel):
    """A LoRA fine-tuning job that runs beside inference: on the GPUs of a ModelService when it
    names one, throttled by the operator whenever an inference class's SLO headroom falls, and
    checkpointed so that it can be paused, moved and resumed without losing steps."""

    api_version: Literal["sloserve.io/v1alpha1"] = "sloserve.io/v1alpha1"
    kind: Literal["FineTuneJob"] = "FineTuneJob"
    metadata: modelservice.ObjectMeta = Field(default_factory=modelservice.ObjectMeta)
    spec: FineTuneJobSpec
    status: FineTuneJobStatus | None = None


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "Model Service",
            "type": "string",
            "jsonPath": ".spec.modelService.name",
            "description": "ModelService the job co-serves with.",
        },
        {
            "name": "Phase",
            "type": "string",
            "jsonPath": ".status.phase",
            "description": "Pending, Running, Throttled, Paused, Succeeded or Failed.",
        },
        {
            "name": "Steps",
            "type": "string",
            "jsonPath": ".status.steps",
            "description": "Completed and total optimizer steps.",
        },
        {
            "name": "Share",
            "type": "number",
            "jsonPath": ".status.throttle.share",
            "description": "Share of GPU time the job may use now.",
        },
        {
            "name": "Tokens/s",
            "type": "number",
            "jsonPath": ".status.progress.tokensPerSecond",
            "description": "Training tokens per second.",
        },
        {
            "name": "Node",
            "type": "string",
            "jsonPath": ".status.node",
            "description": "Node the worker runs on.",
            "priority": 1,
        },
        {
            "name": "Rank",
            "type": "integer",
            "jsonPath": ".spec.adapter.rank",
            "description": "LoRA rank.",
            "priority": 1,
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def finetunejob_crd() -> dict[str, Any]:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition of FineTuneJob, as a plain dict."""
    return crd.namespaced_crd(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=tuple(SHORT_NAMES),
        description=schema.unwrap_description(FineTuneJob.__doc__ or ""),
        spec=schema.structural_schema(FineTuneJobSpec),
        status=schema.structural_schema(FineTuneJobStatus),
        subresources={"status": {}},
        printer_columns=_printer_columns(),
        selectable_fields=[{"jsonPath": ".spec.modelService.name"}],
    )
