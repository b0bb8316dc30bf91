"""The metrics documented in docs/metrics.md are exported with their labels."""

from __future__ import annotations

from typing import Any

from gateway_fakes import ENGINE_URL, MODEL
from prometheus_client.parser import text_string_to_metric_families

CLASS_LABELS = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}


async def scrape(client: Any) -> dict[str, list[Any]]:
    text = (await client.get("/metrics")).text
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def test_a_served_stream_shows_in_every_per_class_series(gateway_client: Any) -> None:
    client = await gateway_client()
    body = {"model": MODEL, "prompt": "hi", "max_tokens": 3, "stream": True}
    assert (await client.post("/v1/completions", json=body)).status_code == 200
    samples = await scrape(client)
    for name in (
        "sloserve_requests_total",
        "sloserve_requests_admitted_total",
        "sloserve_requests_attained_total",
        "sloserve_output_tokens_total",
        "sloserve_ttft_seconds_count",
        "sloserve_tpot_seconds_count",
        "sloserve_queue_time_seconds_count",
    ):
        (sample,) = samples[name]
        assert sample.labels == CLASS_LABELS, name
    (finished,) = samples["sloserve_requests_finished_total"]
    assert finished.labels == {**CLASS_LABELS, "outcome": "served"}
    assert samples["sloserve_output_tokens_total"][0].value == 3


async def test_model_gauges_carry_engine_and_objective_labels(gateway_client: Any) -> None:
    client = await gateway_client()
    samples = await scrape(client)
    (depth,) = samples["sloserve_queue_depth"]
    assert depth.labels == {"namespace": "", "modelservice": "", "model": MODEL}
    (inflight,) = samples["sloserve_engine_inflight_requests"]
    assert inflight.labels["engine"] == ENGINE_URL
    targets = {
        (s.labels["slo_class"], s.labels["objective"]): s.value
        for s in samples["sloserve_slo_target_seconds"]
    }
    assert targets[("interactive", "ttft")] == 0.5
    assert targets[("standard", "tpot")] == 0.03


async def test_rejections_are_counted_by_reason(gateway_client: Any) -> None:
    client = await gateway_client()
    await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": "x"},
        headers={"x-slo-class": "interactive"},
    )
    samples = await scrape(client)
    (rejected,) = samples["sloserve_requests_rejected_total"]
    assert rejected.labels == {
        **CLASS_LABELS,
        "slo_class": "interactive",
        "reason": "forbidden_class",
    }
