"""Pods, nodes and an assessor over the packaged model and catalogue, for placement tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sloserve.placement.assessor import Assessor
from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.gpus import GPU_PRODUCT_LABEL
from sloserve.placement.pod_listing import StaticPodLister
from sloserve.placement.predictors import load_predictor
from sloserve.placement.scoring import NodeScorer
from sloserve.placement.settings import ExtenderSettings
from sloserve.placement.sources import CatalogueSource
from sloserve.placement.workloads import KIND_ANNOTATION, MAX_SLOWDOWN_ANNOTATION, SHARING_LABEL


def gpu_pod(
    name: str, *, kind: str | None, node: str | None = None, limit: str | None = None
) -> dict[str, Any]:
    annotations = {}
    if kind is not None:
        annotations[KIND_ANNOTATION] = kind
    if limit is not None:
        annotations[MAX_SLOWDOWN_ANNOTATION] = limit
    spec: dict[str, Any] = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
    if node is not None:
        spec["nodeName"] = node
    return {
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": f"uid-{name}",
            "annotations": annotations,
        },
        "spec": spec,
    }


def node(name: str, *, mps: bool = False, product: str | None = None) -> dict[str, Any]:
    labels = {SHARING_LABEL: "mps"} if mps else {}
    if product is not None:
        labels[GPU_PRODUCT_LABEL] = product
    return {"metadata": {"name": name, "labels": labels}}


def catalogue_source() -> CatalogueSource:
    predictor = load_predictor()
    return CatalogueSource(SoloCatalogue.load(), metrics=predictor.metrics, steps=predictor.steps)


def assessor(pods: Sequence[dict[str, Any]]) -> Assessor:
    return Assessor(NodeScorer(load_predictor()), catalogue_source(), StaticPodLister(list(pods)))


def opener(pods: Sequence[dict[str, Any]]) -> Any:
    @contextlib.asynccontextmanager
    async def open_assessor(settings: ExtenderSettings) -> AsyncIterator[Assessor]:
        yield assessor(pods)

    return open_assessor
