"""From a window's samples to the report: pure functions, no I/O.

Counts are sums over every series of a group (gateway replicas, reasons, outcomes), so a level's
counts are exactly the sums of the levels below it. Attainment is attained over the requests that
ended in the window (rejected or finished; a rejected request is a miss, as in SCORPIO), less the
client errors — requests no scheduling could have served (`metric_names.CLIENT_ERROR_REASONS`,
an engine's 4xx): over ended requests it cannot pass 100%, as attained / received could when
requests received before the window end in it. Goodput is attained requests per second of the
window. Latency
quantiles and the share within target come from the class's histogram buckets; they are per class
only, since a quantile over classes with different targets answers no question.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sloserve.report import counters, keys, metric_names, model, utilization
from sloserve.report.histogram import CumulativeBuckets
from sloserve.report.samples import CounterTrace, GaugeSeries, Series, WindowSamples

QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)


def _utc(unix_seconds: float) -> datetime:
    return datetime.fromtimestamp(unix_seconds, tz=UTC)


def counts(series: Iterable[Series], *, window_seconds: float) -> model.Counts:
    """The request counts of a group from its counters' increases over the window."""
    sums: dict[str, float] = defaultdict(float)
    rejected: dict[str, float] = defaultdict(float)
    finished: dict[str, float] = defaultdict(float)
    for item in series:
        sums[item.name] += item.value
        if item.name == metric_names.REJECTED:
            rejected[item.label(metric_names.REASON_LABEL)] += item.value
        elif item.name == metric_names.FINISHED:
            finished[item.label(metric_names.OUTCOME_LABEL)] += item.value
    return _counts(
        requests=sums[metric_names.REQUESTS],
        admitted=sums[metric_names.ADMITTED],
        rejected=rejected,
        finished=finished,
        attained=sums[metric_names.ATTAINED],
        output_tokens=sums[metric_names.OUTPUT_TOKENS],
        prompt_tokens=sums[metric_names.PROMPT_TOKENS],
        window_seconds=window_seconds,
    )


def sum_counts(parts: Sequence[model.Counts], *, window_seconds: float) -> model.Counts:
    """The counts of a group made of `parts` (counts add up; the ratios are recomputed)."""
    rejected: dict[str, float] = defaultdict(float)
    finished: dict[str, float] = defaultdict(float)
    for part in parts:
        for reason, value in part.rejected.items():
            rejected[reason] += value
        for outcome, value in part.finished.items():
            finished[outcome] += value
    return _counts(
        requests=sum(part.requests for part in parts),
        admitted=sum(part.admitted for part in parts),
        rejected=rejected,
        finished=finished,
        attained=sum(part.attained for part in parts),
        output_tokens=sum(part.output_tokens for part in parts),
        prompt_tokens=sum(part.prompt_tokens for part in parts),
        window_seconds=window_seconds,
    )


def _counts(
    *,
    requests: float,
    admitted: float,
    rejected: dict[str, float],
    finished: dict[str, float],
    attained: float,
    output_tokens: float,
    prompt_tokens: float,
    window_seconds: float,
) -> model.Counts:
    """Counts with their derived figures (see the module docstring)."""
    client_errors = sum(
        value for reason, value in rejected.items() if reason in metric_names.CLIENT_ERROR_REASONS
    ) + finished.get(metric_names.CLIENT_ERROR_OUTCOME, 0.0)
    servable = sum(rejected.values()) + sum(finished.values()) - client_errors
    return model.Counts(
        requests=requests,
        admitted=admitted,
        rejected=dict(sorted(rejected.items())),
        rejected_total=sum(rejected.values()),
        finished=dict(sorted(finished.items())),
        client_errors=client_errors,
        attained=attained,
        output_tokens=output_tokens,
        prompt_tokens=prompt_tokens,
        attainment=attained / servable if servable > 0 else None,
        goodput_rps=attained / window_seconds,
    )


def latency(
    buckets: Iterable[Series], *, objective: model.Objective, target_seconds: float | None
) -> model.Latency:
    """One objective's distribution from the increases of its `_bucket` series."""
    histogram = CumulativeBuckets.from_pairs(
        (float(item.label(metric_names.BUCKET_LABEL)), item.value) for item in buckets
    )
    quantiles = []
    for q in QUANTILES:
        found = histogram.quantile(q)
        if found is not None:
            quantiles.append(model.Quantile(quantile=q, seconds=found[0], lower_bound=found[1]))
    return model.Latency(
        objective=objective,
        target_seconds=target_seconds,
        observations=histogram.total,
        quantiles=quantiles,
        within_target=(
            histogram.share_at_or_below(target_seconds) if target_seconds is not None else None
        ),
        buckets=[
            model.Bucket(le=None if math.isinf(bound) else bound, count=count)
            for bound, count in histogram.per_bucket()
        ]
        if histogram.total > 0
        else [],
    )


def timeline(
    traces: Sequence[CounterTrace], *, window_start: float, step_seconds: float
) -> list[model.TimelinePoint]:
    """Arrivals, ended and attained requests per step, from the counters' raw values at each
    step; attainment per step is over the requests that ended in it (see `TimelinePoint`)."""
    per_step: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    # Half a step of slack: the first step's time may differ from the window's start by rounding.
    created_after = window_start + step_seconds / 2
    for trace in traces:
        for time, increase in counters.step_increases(trace.points, created_after=created_after):
            per_step[time][trace.name] += increase
    points = []
    for time in sorted(per_step):
        ended = per_step[time][metric_names.REJECTED] + per_step[time][metric_names.FINISHED]
        attained = per_step[time][metric_names.ATTAINED]
        points.append(
            model.TimelinePoint(
                time=_utc(time),
                requests=per_step[time][metric_names.REQUESTS],
                ended=ended,
                attained=attained,
                attainment=attained / ended if ended > 0 else None,
            )
        )
    return points


def _targets(
    gauges: Iterable[GaugeSeries], *, default_cluster: str, warnings: list[str]
) -> dict[tuple[keys.ClassKey, str], float]:
    found: dict[tuple[keys.ClassKey, str], set[float]] = defaultdict(set)
    for gauge in gauges:
        if gauge.name == metric_names.SLO_TARGET:
            key = keys.class_key(gauge.labels, default_cluster=default_cluster)
            found[(key, gauge.label(metric_names.OBJECTIVE_LABEL))].add(gauge.last)
    targets = {}
    for (key, objective), values in found.items():
        targets[(key, objective)] = max(values)
        if len(values) > 1:
            warnings.append(
                f"gateways disagree on the {objective} target of class {key.slo_class!r} of"
                f" {_describe(key.modelservice)}: {sorted(values)} s; the report uses the"
                f" loosest, {max(values)} s"
            )
    return targets


def _describe(key: keys.ModelServiceKey) -> str:
    name = key.modelservice or f"static model {key.model}"
    return f"{key.namespace}/{name}" if key.namespace else name


def _class_order(report: model.ClassReport) -> tuple[float, str]:
    target = report.ttft.target_seconds
    return (target if target is not None else math.inf, report.name)


def build_report(
    window: WindowSamples, *, default_cluster: str, generated_at: datetime
) -> model.Report:
    """The report of `window`. Series without a `cluster` label belong to `default_cluster`."""
    warnings = list(window.warnings)
    seconds = window.seconds
    counters_by_class: dict[keys.ClassKey, list[Series]] = defaultdict(list)
    for item in window.increases:
        counters_by_class[keys.class_key(item.labels, default_cluster=default_cluster)].append(item)
    traces_by_class: dict[keys.ClassKey, list[CounterTrace]] = defaultdict(list)
    for trace in window.timeline:
        traces_by_class[keys.class_key(trace.labels, default_cluster=default_cluster)].append(trace)
    targets = _targets(window.gauges, default_cluster=default_cluster, warnings=warnings)

    classes_by_modelservice: dict[keys.ModelServiceKey, list[model.ClassReport]] = defaultdict(list)
    for key in sorted(set(counters_by_class) | {key for key, _ in targets}):
        series = counters_by_class.get(key, [])
        classes_by_modelservice[key.modelservice].append(
            model.ClassReport(
                name=key.slo_class,
                counts=counts(series, window_seconds=seconds),
                ttft=latency(
                    _buckets(series, metric_names.TTFT),
                    objective="ttft",
                    target_seconds=targets.get((key, "ttft")),
                ),
                tpot=latency(
                    _buckets(series, metric_names.TPOT),
                    objective="tpot",
                    target_seconds=targets.get((key, "tpot")),
                ),
                timeline=timeline(
                    traces_by_class.get(key, []),
                    window_start=window.start,
                    step_seconds=window.step_seconds,
                ),
            )
        )

    engines = utilization.attribute_engines(
        window.gauges, modelservices=classes_by_modelservice, default_cluster=default_cluster
    )
    warnings.extend(engines.warnings)
    gateway_gauges: dict[keys.ModelServiceKey, list[GaugeSeries]] = defaultdict(list)
    for gauge in window.gauges:
        owner = utilization.gateway_gauge_owner(gauge, default_cluster=default_cluster)
        if owner is not None:
            gateway_gauges[owner].append(gauge)

    modelservices = {
        key: model.ModelServiceReport(
            namespace=key.namespace,
            name=key.modelservice,
            model=key.model,
            counts=sum_counts([cls.counts for cls in classes], window_seconds=seconds),
            classes=sorted(classes, key=_class_order),
            utilization=utilization.utilization(
                engines.by_modelservice.get(key, []), gateway_gauges.get(key, [])
            ),
            engines=engines.by_modelservice.get(key, []),
        )
        for key, classes in sorted(classes_by_modelservice.items())
    }
    clusters = _clusters(
        modelservices=modelservices,
        engines_by_cluster=engines.by_cluster,
        gateway_gauges=gateway_gauges,
        window_seconds=seconds,
    )
    return model.Report(
        generated_at=generated_at,
        source=model.SourceInfo(kind=window.source.kind, urls=list(window.source.urls)),
        window=model.Window(
            start=_utc(window.start),
            end=_utc(window.end),
            seconds=seconds,
            step_seconds=window.step_seconds,
        ),
        clusters=clusters,
        warnings=warnings,
    )


def _buckets(series: Iterable[Series], histogram: str) -> list[Series]:
    name = metric_names.bucket_series(histogram)
    return [item for item in series if item.name == name]


def _clusters(
    *,
    modelservices: dict[keys.ModelServiceKey, model.ModelServiceReport],
    engines_by_cluster: dict[str, list[model.EngineReport]],
    gateway_gauges: dict[keys.ModelServiceKey, list[GaugeSeries]],
    window_seconds: float,
) -> list[model.ClusterReport]:
    by_namespace: dict[str, dict[str, list[model.ModelServiceReport]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for key, report in sorted(modelservices.items()):
        by_namespace[key.cluster][key.namespace].append(report)
    clusters = []
    for cluster, namespaces in sorted(by_namespace.items()):
        namespace_reports = [
            model.NamespaceReport(
                name=namespace,
                counts=sum_counts([ms.counts for ms in members], window_seconds=window_seconds),
                modelservices=members,
            )
            for namespace, members in sorted(namespaces.items())
        ]
        clusters.append(
            model.ClusterReport(
                name=cluster,
                counts=sum_counts(
                    [ns.counts for ns in namespace_reports], window_seconds=window_seconds
                ),
                utilization=utilization.utilization(
                    engines_by_cluster.get(cluster, []),
                    [g for k, gs in gateway_gauges.items() if k.cluster == cluster for g in gs],
                ),
                namespaces=namespace_reports,
            )
        )
    return clusters
