"""Cold starts at the gateway. Scale from zero: a request for a model without engines waits for
one until its TTFT deadline, and is refused with 503 cold_start (never left hanging) when none
can serve it. Engines starting beside ready ones: a request the TTFT guard refuses is admitted
to a starting engine that can serve it in time, the rest keep the guard's refusal."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from sloserve.engine import synthetic_profile
from sloserve.gateway import classify, datastore, errors, metrics, runtime
from sloserve.gateway.serving import activation, admission
from sloserve.scheduling import latency_fit, outcomes, policy, rejections, slo

INTERACTIVE = slo.SLOClass(name="interactive", ttft_s=0.5, tpot_s=0.05)
BATCH = slo.SLOClass(name="batch", ttft_s=15.0, tpot_s=0.05)


class Clock:
    """A clock the test moves: the deadline arithmetic, not the wall, is under test."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def now(self) -> float:
        return self.now_s


def _runtime(
    clock: Clock,
    *engines: str,
    desired_replicas: int | None = None,
    start_time_s: float | None = None,
    default_start_time_s: float = 0.0,
) -> runtime.ModelRuntime:
    definition = datastore.ModelDefinition(
        classes=classify.ModelClasses(
            model="m",
            classes={"interactive": INTERACTIVE, "batch": BATCH},
            default_class="batch",
        ),
        profile="synthetic",
        max_num_seqs=8,
        desired_replicas=desired_replicas,
        start_time_s=start_time_s,
    )
    key = datastore.SourceKey(namespace="", name="m", static=True)
    record = datastore.ModelRecord(labels=key.labels("m"), definition=definition, engines=engines)
    return runtime.ModelRuntime(
        record=record,
        policy_config=policy.preset("deadline"),
        latency=_LATENCY,
        clock=clock,
        client=httpx.AsyncClient(),
        recheck_interval_s=0.02,
        scrape_interval_s=1.0,
        failure_cooldown_s=5.0,
        default_start_time_s=default_start_time_s,
    )


_LATENCY = latency_fit.fit_latency_model(synthetic_profile.build()).model


def _prepared(
    model_runtime: runtime.ModelRuntime, slo_class: slo.SLOClass, request_id: str = "r1"
) -> admission.Prepared:
    gateway_metrics = metrics.GatewayMetrics()
    labels = model_runtime.record.labels.with_class(slo_class.name)
    return admission.Prepared(
        request=slo.Request(
            request_id=request_id,
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


async def test_a_measured_start_replaces_the_setting() -> None:
    model_runtime = _runtime(Clock(), start_time_s=42.0)
    prepared = _prepared(model_runtime, INTERACTIVE)
    with pytest.raises(errors.GatewayError) as refused:
        await activation.hold_for_engine(model_runtime, prepared, cold_start_s=5.0)
    assert "starting one takes about 42 s" in refused.value.message
    assert refused.value.headers["Retry-After"] == "42"


def _refused_by_the_guard(prepared: admission.Prepared) -> outcomes.Rejected:
    return rejections.ttft_unattainable(
        prepared.request, predicted_ttft_s=30.0, now_s=prepared.request.arrival_s
    )


async def test_a_request_a_starting_engine_serves_in_time_waits_for_it_and_is_admitted() -> None:
    clock = Clock()
    # One engine ready, two asked for, the second expected 5 s from now.
    model_runtime = _runtime(clock, "http://a.test", desired_replicas=2, default_start_time_s=5.0)
    prepared = _prepared(model_runtime, BATCH)
    held = asyncio.create_task(
        activation.admit_to_coming(model_runtime, prepared, _refused_by_the_guard(prepared))
    )
    await asyncio.sleep(0)
    assert not held.done()
    assert model_runtime.coming.engines[0].promised_s > 0
    clock.now_s += 5.0
    model_runtime.update(
        dataclasses.replace(model_runtime.record, engines=("http://a.test", "http://b.test"))
    )
    decision = await asyncio.wait_for(held, timeout=5)
    assert isinstance(decision, outcomes.Admitted)
    assert model_runtime.coming.engines == ()


async def test_a_request_due_before_the_starting_engine_keeps_the_guards_refusal() -> None:
    model_runtime = _runtime(
        Clock(), "http://a.test", desired_replicas=2, default_start_time_s=60.0
    )
    prepared = _prepared(model_runtime, BATCH)  # TTFT 15 s, the engine comes in 60
    refusal = _refused_by_the_guard(prepared)
    decision = await activation.admit_to_coming(model_runtime, prepared, refusal)
    assert decision is refusal
    assert model_runtime.coming.engines[0].promised_s == 0.0


async def test_a_starting_engine_takes_only_what_it_can_prefill_in_time() -> None:
    # Prompts whose prefill takes several seconds on the synthetic profile: the engine, ready
    # in 5 s, gives the first of them its first token within the 15 s TTFT, not every one.
    model_runtime = _runtime(Clock(), "http://a.test", desired_replicas=2, default_start_time_s=5.0)
    prefill_s = _LATENCY.prompt_prefill_time_s(4000)
    fitting = int((BATCH.ttft_s - 5.0) // prefill_s)
    assert 1 <= fitting < 500
    promised = []
    for index in range(fitting + 1):
        request = dataclasses.replace(
            _prepared(model_runtime, BATCH, f"r{index}").request, prompt_tokens=4000
        )
        promised.append(model_runtime.promise_coming(request) is not None)
    assert promised == [True] * fitting + [False]


async def test_a_starting_engine_that_does_not_come_in_time_leaves_the_refusal() -> None:
    clock = Clock()
    model_runtime = _runtime(clock, "http://a.test", desired_replicas=2, default_start_time_s=5.0)
    prepared = _prepared(model_runtime, BATCH)
    refusal = _refused_by_the_guard(prepared)
    held = asyncio.create_task(activation.admit_to_coming(model_runtime, prepared, refusal))
    await asyncio.sleep(0)
    clock.now_s += 16.0
    model_runtime.update(model_runtime.record)  # something changed, still one engine
    assert await asyncio.wait_for(held, timeout=5) is refusal


async def test_other_refusals_and_admissions_pass_unchanged() -> None:
    model_runtime = _runtime(Clock(), "http://a.test", desired_replicas=2, default_start_time_s=5.0)
    prepared = _prepared(model_runtime, BATCH)
    full = rejections.queue_full(
        prepared.request, max_queue=1, per_class=False, now_s=prepared.request.arrival_s
    )
    assert await activation.admit_to_coming(model_runtime, prepared, full) is full
    assert model_runtime.coming.engines[0].promised_s == 0.0


async def test_without_a_start_time_no_engine_counts_as_starting() -> None:
    model_runtime = _runtime(Clock(), "http://a.test", desired_replicas=3)
    assert model_runtime.coming.engines == ()
    measured = _runtime(Clock(), "http://a.test", desired_replicas=3, start_time_s=7.0)
    assert [engine.ready_at_s for engine in measured.coming.engines] == [107.0, 107.0]


async def test_a_measured_start_holds_even_with_the_setting_off() -> None:
    model_runtime = _runtime(Clock(), start_time_s=30.0)
    with pytest.raises(errors.GatewayError) as refused:
        await activation.hold_for_engine(
            model_runtime, _prepared(model_runtime, INTERACTIVE), cold_start_s=0.0
        )
    assert refused.value.code == "cold_start"
