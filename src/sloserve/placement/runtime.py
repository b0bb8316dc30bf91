"""Putting placement together from settings: the model, the catalogue, the series source and the
pod lister, for the extender (and the operator's status helper)."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from sloserve.placement.assessor import Assessor
from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.pod_listing import KubernetesPodLister
from sloserve.placement.predictors import load_predictor
from sloserve.placement.scoring import NodeScorer
from sloserve.placement.settings import ExtenderSettings
from sloserve.placement.sources import CatalogueSource, PrometheusSource

__all__ = ["catalogue_assessor", "kubernetes_api_client", "open_assessor"]


def kubernetes_api_client(kubeconfig: pathlib.Path | None) -> Any:
    """A `kubernetes` ApiClient: from `kubeconfig`, else in-cluster credentials, else the
    default kubeconfig."""
    from kubernetes import client, config

    if kubeconfig is not None:
        return config.new_client_from_config(  # type: ignore[no-untyped-call,unused-ignore]
            config_file=str(kubeconfig)
        )
    configuration = client.Configuration()
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call,unused-ignore]
            client_configuration=configuration
        )
    except config.ConfigException:
        config.load_kube_config(  # type: ignore[no-untyped-call,unused-ignore]
            client_configuration=configuration
        )
    return client.ApiClient(configuration)


def _catalogue_parts(
    model: pathlib.Path | None, catalogue: pathlib.Path | None
) -> tuple[NodeScorer, CatalogueSource]:
    predictor = load_predictor(model)
    source = CatalogueSource(
        SoloCatalogue.load(catalogue), metrics=predictor.metrics, steps=predictor.steps
    )
    return NodeScorer(predictor), source


def catalogue_assessor(
    api_client: Any,
    *,
    model: pathlib.Path | None = None,
    catalogue: pathlib.Path | None = None,
) -> Assessor:
    """An assessor reading series from the solo catalogue by workload kind and pods through
    `api_client`. Loading takes a moment: build one and keep it."""
    scorer, source = _catalogue_parts(model, catalogue)
    return Assessor(scorer, source, KubernetesPodLister(api_client))


@contextlib.asynccontextmanager
async def open_assessor(settings: ExtenderSettings) -> AsyncIterator[Assessor]:
    """The extender's assessor: catalogue series, or Prometheus DCGM series for running pods
    when `prometheus_url` is set; the Prometheus client is closed on exit."""
    scorer, catalogue = _catalogue_parts(settings.model, settings.catalogue)
    lister = KubernetesPodLister(kubernetes_api_client(settings.kubeconfig))
    if settings.prometheus_url is None:
        yield Assessor(scorer, catalogue, lister)
        return
    async with httpx.AsyncClient(base_url=settings.prometheus_url, timeout=5.0) as client:
        source = PrometheusSource(
            client=client,
            fallback=catalogue,
            metrics=scorer.predictor.metrics,
            window_s=settings.prometheus_window_s,
            step_s=settings.prometheus_step_s,
        )
        yield Assessor(scorer, source, lister)
