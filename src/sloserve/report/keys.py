"""How series are grouped: the identity of a class row and of a ModelService in the report."""

from __future__ import annotations

import dataclasses

from sloserve.report import metric_names
from sloserve.report.samples import LabelSet, label_value


@dataclasses.dataclass(frozen=True, order=True)
class ModelServiceKey:
    """A model served under one ModelService (the ModelService is "" for a static engine list)."""

    cluster: str
    namespace: str
    modelservice: str
    model: str


@dataclasses.dataclass(frozen=True, order=True)
class ClassKey:
    modelservice: ModelServiceKey
    slo_class: str


def modelservice_key(labels: LabelSet, *, default_cluster: str) -> ModelServiceKey:
    """The ModelService a gateway series belongs to; series without a `cluster` label belong to
    `default_cluster`."""
    return ModelServiceKey(
        cluster=label_value(labels, metric_names.CLUSTER_LABEL) or default_cluster,
        namespace=label_value(labels, metric_names.NAMESPACE_LABEL),
        modelservice=label_value(labels, metric_names.MODELSERVICE_LABEL),
        model=label_value(labels, metric_names.MODEL_LABEL),
    )


def class_key(labels: LabelSet, *, default_cluster: str) -> ClassKey:
    return ClassKey(
        modelservice=modelservice_key(labels, default_cluster=default_cluster),
        slo_class=label_value(labels, metric_names.CLASS_LABEL),
    )
