"""In-flight accounting per engine, corrected by the engine's own metrics."""

from __future__ import annotations

from sloserve.gateway import engine_ledger, engine_metrics
from sloserve.scheduling import slo

STANDARD = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)


def request(request_id: str, prompt_tokens: int = 100) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=STANDARD,
        arrival_s=0.0,
        prompt_tokens=prompt_tokens,
        max_tokens=10,
    )


def ledger() -> engine_ledger.EngineLedger:
    return engine_ledger.EngineLedger("http://e", max_num_seqs=8, failure_cooldown_s=5.0)


def test_own_requests_wait_until_their_first_token_then_decode() -> None:
    engine = ledger()
    engine.add(request("a", 100))
    engine.add(request("b", 50))
    engine.progress("a", generated_tokens=3)
    state = engine.snapshot(external_tpot_s=0.05, now_s=100.0)
    assert len(state.running) == 2
    assert state.waiting_requests == 1
    assert state.queued_prefill_tokens == 50
    assert {r.context_tokens for r in state.running} == {103, 50}


def test_load_the_gateway_did_not_send_is_added_as_external_requests() -> None:
    engine = ledger()
    engine.add(request("a"))
    engine.observe(engine_metrics.EngineLoad(running=3, waiting=1, kv_cache_usage=None), now_s=1.0)
    state = engine.snapshot(external_tpot_s=0.05, now_s=100.0)
    assert len(state.running) == 4
    assert sum(1 for r in state.running if r.tpot_s == 0.05) == 3
    assert state.waiting_requests == 1 + 0


def test_an_engine_reporting_less_than_the_gateway_sent_keeps_the_gateways_count() -> None:
    engine = ledger()
    engine.add(request("a"))
    engine.add(request("b"))
    engine.observe(engine_metrics.EngineLoad(running=0, waiting=0, kv_cache_usage=None), now_s=1.0)
    assert len(engine.snapshot(external_tpot_s=0.05, now_s=100.0).running) == 2


def test_free_kv_cache_comes_from_the_last_scrape() -> None:
    engine = ledger()
    load = engine_metrics.EngineLoad(
        running=0, waiting=0, kv_cache_usage=0.75, kv_capacity_tokens=4000
    )
    engine.observe(load, now_s=0.0)
    assert engine.snapshot(external_tpot_s=0.05, now_s=100.0).kv_free_tokens == 1000


def test_a_failed_engine_returns_only_after_its_cooldown_and_a_good_scrape() -> None:
    engine = ledger()
    engine.record_failure(now_s=10.0)
    idle = engine_metrics.EngineLoad(running=0, waiting=0, kv_cache_usage=None)
    engine.observe(idle, now_s=12.0)
    assert not engine.healthy()
    engine.observe(idle, now_s=15.0)
    assert engine.healthy()


def test_removed_requests_leave_the_engine() -> None:
    engine = ledger()
    engine.add(request("a"))
    engine.remove("a")
    assert engine.inflight == 0
    assert engine.snapshot(external_tpot_s=0.05, now_s=100.0).running == ()


def test_growing_contexts_refresh_the_snapshot_only_after_a_while() -> None:
    engine = engine_ledger.EngineLedger(
        "http://e", max_num_seqs=8, failure_cooldown_s=5.0, context_refresh_s=0.05
    )
    engine.add(request("a", 100))
    engine.progress("a", generated_tokens=1)
    first = engine.snapshot(external_tpot_s=0.05, now_s=1.0)
    engine.progress("a", generated_tokens=20)
    assert engine.snapshot(external_tpot_s=0.05, now_s=1.01) is first
    later = engine.snapshot(external_tpot_s=0.05, now_s=1.06)
    assert later.running[0].context_tokens == 120
    engine.add(request("b", 10))
    assert len(engine.snapshot(external_tpot_s=0.05, now_s=1.061).running) == 2


def test_requests_sent_before_a_scrape_wait_only_as_the_engine_says() -> None:
    engine = ledger()
    for request_id in ("a", "b", "c"):
        engine.add(request(request_id, 100))
    idle_queue = engine_metrics.EngineLoad(running=2, waiting=1, kv_cache_usage=None)
    engine.observe(idle_queue, now_s=1.0)
    engine.add(request("d", 10))
    state = engine.snapshot(external_tpot_s=0.05, now_s=1.0)
    assert len(state.running) == 4
    # one of a, b, c (the newest) still waits by the engine's word, and d was sent since
    assert state.waiting_requests == 2
    assert state.queued_prefill_tokens == 110
