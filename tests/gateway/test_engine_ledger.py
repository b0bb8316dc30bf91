"""In-flight accounting per engine, corrected by the engine's own metrics."""

from __future__ import annotations

from sloserve.engine import synthetic_profile
from sloserve.gateway import engine_ledger, engine_metrics
from sloserve.scheduling import latency_fit, slo

STANDARD = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)


def request(request_id: str, prompt_tokens: int = 100, max_tokens: int = 10) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=STANDARD,
        arrival_s=0.0,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
    )


def ledger(max_num_seqs: int = 8, **options: object) -> engine_ledger.EngineLedger:
    return engine_ledger.EngineLedger(
        "http://e", max_num_seqs=max_num_seqs, failure_cooldown_s=5.0, **options
    )


def send(engine: engine_ledger.EngineLedger, *requests: slo.Request, due_s: float = 1.0) -> None:
    for sent in requests:
        engine.add(sent, first_token_due_s=due_s)


def test_requests_sent_to_free_slots_run_at_once_streamed_or_not() -> None:
    engine = ledger(max_num_seqs=8)
    send(engine, *(request(f"r{i}") for i in range(8)))

    state = engine.snapshot(external_tpot_s=0.05, now_s=0.5)

    # no first token seen yet, but the engine had a slot for each: none waits
    assert len(state.running) == 8
    assert state.waiting_requests == 0
    assert not state.has_sequence_room(max_waiting=5)
    # their prompts are still to prefill until their first tokens are due
    assert state.queued_prefill_tokens == 800


def test_requests_beyond_the_slots_wait_the_newest_first() -> None:
    engine = ledger(max_num_seqs=2)
    send(engine, request("a", 100), request("b", 200), request("c", 300), request("d", 400))

    state = engine.snapshot(external_tpot_s=0.05, now_s=2.0)

    assert state.waiting_requests == 2
    # a and b are past their predicted first tokens; c and d wait, their prompts queued
    assert state.queued_prefill_tokens == 700


def test_a_streams_first_token_ends_its_prefill_and_its_context_grows() -> None:
    engine = ledger()
    send(engine, request("a", 100), request("b", 50))
    engine.progress("a", generated_tokens=3)

    state = engine.snapshot(external_tpot_s=0.05, now_s=0.5)

    assert state.queued_prefill_tokens == 50
    assert {(r.context_tokens, r.generated_tokens) for r in state.running} == {(103, 3), (50, 0)}


def test_a_non_streamed_requests_tokens_are_estimated_from_the_decode_step() -> None:
    latency = latency_fit.fit_latency_model(synthetic_profile.build()).model
    engine = ledger(latency=latency)
    send(engine, request("a", 100, max_tokens=500), due_s=1.0)
    step_s = latency.decode_step_time_s(1, 100)

    before = engine.snapshot(external_tpot_s=0.05, now_s=0.9)
    after = engine.snapshot(external_tpot_s=0.05, now_s=1.0 + 40.5 * step_s)

    assert before.running[0].generated_tokens == 0
    assert after.running[0].generated_tokens == 40
    assert after.queued_prefill_tokens == 0


def test_load_the_gateway_did_not_send_is_added_as_external_requests() -> None:
    engine = ledger()
    send(engine, request("a"))
    engine.observe(engine_metrics.EngineLoad(running=3, waiting=1, kv_cache_usage=None), now_s=1.0)

    state = engine.snapshot(external_tpot_s=0.05, now_s=100.0)

    assert len(state.running) == 4
    assert sum(1 for r in state.running if r.tpot_s == 0.05) == 3
    # the engine had slots for all four: its one waiting request waits for another reason,
    # and the gateway's own has been running since its first token was due
    assert state.waiting_requests == 1


def test_waits_the_slots_do_not_explain_stay_until_the_next_scrape() -> None:
    engine = ledger(max_num_seqs=8)
    send(engine, request("a"), request("b"), request("c"))
    # the engine's KV cache is full: two of the gateway's three wait, though slots are free
    engine.observe(engine_metrics.EngineLoad(running=1, waiting=2, kv_cache_usage=0.99), now_s=1.0)
    send(engine, request("d", 40))

    state = engine.snapshot(external_tpot_s=0.05, now_s=2.0)

    assert state.waiting_requests == 2
    assert state.queued_prefill_tokens == 140


def test_an_engine_reporting_less_than_the_gateway_sent_keeps_the_gateways_count() -> None:
    engine = ledger()
    send(engine, request("a"), request("b"))
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
    assert not engine.reachable()
    engine.record_failure(now_s=10.0)
    idle = engine_metrics.EngineLoad(running=0, waiting=0, kv_cache_usage=None)
    engine.observe(idle, now_s=12.0)
    assert not engine.healthy()
    assert not engine.reachable()
    engine.observe(idle, now_s=15.0)
    assert engine.healthy()
    assert engine.reachable()


def test_one_failed_scrape_keeps_the_engine_and_three_in_a_row_take_it_out() -> None:
    engine = ledger()
    idle = engine_metrics.EngineLoad(running=0, waiting=0, kv_cache_usage=None)
    engine.observe(idle, now_s=0.0)
    assert not engine.record_scrape_failure(now_s=1.0)
    assert not engine.record_scrape_failure(now_s=2.0)
    assert engine.reachable()
    engine.observe(idle, now_s=3.0)  # a good scrape starts the count again
    assert not engine.record_scrape_failure(now_s=4.0)
    assert not engine.record_scrape_failure(now_s=5.0)
    assert engine.record_scrape_failure(now_s=6.0)
    assert not engine.reachable()
    # already out: a fourth failure is not news
    assert not engine.record_scrape_failure(now_s=7.0)


def test_removed_requests_leave_the_engine() -> None:
    engine = ledger()
    send(engine, request("a"))
    engine.remove("a")
    assert engine.inflight == 0
    assert engine.snapshot(external_tpot_s=0.05, now_s=100.0).running == ()


def test_growing_contexts_refresh_the_snapshot_only_after_a_while() -> None:
    engine = ledger(context_refresh_s=0.05)
    send(engine, request("a", 100))
    engine.progress("a", generated_tokens=1)
    first = engine.snapshot(external_tpot_s=0.05, now_s=1.0)
    engine.progress("a", generated_tokens=20)
    assert engine.snapshot(external_tpot_s=0.05, now_s=1.01) is first
    later = engine.snapshot(external_tpot_s=0.05, now_s=1.06)
    assert later.running[0].context_tokens == 120
    send(engine, request("b", 10))
    assert len(engine.snapshot(external_tpot_s=0.05, now_s=1.061).running) == 2


def test_a_request_is_alone_until_another_joins_its_engine() -> None:
    engine = ledger()
    engine.add(request("a"), first_token_due_s=1.0, sent_s=0.5)
    assert engine.solitude("a") == engine_ledger.Solitude(
        sent_s=0.5, alone_to_first_token=True, alone=True
    )
    engine.progress("a", generated_tokens=1)
    engine.add(request("b"), first_token_due_s=1.0)
    # "a" had its first token before "b" came: its prefill was alone, its decode was not
    assert engine.solitude("a") == engine_ledger.Solitude(
        sent_s=0.5, alone_to_first_token=True, alone=False
    )
    seen_b = engine.solitude("b")
    assert seen_b is not None
    assert not seen_b.alone_to_first_token
    assert not seen_b.alone
    engine.remove("a")
    engine.remove("b")
    engine.add(request("c"), first_token_due_s=1.0)
    seen_c = engine.solitude("c")
    assert seen_c is not None
    assert seen_c.alone
    assert engine.solitude("gone") is None


def test_requests_from_other_clients_end_a_requests_solitude() -> None:
    engine = ledger()
    engine.add(request("a"), first_token_due_s=1.0)
    engine.observe(engine_metrics.EngineLoad(running=2, waiting=0, kv_cache_usage=0.1), now_s=0.0)
    seen = engine.solitude("a")
    assert seen is not None
    assert not seen.alone_to_first_token
    assert not seen.alone
