import pytest

from sloserve.scheduling import engine_state, outcomes, routing


def _engine(engine_id, *, running=0, tpot_s=0.05, context=1000, **fields):
    requests = tuple(
        engine_state.RunningRequest(
            request_id=f"{engine_id}-{i}", tpot_s=tpot_s, context_tokens=context
        )
        for i in range(running)
    )
    fields.setdefault("max_num_seqs", 256)
    return engine_state.EngineState(engine_id=engine_id, running=requests, **fields)


def _route(request, engines, latency, *, now_s=0.0, output_tokens=100, **settings):
    return routing.by_predicted_completion(
        request=request,
        engines=engines,
        now_s=now_s,
        output_tokens=output_tokens,
        settings=routing.CompletionRouting(latency=latency, **settings),
    )


def test_picks_the_engine_with_the_earliest_predicted_completion(make_request, latency):
    engines = [_engine("busy", running=150), _engine("idle")]

    placement = _route(make_request("r", prompt_tokens=1000), engines, latency)

    assert isinstance(placement, routing.Placement)
    assert placement.engine_id == "idle"
    expected_ttft = latency.prefill_time_s(1000) + 0.05
    assert placement.predicted_ttft_s == pytest.approx(expected_ttft)
    assert placement.predicted_completion_s == pytest.approx(
        expected_ttft + 100 * latency.decode_step_time_s(1, 1000)
    )


def test_slowdown_can_make_the_less_loaded_engine_the_worse_choice(make_request, latency):
    engines = [_engine("crowded-node", slowdown=4.0), _engine("quiet-node", running=20)]

    placement = _route(make_request("r"), engines, latency)

    assert isinstance(placement, routing.Placement)
    assert placement.engine_id == "quiet-node"


@pytest.mark.parametrize(
    "full",
    [
        {"running": 4, "max_num_seqs": 4},
        {"kv_free_tokens": 2500, "queued_prefill_tokens": 2000},
        {"running": 5, "waiting_requests": 5},
    ],
    ids=["max-num-seqs", "kv-cache", "waiting-depth"],
)
def test_engines_without_room_are_skipped(make_request, latency, full):
    engines = [_engine("full", **full), _engine("free", running=30)]

    placement = _route(make_request("r", prompt_tokens=1000), engines, latency, max_waiting=5)

    assert isinstance(placement, routing.Placement)
    assert placement.engine_id == "free"


def test_waits_when_every_engine_is_full(make_request, latency):
    decision = _route(make_request("r"), [_engine("e0", running=4, max_num_seqs=4)], latency)

    assert isinstance(decision, routing.Wait)
    assert "full" in decision.reason


def test_waits_when_the_tpot_guard_holds_back_on_a_busy_engine(make_request, latency, classes):
    busy = _engine("e0", running=300, tpot_s=0.03, max_num_seqs=1024)

    decision = _route(make_request("r", slo_class=classes.standard), [busy], latency)

    assert isinstance(decision, routing.Wait)
    assert "TPOT guard" in decision.reason


def test_without_the_tpot_guard_the_busy_engine_is_used(make_request, latency, classes):
    busy = _engine("e0", running=300, tpot_s=0.03, max_num_seqs=1024)

    decision = _route(
        make_request("r", slo_class=classes.standard), [busy], latency, use_tpot_guard=False
    )

    assert isinstance(decision, routing.Placement)


def test_a_tpot_no_idle_engine_can_meet_is_unattainable(make_request, latency):
    decision = _route(make_request("r", tpot_target_s=0.005), [_engine("e0")], latency)

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.TPOT_UNATTAINABLE
    assert decision.predicted_ttft_s is None


def test_a_deadline_no_idle_engine_can_meet_is_unattainable(make_request, latency):
    request = make_request("r", prompt_tokens=1000, arrival_s=0.0)

    decision = _route(request, [_engine("e0", running=10)], latency, now_s=0.49)

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    assert decision.predicted_ttft_s == pytest.approx(latency.prefill_time_s(1000) + 0.05)
    assert decision.at_s == pytest.approx(0.49)


def test_ttft_that_fits_only_after_the_backlog_drains_means_wait(make_request, latency):
    backlogged = _engine("e0", running=10, queued_prefill_tokens=30_000)

    decision = _route(make_request("r", prompt_tokens=1000), [backlogged], latency)

    assert isinstance(decision, routing.Wait)
    assert "TTFT" in decision.reason


def test_least_loaded_picks_the_engine_with_fewest_requests(make_request):
    engines = [_engine("e0", running=3), _engine("e1", running=1), _engine("e2", running=1)]

    placement = routing.least_loaded(
        request=make_request("r"), engines=engines, hold_when_saturated=True, max_waiting=None
    )

    assert placement == routing.Placement(engine_id="e1")


def test_least_loaded_holds_only_when_asked(make_request):
    engines = [_engine("e0", running=2, max_num_seqs=2)]

    held = routing.least_loaded(
        request=make_request("r"), engines=engines, hold_when_saturated=True, max_waiting=None
    )
    forwarded = routing.least_loaded(
        request=make_request("r"), engines=engines, hold_when_saturated=False, max_waiting=None
    )

    assert isinstance(held, routing.Wait)
    assert forwarded == routing.Placement(engine_id="e0")
