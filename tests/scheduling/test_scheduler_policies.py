import dataclasses

import pytest

from sloserve.scheduling import clock, engine_state, outcomes, policy, request_queue, scheduler

MODEL = "llama-8b"


def _scheduler(name, latency, now_s=0.0, **overrides):
    config = dataclasses.replace(policy.preset(name), **overrides)
    source = clock.ManualClock(now_s)
    return (
        scheduler.Scheduler(
            model=MODEL, policy_config=config, clock_source=source, latency=latency
        ),
        source,
    )


def _engine(engine_id="e0", *, running=0, max_num_seqs=256, **fields):
    requests = tuple(
        engine_state.RunningRequest(request_id=f"{engine_id}-{i}", tpot_s=0.05, context_tokens=500)
        for i in range(running)
    )
    return engine_state.EngineState(
        engine_id=engine_id, max_num_seqs=max_num_seqs, running=requests, **fields
    )


def _ids(decisions, kind):
    return [d.request.request_id for d in decisions if isinstance(d, kind)]


def test_fcfs_forwards_everything_in_arrival_order_and_never_rejects(
    make_request, latency, classes
):
    sched, _ = _scheduler("fcfs", latency)
    full = [_engine("e0", running=4, max_num_seqs=4), _engine("e1", running=4, max_num_seqs=4)]
    for index, slo_class in enumerate([classes.batch, classes.interactive, classes.standard]):
        request = make_request(
            f"r{index}", slo_class=slo_class, arrival_s=0.0, prompt_tokens=50_000
        )
        assert isinstance(sched.submit(request, full), outcomes.Admitted)

    decisions = sched.dispatch(full)

    assert _ids(decisions, outcomes.Dispatch) == ["r0", "r1", "r2"]
    assert [d.engine_id for d in decisions] == ["e0", "e1", "e0"]
    assert sched.queued == ()


def test_deadline_policy_holds_requests_while_engines_are_saturated_and_releases_by_deadline(
    make_request, latency, classes
):
    sched, source = _scheduler("deadline", latency)
    for index, slo_class in enumerate([classes.batch, classes.standard, classes.interactive]):
        sched.submit(make_request(f"r{index}", slo_class=slo_class), [_engine()])

    held = sched.dispatch([_engine(running=2, max_num_seqs=2)])
    source.advance(1.0)
    released = sched.dispatch([_engine(running=0, max_num_seqs=2)])

    assert held == []
    assert _ids(released, outcomes.Dispatch) == ["r2", "r1"]
    assert [r.request_id for r in sched.queued] == ["r0"]


def test_deadline_policy_sends_what_fits_the_free_kv_past_larger_requests_ahead(
    make_request, latency, classes
):
    sched, _ = _scheduler("deadline", latency)
    # queue order (least deadline first): big0, small1, big2, small3, medium4
    sizes = {"big0": 3000, "small1": 200, "big2": 2500, "small3": 300, "medium4": 900}
    for index, (request_id, prompt_tokens) in enumerate(sizes.items()):
        request = make_request(
            request_id,
            slo_class=classes.interactive,
            arrival_s=index * 0.01,
            prompt_tokens=prompt_tokens,
        )
        sched.submit(request, [_engine()])
    # room for 1000 prompt tokens on e0 and 400 on e1: small1 goes to e0 (fewer requests), then
    # small3 to e1 (as many requests, fewer prompt tokens queued); medium4 fits neither (800 and
    # 100 left) and the big ones never did
    engines = [
        _engine("e0", kv_free_tokens=1000),
        _engine("e1", running=1, kv_free_tokens=400),
    ]

    decisions = sched.dispatch(engines)

    assert [(d.request.request_id, d.engine_id) for d in decisions] == [
        ("small1", "e0"),
        ("small3", "e1"),
    ]
    assert [request.request_id for request in sched.queued] == ["big0", "big2", "medium4"]


def test_deadline_policy_never_rejects_a_late_request(make_request, latency):
    sched, source = _scheduler("deadline", latency)
    sched.submit(make_request("late", prompt_tokens=100_000), [_engine()])
    source.advance(30.0)

    decisions = sched.dispatch([_engine()])

    assert _ids(decisions, outcomes.Dispatch) == ["late"]


def test_scorpio_admits_with_a_prediction_and_rejects_what_cannot_make_its_ttft(
    make_request, latency
):
    sched, _ = _scheduler("scorpio", latency)
    engines = [_engine()]

    first = sched.submit(make_request("r0", prompt_tokens=8000), engines)
    second = sched.submit(make_request("r1", prompt_tokens=16_000), engines)

    assert isinstance(first, outcomes.Admitted)
    assert first.predicted_ttft_s == pytest.approx(latency.prefill_time_s(8000) + 0.05)
    assert isinstance(second, outcomes.Rejected)
    assert second.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    assert second.predicted_ttft_s == pytest.approx(latency.prefill_time_s(24_000) + 0.05)
    assert second.retry_after_s == pytest.approx(second.predicted_ttft_s - 0.5)
    assert "'interactive'" in second.message
    assert "500 ms target" in second.message
    assert not sched.holds("r1")


def test_scorpio_rejects_a_tpot_no_engine_can_meet_at_submit(make_request, latency):
    sched, _ = _scheduler("scorpio", latency)

    decision = sched.submit(make_request("r", tpot_target_s=0.004), [_engine()])

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.TPOT_UNATTAINABLE
    assert "4 ms per-token target" in decision.message


def test_hold_then_reject_rejects_queued_requests_whose_slack_runs_out_while_engines_are_full(
    make_request, latency, classes
):
    sched, source = _scheduler("scorpio", latency, predict_slot_waits=False)
    sched.submit(make_request("tight", prompt_tokens=2000), [_engine()])
    sched.submit(make_request("loose", prompt_tokens=2000, slo_class=classes.batch), [_engine()])
    full = [_engine(running=2, max_num_seqs=2)]

    assert sched.dispatch(full) == []
    source.advance(0.45)
    decisions = sched.dispatch(full)

    assert _ids(decisions, outcomes.Rejected) == ["tight"]
    (rejection,) = decisions
    assert rejection.at_s == pytest.approx(0.45)
    assert [r.request_id for r in sched.queued] == ["loose"]


def test_scorpio_rejects_at_once_what_full_engines_cannot_start_in_time(
    make_request, latency, classes
):
    sched, _ = _scheduler("scorpio", latency)
    # two slots, both held by requests the estimator (no outputs seen yet) gives 256 tokens to
    # go: a slot frees in about 256 decode steps
    full = [_engine(running=2, max_num_seqs=2)]
    tight = sched.submit(make_request("tight", prompt_tokens=2000), full)
    loose = sched.submit(make_request("loose", prompt_tokens=2000, slo_class=classes.batch), full)

    assert isinstance(tight, outcomes.Rejected)
    assert tight.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    # the wait for a slot is in the prediction, not only the prefill
    assert tight.predicted_ttft_s > 1.0
    assert tight.retry_after_s == pytest.approx(tight.predicted_ttft_s - 0.5)
    assert isinstance(loose, outcomes.Admitted)
    assert sched.dispatch(full) == []


def test_scorpio_spreads_one_dispatch_over_engines_within_their_room(
    make_request, latency, classes
):
    sched, _ = _scheduler("scorpio", latency)
    engines = [_engine("e0"), _engine("e1")]
    for index in range(12):
        sched.submit(
            make_request(f"r{index:02d}", slo_class=classes.batch, prompt_tokens=500), engines
        )

    decisions = sched.dispatch(engines)

    placed = [d.engine_id for d in decisions if isinstance(d, outcomes.Dispatch)]
    # alternating, as far as each engine's prefill budget goes, and the rest waits for it
    assert placed[:4] == ["e0", "e1", "e0", "e1"]
    assert placed.count("e0") == placed.count("e1")
    assert 0 < len(sched.queued) == 12 - len(placed)
    assert set(sched.running.values()) == {"e0", "e1"}


def test_without_engines_requests_are_rejected_as_no_engines(make_request, latency):
    sched, _ = _scheduler("deadline", latency)
    sched.submit(make_request("queued"), [_engine()])

    at_submit = sched.submit(make_request("new"), [])
    at_dispatch = sched.dispatch([])

    assert isinstance(at_submit, outcomes.Rejected)
    assert at_submit.reason is outcomes.RejectReason.NO_ENGINES
    assert _ids(at_dispatch, outcomes.Rejected) == ["queued"]
    assert at_dispatch[0].reason is outcomes.RejectReason.NO_ENGINES
    assert sched.queued == ()


def test_a_full_queue_rejects_newcomers(make_request, latency):
    sched, _ = _scheduler("deadline", latency, max_queue=2)
    for index in range(2):
        sched.submit(make_request(f"r{index}"), [_engine()])

    decision = sched.submit(make_request("r2"), [_engine()])

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.QUEUE_FULL
    assert "2 requests waiting" in decision.message


def test_served_output_lengths_feed_the_estimator(make_request, latency):
    sched, source = _scheduler("fcfs", latency)
    sched.submit(make_request("r"), [_engine()])
    sched.dispatch([_engine()])
    source.advance(2.0)

    finished = sched.finish("r", outcomes.FinishOutcome.SERVED, output_tokens=123)

    assert finished.engine_id == "e0"
    assert finished.at_s == pytest.approx(2.0)
    assert finished.output_tokens == 123
    assert sched.output_lengths.observations == 1
    assert not sched.holds("r")


def test_failed_and_cancelled_requests_do_not_teach_the_estimator(make_request, latency):
    sched, _ = _scheduler("fcfs", latency)
    for name in ("a", "b"):
        sched.submit(make_request(name), [_engine()])
    sched.dispatch([_engine()])

    sched.finish("a", outcomes.FinishOutcome.FAILED, output_tokens=3)
    sched.finish("b", outcomes.FinishOutcome.CANCELLED, output_tokens=7)

    assert sched.output_lengths.observations == 0


def test_a_queued_request_can_be_cancelled_but_not_served(make_request, latency):
    sched, _ = _scheduler("deadline", latency)
    sched.submit(make_request("r"), [_engine()])

    with pytest.raises(ValueError, match="still queued: only 'cancelled'"):
        sched.finish("r", outcomes.FinishOutcome.SERVED)
    finished = sched.finish("r", outcomes.FinishOutcome.CANCELLED)

    assert finished.engine_id is None
    assert sched.queued == ()


def test_a_request_ends_only_once(make_request, latency):
    sched, _ = _scheduler("fcfs", latency)
    sched.submit(make_request("r"), [_engine()])
    sched.dispatch([_engine()])
    sched.finish("r", outcomes.FinishOutcome.SERVED)

    with pytest.raises(KeyError, match="already ended"):
        sched.finish("r", outcomes.FinishOutcome.SERVED)


def test_requeue_returns_a_failed_dispatch_to_the_queue_with_its_deadline(make_request, latency):
    sched, source = _scheduler("scorpio", latency)
    sched.submit(make_request("r", prompt_tokens=500), [_engine("e0")])
    (first,) = sched.dispatch([_engine("e0")])
    source.advance(0.1)

    sched.requeue("r")
    (second,) = sched.dispatch([_engine("e1")])

    assert isinstance(first, outcomes.Dispatch)
    assert isinstance(second, outcomes.Dispatch)
    assert second.engine_id == "e1"
    assert second.request.deadline_s == pytest.approx(0.5)
    with pytest.raises(KeyError, match="not running"):
        sched.requeue("missing")


def test_requests_for_another_model_or_a_held_id_are_refused(make_request, latency):
    sched, _ = _scheduler("deadline", latency)
    sched.submit(make_request("r"), [_engine()])

    with pytest.raises(ValueError, match="is for model 'other'"):
        sched.submit(make_request("x", model="other"), [_engine()])
    with pytest.raises(ValueError, match="'r' is already queued or running"):
        sched.submit(make_request("r"), [_engine()])


def test_two_snapshots_of_one_engine_are_refused(make_request, latency):
    sched, _ = _scheduler("deadline", latency)
    sched.submit(make_request("r"), [_engine()])

    with pytest.raises(ValueError, match="'e0' appears twice"):
        sched.dispatch([_engine("e0"), _engine("e0")])


def test_predicting_policies_need_a_latency_model():
    with pytest.raises(ValueError, match="pass latency="):
        scheduler.Scheduler(
            model=MODEL, policy_config=policy.preset("scorpio"), clock_source=clock.ManualClock()
        )


def test_fcfs_needs_no_latency_model(make_request):
    sched = scheduler.Scheduler(
        model=MODEL, policy_config=policy.preset("fcfs"), clock_source=clock.ManualClock()
    )
    sched.submit(make_request("r"), [_engine()])

    assert _ids(sched.dispatch([_engine()]), outcomes.Dispatch) == ["r"]


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="choose one of fcfs, deadline, scorpio"):
        policy.preset("sjf")


def test_tpot_guard_without_the_routing_that_applies_it_is_refused():
    with pytest.raises(ValueError, match="use_tpot_guard needs routing='predicted_completion'"):
        policy.PolicyConfig(
            name="odd",
            order=request_queue.QueueOrder.DEADLINE,
            routing=policy.Routing.LEAST_LOADED,
            use_tpot_guard=True,
        )


def test_the_queue_length_counts_waiting_requests_without_copying_them(make_request, latency):
    sched, _ = _scheduler("deadline", latency)
    assert sched.queue_length == 0
    for index in range(3):
        sched.submit(make_request(f"r{index}"), [_engine()])
    assert sched.queue_length == len(sched.queued) == 3
    sched.dispatch([_engine(kv_free_tokens=1000)])
    assert sched.queue_length == len(sched.queued) == 2


def test_queue_limits_per_model_and_per_class_reject_with_the_limit_in_a_field(
    make_request, latency, classes
):
    sched, _ = _scheduler("deadline", latency, max_queue=3, max_queue_per_class={"interactive": 1})
    full = [_engine(running=2, max_num_seqs=2)]

    first = sched.submit(make_request("i0"), full)
    second = sched.submit(make_request("i1"), full)
    batch = [sched.submit(make_request(f"b{i}", slo_class=classes.batch), full) for i in range(3)]

    assert isinstance(first, outcomes.Admitted)
    assert isinstance(second, outcomes.Rejected)
    assert second.reason is outcomes.RejectReason.QUEUE_FULL
    assert second.details == {"queue_limit": 1, "queue_scope": "class"}
    assert [type(d).__name__ for d in batch] == ["Admitted", "Admitted", "Rejected"]
    assert batch[2].details == {"queue_limit": 3, "queue_scope": "model"}
    # the message is the same whatever the queue holds: the numbers are in fields
    assert "i1" not in second.message


def test_a_per_class_limit_below_one_is_refused():
    with pytest.raises(ValueError, match=r"max_queue_per_class\['batch'\] must be at least 1"):
        dataclasses.replace(policy.preset("deadline"), max_queue_per_class={"batch": 0})


def test_session_affinity_in_a_custom_profile_follows_the_conversation(make_request, latency):
    from sloserve.scheduling import slo
    from sloserve.scheduling.routing import plugins

    spec = plugins.RoutingSpec.from_mapping(
        {
            "filters": [{"type": "room"}],
            "scorers": [{"type": "load", "weight": 1}, {"type": "session-affinity", "weight": 2}],
        }
    )
    sched, source = _scheduler("deadline", latency, routing_spec=spec)
    base = make_request("t1")

    def turn(request_id):
        return slo.Request(
            request_id=request_id,
            model=base.model,
            slo_class=base.slo_class,
            arrival_s=source.now(),
            prompt_tokens=100,
            max_tokens=10,
            session_id="chat-1",
        )

    engines = [_engine("e0"), _engine("e1", running=3)]
    sched.submit(turn("t1"), engines)
    (first,) = sched.dispatch(engines)
    sched.finish("t1", outcomes.FinishOutcome.SERVED, output_tokens=10)
    # the least loaded engine is now the other one, but the session goes back to its engine
    busier = [_engine("e0", running=2), _engine("e1", running=1)]
    sched.submit(turn("t2"), busier)
    (second,) = sched.dispatch(busier)

    assert first.engine_id == second.engine_id == "e0"


def test_at_arrival_admission_keeps_headroom_the_recheck_does_not_ask_for(
    make_request, latency, classes
):
    # a full engine whose slot frees in 256 decode steps (the estimator's prior): a request
    # predicted a little inside its slack is refused at arrival, yet the same prediction for a
    # request already queued is no reason to reject it
    full = [_engine(running=2, max_num_seqs=2)]
    probe_sched, _ = _scheduler("scorpio", latency, admission_headroom=0.0)
    probe = probe_sched.submit(
        make_request("probe", prompt_tokens=100, slo_class=classes.batch), full
    )
    assert isinstance(probe, outcomes.Admitted)
    predicted_s = probe.predicted_ttft_s
    assert predicted_s is not None
    # a target 10% above the prediction: inside the slack, not inside a 25% headroom
    target_s = predicted_s * 1.1

    strict, _ = _scheduler("scorpio", latency)
    lenient, _ = _scheduler("scorpio", latency, admission_headroom=0.0)
    refused = strict.submit(make_request("r", prompt_tokens=100, ttft_target_s=target_s), full)
    admitted = lenient.submit(make_request("r", prompt_tokens=100, ttft_target_s=target_s), full)

    assert isinstance(refused, outcomes.Rejected)
    assert refused.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    assert isinstance(admitted, outcomes.Admitted)
    assert lenient.dispatch(full) == []
    assert [r.request_id for r in lenient.queued] == ["r"]


def test_an_admission_headroom_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="admission_headroom must be at least 0 and below 1"):
        dataclasses.replace(policy.preset("scorpio"), admission_headroom=1.0)


def test_a_replaced_latency_model_decides_from_then_on(make_request, latency, classes):
    # A 2000-token interactive prompt: rejected on a model whose prefill is 40x as slow (1.7 s
    # against 500 ms), admitted on the true one (43 ms).
    slow = latency.scaled(prefill=40.0, decode=1.0)
    sched, _ = _scheduler("scorpio", slow)
    request = make_request("r0", slo_class=classes.interactive, prompt_tokens=2_000)

    refused = sched.submit(request, [_engine()])
    sched.set_latency(latency)
    admitted = sched.submit(
        make_request("r1", slo_class=classes.interactive, prompt_tokens=2_000), [_engine()]
    )

    assert isinstance(refused, outcomes.Rejected)
    assert isinstance(admitted, outcomes.Admitted)
