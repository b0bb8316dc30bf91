"""How series are grouped: gateway replicas add up, clusters split by label, targets and engines
that cannot be placed without doubt are reported as warnings, never dropped silently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sloserve.report import compute, model, render, samples

GATEWAY = {"namespace": "ns", "modelservice": "svc", "model": "m", "slo_class": "fast"}


def _series(name: str, value: float, **labels: str) -> samples.Series:
    return samples.Series(name=name, labels=samples.label_set(labels), value=value)


def _gauge(name: str, value: float, **labels: str) -> samples.GaugeSeries:
    return samples.GaugeSeries(
        name=name, labels=samples.label_set(labels), last=value, mean=value, maximum=value
    )


def _report(
    increases: list[samples.Series], gauges: list[samples.GaugeSeries] | None = None
) -> model.Report:
    window = samples.WindowSamples(
        source=samples.Source(kind="prometheus", urls=("http://p",)),
        start=0.0,
        end=100.0,
        step_seconds=10.0,
        increases=tuple(increases),
        gauges=tuple(gauges or ()),
        timeline=(),
    )
    return compute.build_report(
        window, default_cluster="main", generated_at=datetime(2025, 1, 1, tzinfo=UTC)
    )


def _only_class(report: model.Report) -> model.ClassReport:
    (cluster,) = report.clusters
    (namespace,) = cluster.namespaces
    (service,) = namespace.modelservices
    (cls,) = service.classes
    return cls


def test_replicas_of_a_gateway_add_up() -> None:
    report = _report(
        [
            _series("sloserve_requests_total", 30, **GATEWAY, instance="gw-1"),
            _series("sloserve_requests_total", 20, **GATEWAY, instance="gw-2"),
            _series("sloserve_requests_attained_total", 40, **GATEWAY, instance="gw-1"),
            _series(
                "sloserve_requests_finished_total", 30, **GATEWAY, instance="gw-1", outcome="served"
            ),
            _series(
                "sloserve_requests_finished_total", 20, **GATEWAY, instance="gw-2", outcome="served"
            ),
        ]
    )
    counts = _only_class(report).counts
    assert (counts.requests, counts.attained, counts.attainment) == (50, 40, 0.8)
    assert counts.goodput_rps == pytest.approx(0.4)


def test_histogram_buckets_of_replicas_merge_before_the_quantile() -> None:
    buckets = [
        _series("sloserve_ttft_seconds_bucket", count, **GATEWAY, instance=gw, le=le)
        for gw, pairs in (("a", (("0.1", 10), ("+Inf", 10))), ("b", (("0.1", 0), ("+Inf", 10))))
        for le, count in pairs
    ]
    ttft = _only_class(_report(buckets)).ttft
    assert ttft.observations == 20
    p50 = ttft.quantile(0.5)
    assert p50 is not None
    assert p50.seconds == pytest.approx(0.1)
    assert [b.count for b in ttft.buckets] == [10, 10]


def test_series_with_a_cluster_label_form_their_own_cluster() -> None:
    report = _report(
        [
            _series("sloserve_requests_total", 5, **GATEWAY),
            _series("sloserve_requests_total", 7, **GATEWAY, cluster="east"),
        ]
    )
    assert [(c.name, c.counts.requests) for c in report.clusters] == [("east", 7), ("main", 5)]


def test_gateways_that_disagree_on_a_target_are_reported_and_the_loosest_is_used() -> None:
    report = _report(
        [_series("sloserve_requests_total", 1, **GATEWAY)],
        [
            _gauge("sloserve_slo_target_seconds", 0.5, **GATEWAY, objective="ttft", instance="a"),
            _gauge("sloserve_slo_target_seconds", 0.8, **GATEWAY, objective="ttft", instance="b"),
        ],
    )
    assert _only_class(report).ttft.target_seconds == 0.8
    assert any("disagree on the ttft target" in warning for warning in report.warnings)


def test_a_class_known_only_from_its_targets_is_listed_without_requests() -> None:
    report = _report([], [_gauge("sloserve_slo_target_seconds", 3, **GATEWAY, objective="ttft")])
    cls = _only_class(report)
    assert (cls.name, cls.counts.requests, cls.counts.attainment) == ("fast", 0, None)


def test_engine_labelled_with_its_modelservice_is_attributed_whatever_its_model_name() -> None:
    report = _report(
        [_series("sloserve_requests_total", 1, **GATEWAY)],
        [
            _gauge(
                "vllm:num_requests_running",
                4,
                model_name="served-under-another-name",
                namespace="ns",
                modelservice="svc",
                pod="svc-engine-0",
            )
        ],
    )
    service = report.clusters[0].namespaces[0].modelservices[0]
    assert [engine.name for engine in service.engines] == ["svc-engine-0"]
    assert service.utilization.running_mean == 4
    assert report.warnings == []


def test_engine_whose_model_two_modelservices_serve_is_not_guessed() -> None:
    other = {**GATEWAY, "namespace": "other"}
    report = _report(
        [
            _series("sloserve_requests_total", 1, **GATEWAY),
            _series("sloserve_requests_total", 1, **other),
        ],
        [_gauge("vllm:num_requests_running", 4, model_name="m", instance="e:8000")],
    )
    assert all(
        not service.engines
        for namespace in report.clusters[0].namespaces
        for service in namespace.modelservices
    )
    assert report.clusters[0].utilization.engines == 1
    (warning,) = report.warnings
    assert "several gateway entries match" in warning
    assert "ns/svc (m)" in warning
    assert "other/svc (m)" in warning


def test_attainment_counts_the_requests_that_ended_and_leaves_client_errors_out() -> None:
    # 10 requests received in the window, but 12 ended in it (two arrived before it): attained
    # over received would read 110%
    report = _report(
        [
            _series("sloserve_requests_total", 10, **GATEWAY),
            _series("sloserve_requests_attained_total", 11, **GATEWAY),
            _series("sloserve_requests_finished_total", 11, **GATEWAY, outcome="served"),
            _series("sloserve_requests_finished_total", 2, **GATEWAY, outcome="client_error"),
            _series("sloserve_requests_rejected_total", 1, **GATEWAY, reason="prompt_too_long"),
            _series("sloserve_requests_rejected_total", 1, **GATEWAY, reason="ttft_unattainable"),
        ]
    )
    counts = _only_class(report).counts
    assert counts.client_errors == 3
    assert counts.attainment == pytest.approx(11 / 12)
    assert counts.attainment <= 1.0


def test_a_static_gateway_list_is_reported_under_its_model_with_its_engines() -> None:
    static = {"namespace": "", "modelservice": "", "model": "m", "slo_class": "fast"}
    report = _report(
        [
            _series("sloserve_requests_total", 4, **static),
            _series("sloserve_requests_attained_total", 3, **static),
            _series("sloserve_requests_finished_total", 4, **static, outcome="served"),
        ],
        [_gauge("vllm:num_requests_running", 2, model_name="m", instance="127.0.0.1:8000")],
    )
    (namespace,) = report.clusters[0].namespaces
    (service,) = namespace.modelservices
    assert (namespace.name, service.name, service.model) == ("", "", "m")
    assert [engine.name for engine in service.engines] == ["127.0.0.1:8000"]
    assert service.utilization.running_mean == 2
    assert _only_class(report).counts.attainment == pytest.approx(3 / 4)
    assert report.warnings == []
    table = render.render(report, "table", width=100)
    assert "(static) m" in table
    assert "75.0%" in table
