"""Scale from zero at the gateway: a request for a model without engines waits for one until its
TTFT deadline, and is refused with 503 cold_start (never left hanging) when none can serve it."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from sloserve.gateway import classify, datastore, errors, metrics, runtime
from sloserve.gateway.serving import activation, admission
from sloserve.scheduling import policy, slo

INTERACTIVE = slo.SLOClass(name="interactive", ttft_s=0.5, tpot_s=0.05)
BATCH = slo.SLOClass(name="batch", ttft_s=15.0, tpot_s=0.05)


class Clock:
    """A clock the test moves: the deadline arithmetic, not the wall, is under test."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def now(self) -> float:
        return self.now_s


def _runtime(clock: Clock, *engines: str) -> runtime.ModelRuntime:
    definition = datastore.ModelDefinition(
        classes=classify.ModelClasses(
            model="m",
            classes={"interactive": INTERACTIVE, "batch": BATCH},
            default_class="batch",
        ),
        profile="synthetic",
        max_num_seqs=8,
    )
    key = datastore.SourceKey(namespace="", name="m", static=True)
    record = datastore.ModelRecord(labels=key.labels("m"), definition=definition, engines=engines)
    return runtime.ModelRuntime(
        record=record,
        policy_config=policy.preset("deadline"),
        latency=None,
        clock=clock,
        client=httpx.AsyncClient(),
        recheck_interval_s=0.02,
        scrape_interval_s=1.0,
        failure_cooldown_s=5.0,
    )


def _prepared(model_runtime: runtime.ModelRuntime, slo_class: slo.SLOClass) -> admission.Prepared:
    gateway_metrics = metrics.GatewayMetrics()
    labels = model_runtime.record.labels.with_class(slo_class.name)
    return admission.Prepared(
        request=slo.Request(
            request_id="r1",
            model="m",
            slo_class=slo_class,
            arrival_s=model_runtime.clock.now(),
            prompt_tokens=10,
            max_tokens=10,
        ),
        model_runtime=model_runtime,
        series=gateway_metrics.series(labels),
    )


async def test_with_an_engine_the_request_goes_on_at_once() -> None:
    model_runtime = _runtime(Clock(), "http://a.test")
    await activation.hold_for_engine(
        model_runtime, _prepared(model_runtime, INTERACTIVE), cold_start_s=60.0
    )


async def test_a_deadline_shorter_than_the_start_is_refused_at_once_with_the_reason() -> None:
    model_runtime = _runtime(Clock())
    prepared = _prepared(model_runtime, INTERACTIVE)
    with pytest.raises(errors.GatewayError) as refused:
        await activation.hold_for_engine(model_runtime, prepared, cold_start_s=60.0)
    assert (refused.value.status, refused.value.code) == (503, "cold_start")
    assert "starting one takes about 60 s" in refused.value.message
    assert refused.value.headers["Retry-After"] == "60"
    assert prepared.series.rejected("cold_start")._value.get() == 1


async def test_a_held_request_goes_on_when_an_engine_arrives_within_its_deadline() -> None:
    clock = Clock()
    model_runtime = _runtime(clock)
    prepared = _prepared(model_runtime, BATCH)
    held = asyncio.create_task(
        activation.hold_for_engine(model_runtime, prepared, cold_start_s=5.0)
    )
    await asyncio.sleep(0)
    assert not held.done()
    clock.now_s += 4.0
    model_runtime.update(dataclasses.replace(model_runtime.record, engines=("http://a.test",)))
    await asyncio.wait_for(held, timeout=5)
    assert prepared.series.rejected("cold_start")._value.get() == 0


async def test_a_held_request_is_refused_when_its_deadline_passes_first() -> None:
    clock = Clock()
    model_runtime = _runtime(clock)
    prepared = _prepared(model_runtime, BATCH)
    held = asyncio.create_task(
        activation.hold_for_engine(model_runtime, prepared, cold_start_s=5.0)
    )
    await asyncio.sleep(0)
    clock.now_s += 16.0
    model_runtime.update(model_runtime.record)  # something changed, but still no engine
    with pytest.raises(errors.GatewayError) as refused:
        await asyncio.wait_for(held, timeout=5)
    assert refused.value.code == "cold_start"
    assert "none became ready within" in refused.value.message


async def test_holding_is_off_without_an_expected_start() -> None:
    model_runtime = _runtime(Clock())
    await activation.hold_for_engine(
        model_runtime, _prepared(model_runtime, INTERACTIVE), cold_start_s=0.0
    )
