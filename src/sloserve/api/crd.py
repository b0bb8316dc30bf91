"""The CustomResourceDefinition of ModelService, built from the models.

Nothing here is written by hand that the models already say: the schema of `spec` and `status`
comes from :mod:`sloserve.api.spec` and :mod:`sloserve.api.status` through
:mod:`sloserve.api.schema`. This module adds what only a CRD has: names, the root of the schema,
subresources, printer columns and selectable fields.
"""

from __future__ import annotations

from typing import Any

from sloserve.api import modelservice, schema
from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus

__all__ = ["CRD_NAME", "modelservice_crd", "namespaced_crd"]

CRD_NAME = f"{modelservice.PLURAL}.{modelservice.GROUP}"


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "Model",
            "type": "string",
            "jsonPath": ".spec.model",
            "description": "Model id clients send.",
        },
        {
            "name": "Replicas",
            "type": "integer",
            "jsonPath": ".spec.replicas",
            "description": "Desired engine replicas.",
        },
        {
            "name": "Ready",
            "type": "integer",
            "jsonPath": ".status.readyReplicas",
            "description": "Engine replicas ready to serve.",
        },
        {
            "name": "Attainment",
            "type": "string",
            "jsonPath": ".status.attainment",
            "description": "Share of requests that met their TTFT and TPOT objectives, per class.",
        },
        {
            "name": "Engine",
            "type": "string",
            "jsonPath": ".spec.engine.kind",
            "description": "Engine kind (vllm or sim).",
            "priority": 1,
        },
        {
            "name": "Default Class",
            "type": "string",
            "jsonPath": ".spec.defaultClass",
            "description": "Class of requests that name none.",
            "priority": 1,
        },
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
        },
    ]


def namespaced_crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    description: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    subresources: dict[str, Any],
    printer_columns: list[dict[str, Any]],
    selectable_fields: list[dict[str, str]],
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition of sloserve's group with one served and stored
    version: the metadata.name rule every sloserve resource shares, `spec` required."""
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "maxLength": modelservice.NAME_MAX_LENGTH,
                        "pattern": modelservice.NAME_PATTERN,
                    }
                },
            },
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
    }
    version = {
        "name": modelservice.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
        "subresources": subresources,
        "additionalPrinterColumns": printer_columns,
        "selectableFields": selectable_fields,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{modelservice.GROUP}"},
        "spec": {
            "group": modelservice.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(modelservice.CATEGORIES),
            },
            "versions": [version],
        },
    }


def modelservice_crd() -> dict[str, Any]:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition of ModelService, as a plain dict.

    The result is the same on every call and contains only JSON values.
    """
    return namespaced_crd(
        kind=modelservice.KIND,
        plural=modelservice.PLURAL,
        singular=modelservice.SINGULAR,
        short_names=tuple(modelservice.SHORT_NAMES),
        description=schema.unwrap_description(modelservice.ModelService.__doc__ or ""),
        spec=schema.structural_schema(ModelServiceSpec),
        status=schema.structural_schema(ModelServiceStatus),
        subresources={
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        printer_columns=_printer_columns(),
        # Lets clients list by model id: `kubectl get msvc --field-selector spec.model=...`.
        selectable_fields=[{"jsonPath": ".spec.model"}, {"jsonPath": ".spec.engine.kind"}],
    )
