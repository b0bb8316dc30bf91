"""A model's runtime: dispatch through the scheduler, retries after engine failures, shutdown."""

from __future__ import annotations

import httpx
import pytest

from sloserve.gateway import classify, datastore, runtime
from sloserve.scheduling import outcomes, policy, slo

STANDARD = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)
ENGINES = ("http://a.test", "http://b.test")


def make_runtime(*, max_num_seqs: int = 8) -> runtime.ModelRuntime:
    definition = datastore.ModelDefinition(
        classes=classify.ModelClasses(
            model="m", classes={"standard": STANDARD}, default_class="standard"
        ),
        profile="synthetic",
        max_num_seqs=max_num_seqs,
    )
    key = datastore.SourceKey(namespace="", name="m", static=True)
    record = datastore.ModelRecord(labels=key.labels("m"), definition=definition, engines=ENGINES)
    return runtime.ModelRuntime(
        record=record,
        policy_config=policy.preset("deadline"),
        latency=None,
        clock=runtime.MonotonicClock(),
        client=httpx.AsyncClient(),
        recheck_interval_s=0.02,
        scrape_interval_s=1.0,
        failure_cooldown_s=5.0,
    )


def request(request_id: str, model_runtime: runtime.ModelRuntime) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=STANDARD,
        arrival_s=model_runtime.clock.now(),
        prompt_tokens=10,
        max_tokens=10,
    )


async def test_an_admitted_request_is_dispatched_at_once_when_an_engine_has_room() -> None:
    model_runtime = make_runtime()
    assert isinstance(model_runtime.submit(request("r1", model_runtime)), outcomes.Admitted)
    dispatch = await model_runtime.wait_for_engine("r1")
    assert dispatch.engine_id in ENGINES
    assert model_runtime.ledgers[dispatch.engine_id].inflight == 1


async def test_an_engine_failure_sends_the_request_to_the_other_engine() -> None:
    model_runtime = make_runtime()
    model_runtime.submit(request("r1", model_runtime))
    first = await model_runtime.wait_for_engine("r1")
    model_runtime.engine_failed("r1", first.engine_id)
    second = await model_runtime.wait_for_engine("r1")
    assert second.engine_id != first.engine_id
    assert not model_runtime.ledgers[first.engine_id].healthy()


async def test_stopping_rejects_what_still_waits_and_keeps_what_runs() -> None:
    model_runtime = make_runtime(max_num_seqs=1)
    for request_id in ("r1", "r2", "r3"):
        model_runtime.submit(request(request_id, model_runtime))
    running = [model_runtime.scheduler.running.get(r) for r in ("r1", "r2", "r3")]
    assert sum(engine is not None for engine in running) == 2
    await model_runtime.stop()
    with pytest.raises(runtime.RequestRejectedError) as rejected:
        await model_runtime.wait_for_engine("r3")
    assert rejected.value.rejection.reason is outcomes.RejectReason.NO_ENGINES
    finished = model_runtime.finish("r1", outcomes.FinishOutcome.SERVED, output_tokens=3)
    assert finished is not None


async def test_a_cancelled_queued_request_leaves_the_queue() -> None:
    model_runtime = make_runtime(max_num_seqs=1)
    for request_id in ("r1", "r2", "r3"):
        model_runtime.submit(request(request_id, model_runtime))
    assert [r.request_id for r in model_runtime.scheduler.queued] == ["r3"]
    finished = model_runtime.cancel("r3")
    assert finished is not None
    assert finished.outcome is outcomes.FinishOutcome.CANCELLED
    assert model_runtime.scheduler.queued == ()
