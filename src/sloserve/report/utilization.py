"""Engines' and gateways' load over the window, attributed to the ModelServices they serve.

An engine is one vLLM (or engine simulator) metrics endpoint, named by its `pod` label where
Prometheus' Kubernetes discovery added one, else by its `instance` (scrape address). It belongs to
a ModelService when its series carry the `namespace` and `modelservice` labels (added by the
Kubernetes scrape configuration), else to the one ModelService whose model id equals vLLM's
`model_name`. An engine that matches none, or several, is reported in a warning and counted only in
its cluster's totals.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sloserve.report import keys, metric_names, model
from sloserve.report.samples import GaugeSeries

_ENGINE_GAUGES = frozenset(
    (metric_names.VLLM_RUNNING, metric_names.VLLM_WAITING, metric_names.VLLM_KV_CACHE_USAGE)
)


@dataclasses.dataclass(frozen=True, order=True)
class EngineKey:
    cluster: str
    name: str
    model: str


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Engines per ModelService, engines per cluster, and what could not be attributed."""

    by_modelservice: dict[keys.ModelServiceKey, list[model.EngineReport]]
    by_cluster: dict[str, list[model.EngineReport]]
    warnings: list[str]


def _engine_key(gauge: GaugeSeries, *, default_cluster: str) -> EngineKey:
    return EngineKey(
        cluster=gauge.label(metric_names.CLUSTER_LABEL) or default_cluster,
        name=gauge.label(metric_names.POD_LABEL) or gauge.label(metric_names.INSTANCE_LABEL),
        model=gauge.label(metric_names.VLLM_MODEL_LABEL),
    )


def _engine_report(key: EngineKey, gauges: Sequence[GaugeSeries]) -> model.EngineReport:
    def pick(name: str) -> list[GaugeSeries]:
        return [gauge for gauge in gauges if gauge.name == name]

    def total_mean(name: str) -> float | None:
        found = pick(name)
        return sum(gauge.mean for gauge in found) if found else None

    def mean_of_means(name: str) -> float | None:
        found = pick(name)
        return sum(gauge.mean for gauge in found) / len(found) if found else None

    def highest(name: str) -> float | None:
        found = pick(name)
        return max(gauge.maximum for gauge in found) if found else None

    return model.EngineReport(
        name=key.name,
        model=key.model,
        running_mean=total_mean(metric_names.VLLM_RUNNING),
        running_max=highest(metric_names.VLLM_RUNNING),
        waiting_mean=total_mean(metric_names.VLLM_WAITING),
        kv_cache_usage_mean=mean_of_means(metric_names.VLLM_KV_CACHE_USAGE),
        kv_cache_usage_max=highest(metric_names.VLLM_KV_CACHE_USAGE),
    )


def attribute_engines(
    gauges: Iterable[GaugeSeries],
    *,
    modelservices: Iterable[keys.ModelServiceKey],
    default_cluster: str,
) -> Attribution:
    """Summarises each engine's vLLM gauges and assigns it to its ModelService (see module doc)."""
    per_engine: dict[EngineKey, list[GaugeSeries]] = defaultdict(list)
    # (namespace, modelservice) from the scrape configuration's target labels, where present.
    owners: dict[EngineKey, tuple[str, str]] = {}
    for gauge in gauges:
        if gauge.name not in _ENGINE_GAUGES:
            continue
        engine = _engine_key(gauge, default_cluster=default_cluster)
        per_engine[engine].append(gauge)
        namespace = gauge.label(metric_names.NAMESPACE_LABEL)
        modelservice = gauge.label(metric_names.MODELSERVICE_LABEL)
        if namespace and modelservice:
            owners[engine] = (namespace, modelservice)
    known = sorted(set(modelservices))
    result = Attribution(
        by_modelservice=defaultdict(list), by_cluster=defaultdict(list), warnings=[]
    )
    for engine in sorted(per_engine):
        report = _engine_report(engine, per_engine[engine])
        result.by_cluster[engine.cluster].append(report)
        if engine in owners:
            candidates = [
                key
                for key in known
                if (key.cluster, key.namespace, key.modelservice)
                == (engine.cluster, *owners[engine])
            ]
            served = f"ModelService {'/'.join(owners[engine])}"
        else:
            candidates = [
                key for key in known if key.cluster == engine.cluster and key.model == engine.model
            ]
            served = f"model {engine.model!r}"
        if len(candidates) == 1:
            result.by_modelservice[candidates[0]].append(report)
        elif not candidates:
            result.warnings.append(
                f"engine {engine.name} serves {served}, which no gateway reports;"
                f" it is counted only in cluster {engine.cluster}'s utilization"
            )
        else:
            names = ", ".join(
                f"{key.namespace}/{key.modelservice or '(static)'} ({key.model})"
                for key in candidates
            )
            result.warnings.append(
                f"engine {engine.name} serves {served}, which several gateway entries match"
                f" ({names}); add namespace and modelservice labels to its scrape"
                " configuration to attribute it; it is counted only in cluster"
                f" {engine.cluster}'s utilization"
            )
    return result


def utilization(
    engines: Sequence[model.EngineReport], gateway_gauges: Sequence[GaugeSeries]
) -> model.Utilization:
    """Load of `engines` and of the gateway gauges (queue depth, in-flight) of the same group."""

    def total(values: Iterable[float | None]) -> float | None:
        present = [value for value in values if value is not None]
        return sum(present) if present else None

    kv_means = [
        engine.kv_cache_usage_mean for engine in engines if engine.kv_cache_usage_mean is not None
    ]
    kv_maxima = [
        engine.kv_cache_usage_max for engine in engines if engine.kv_cache_usage_max is not None
    ]
    queue = [gauge for gauge in gateway_gauges if gauge.name == metric_names.QUEUE_DEPTH]
    inflight = [gauge for gauge in gateway_gauges if gauge.name == metric_names.ENGINE_INFLIGHT]
    return model.Utilization(
        engines=len(engines),
        running_mean=total(engine.running_mean for engine in engines),
        waiting_mean=total(engine.waiting_mean for engine in engines),
        kv_cache_usage_mean=sum(kv_means) / len(kv_means) if kv_means else None,
        kv_cache_usage_max=max(kv_maxima) if kv_maxima else None,
        gateway_inflight_mean=total(gauge.mean for gauge in inflight),
        queue_depth_mean=total(gauge.mean for gauge in queue),
        queue_depth_max=total(gauge.maximum for gauge in queue),
    )


def gateway_gauge_owner(gauge: GaugeSeries, *, default_cluster: str) -> keys.ModelServiceKey | None:
    """The ModelService a gateway load gauge (queue depth, in-flight) belongs to; else None."""
    if gauge.name not in (metric_names.QUEUE_DEPTH, metric_names.ENGINE_INFLIGHT):
        return None
    return keys.modelservice_key(gauge.labels, default_cluster=default_cluster)
