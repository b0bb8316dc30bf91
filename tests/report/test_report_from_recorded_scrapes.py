"""Known answers: the report computed from the recorded scrapes (see report/recorded.py) gives
the figures worked out by hand from the differences between the scrapes."""

from __future__ import annotations

import pytest

from report import recorded
from sloserve.report import model


def test_counts_per_class_are_the_differences_between_first_and_last_scrape(
    recorded_report: model.Report,
) -> None:
    interactive = recorded.slo_class(recorded_report, "llama-8b", "interactive").counts
    assert interactive.requests == 200
    assert interactive.admitted == 170
    assert interactive.attained == 130
    assert interactive.rejected_total == 30
    assert {k: v for k, v in interactive.rejected.items() if v} == {
        "queue_full": 5,
        "ttft_unattainable": 25,
    }
    assert interactive.finished == {"cancelled": 3, "failed": 2, "served": 160}
    assert interactive.output_tokens == 30_000
    # over the 195 that ended in the window (30 rejected, 165 finished), not the 200 received
    assert interactive.attainment == pytest.approx(130 / 195)
    assert interactive.goodput_rps == pytest.approx(130 / 300)


def test_standard_class_attainment_and_goodput(recorded_report: model.Report) -> None:
    standard = recorded.slo_class(recorded_report, "llama-8b", "standard").counts
    assert (standard.requests, standard.attained, standard.rejected_total) == (300, 280, 0)
    assert standard.attainment == pytest.approx(280 / 300)
    assert standard.goodput_rps == pytest.approx(280 / 300)


def test_ttft_quantiles_interpolate_within_buckets(recorded_report: model.Report) -> None:
    ttft = recorded.slo_class(recorded_report, "llama-8b", "interactive").ttft
    assert ttft.target_seconds == 0.5
    assert ttft.observations == 160
    assert [q.seconds for q in ttft.quantiles] == pytest.approx([1 / 3, 0.9, 3.0])
    assert not any(q.lower_bound for q in ttft.quantiles)
    assert ttft.within_target == pytest.approx(0.75)


def test_tpot_quantiles_and_share_within_target(recorded_report: model.Report) -> None:
    tpot = recorded.slo_class(recorded_report, "llama-8b", "standard").tpot
    assert tpot.target_seconds == 0.03
    assert [q.seconds for q in tpot.quantiles] == pytest.approx(
        [0.01 + 0.015 * 120 / 170, 0.025 + 0.025 * 70 / 90, 0.085]
    )
    assert tpot.within_target == pytest.approx(218 / 300)


def test_quantile_in_the_infinite_bucket_is_flagged_as_a_lower_bound(
    recorded_report: model.Report,
) -> None:
    ttft = recorded.slo_class(recorded_report, "llama-8b", "standard").ttft
    p99 = ttft.quantile(0.99)
    assert p99 is not None
    assert (p99.seconds, p99.lower_bound) == (30.0, True)
    assert ttft.quantile(0.5) == model.Quantile(quantile=0.5, seconds=1.5, lower_bound=False)


def test_class_without_requests_has_no_attainment_and_no_quantiles(
    recorded_report: model.Report,
) -> None:
    batch = recorded.slo_class(recorded_report, "llama-8b", "batch")
    assert batch.counts.requests == 0
    assert batch.counts.attainment is None
    assert batch.ttft.quantiles == []
    assert batch.ttft.within_target is None
    assert batch.ttft.target_seconds == 15.0


def test_classes_are_ordered_by_ttft_target(recorded_report: model.Report) -> None:
    names = [cls.name for cls in recorded.modelservice(recorded_report, "llama-8b").classes]
    assert names == ["interactive", "standard", "batch"]


def test_modelservice_namespace_and_cluster_totals_add_up(recorded_report: model.Report) -> None:
    (cluster,) = recorded_report.clusters
    assert cluster.name == "local"
    assert [ns.name for ns in cluster.namespaces] == ["team-a", "team-b"]
    llama = recorded.modelservice(recorded_report, "llama-8b")
    assert (llama.counts.requests, llama.counts.attained) == (500, 410)
    assert llama.counts.attainment == pytest.approx(410 / 495)
    assert cluster.counts.requests == 500
    assert cluster.counts.goodput_rps == pytest.approx(410 / 300)
    qwen_namespace = cluster.namespaces[1]
    assert qwen_namespace.counts.requests == 0
    assert qwen_namespace.counts.attainment is None


def test_timeline_gives_attainment_over_the_requests_that_ended_in_each_step(
    recorded_report: model.Report,
) -> None:
    timeline = recorded.slo_class(recorded_report, "llama-8b", "interactive").timeline
    # First half: 12 + 3 rejected, 80 + 1 + 1 finished, 80 attained; second: 13 + 2, 80 + 1 + 2, 50.
    assert [(p.requests, p.ended, p.attained) for p in timeline] == [(100, 97, 80), (100, 98, 50)]
    assert [p.attainment for p in timeline] == pytest.approx([80 / 97, 50 / 98])
    assert [p.time.timestamp() for p in timeline] == [
        recorded.START + 150,
        recorded.START + 300,
    ]


def test_engines_are_attributed_to_their_modelservice_by_model(
    recorded_report: model.Report,
) -> None:
    llama = recorded.modelservice(recorded_report, "llama-8b")
    assert [engine.name for engine in llama.engines] == [
        "http://engine-1:8000/metrics",
        "http://engine-2:8000/metrics",
    ]
    load = llama.utilization
    assert load.engines == 2
    assert load.running_mean == pytest.approx(25)
    assert load.waiting_mean == pytest.approx(2)
    assert load.kv_cache_usage_mean == pytest.approx(0.25)
    assert load.kv_cache_usage_max == pytest.approx(0.6)
    assert load.gateway_inflight_mean == pytest.approx(25)
    assert (load.queue_depth_mean, load.queue_depth_max) == pytest.approx((4, 8))


def test_engine_of_an_unknown_model_counts_for_the_cluster_and_is_reported(
    recorded_report: model.Report,
) -> None:
    (cluster,) = recorded_report.clusters
    assert cluster.utilization.engines == 3
    assert cluster.utilization.running_mean == pytest.approx(26)
    assert any(
        "engine-3" in warning and "no gateway reports" in warning
        for warning in recorded_report.warnings
    )
