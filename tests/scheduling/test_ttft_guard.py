import pytest

from sloserve.scheduling import engine_state, request_queue, ttft_guard

MARGIN_S = 0.05


def _idle(engine_id: str = "e0", **fields) -> engine_state.EngineState:
    return engine_state.EngineState(engine_id=engine_id, max_num_seqs=256, **fields)


def _walk(requests, engines, latency, now_s=0.0):
    return list(
        ttft_guard.predict_in_order(
            ordered=requests, engines=engines, latency=latency, now_s=now_s, margin_s=MARGIN_S
        )
    )


def _queue(*requests) -> request_queue.RequestQueue:
    queue = request_queue.RequestQueue()
    for request in requests:
        queue.push(request)
    return queue


def test_one_idle_engine_predicts_prefill_of_all_tokens_so_far_plus_margin(
    make_request, latency, classes
):
    requests = [
        make_request(f"r{index}", slo_class=classes.batch, prompt_tokens=1000) for index in range(3)
    ]

    predictions = _walk(requests, [_idle()], latency)

    expected = [latency.prefill_time_s(1000 * (index + 1)) + MARGIN_S for index in range(3)]
    assert [p.predicted_ttft_s for p in predictions] == pytest.approx(expected)
    assert all(p.attainable for p in predictions)


def test_rejected_request_adds_no_tokens_for_those_behind_it(make_request, latency, classes):
    kept = make_request("kept", prompt_tokens=500, slo_class=classes.interactive)
    # 40k tokens cannot be prefilled within 0.5 s: rejected, so it does not delay "after".
    doomed = make_request("doomed", prompt_tokens=40_000, slo_class=classes.interactive)
    after = make_request("after", prompt_tokens=500, slo_class=classes.standard)

    kept_p, doomed_p, after_p = _walk([kept, doomed, after], [_idle()], latency)

    assert kept_p.attainable
    assert not doomed_p.attainable
    assert doomed_p.predicted_ttft_s == pytest.approx(latency.prefill_time_s(40_500) + MARGIN_S)
    assert after_p.predicted_ttft_s == pytest.approx(latency.prefill_time_s(1000) + MARGIN_S)


def test_busy_engine_adds_a_decode_step_and_its_queued_prefill(make_request, latency):
    running = tuple(
        engine_state.RunningRequest(request_id=f"x{i}", tpot_s=0.05, context_tokens=2000)
        for i in range(8)
    )
    engine = _idle(running=running, waiting_requests=2, queued_prefill_tokens=3000)
    request = make_request("r", prompt_tokens=1000)

    (prediction,) = _walk([request], [engine], latency)

    step_s = latency.decode_step_time_s(6, 2000)
    assert prediction.predicted_ttft_s == pytest.approx(
        step_s + latency.prefill_time_s(4000) + MARGIN_S
    )


def test_callers_start_delay_and_slowdown_scale_the_prediction_but_not_the_margin(
    make_request, latency
):
    engine = _idle(prefill_start_delay_s=0.02, slowdown=1.5)
    request = make_request("r", prompt_tokens=2000)

    (prediction,) = _walk([request], [engine], latency)

    expected = 0.02 + 1.5 * latency.prefill_time_s(2000) + MARGIN_S
    assert prediction.predicted_ttft_s == pytest.approx(expected)


def test_tokens_ahead_are_spread_over_engines(make_request, latency, classes):
    requests = [
        make_request(f"r{index}", slo_class=classes.batch, prompt_tokens=4000) for index in range(4)
    ]

    predictions = _walk(requests, [_idle("e0"), _idle("e1")], latency)

    one, two = latency.prefill_time_s(4000), latency.prefill_time_s(8000)
    assert [p.predicted_ttft_s - MARGIN_S for p in predictions] == pytest.approx(
        [one, one, two, two]
    )
    assert [p.engine_id for p in predictions] == ["e0", "e1", "e0", "e1"]


def test_slower_engine_gets_fewer_tokens_ahead(make_request, latency, classes):
    requests = [
        make_request(f"r{index}", slo_class=classes.batch, prompt_tokens=4000) for index in range(3)
    ]

    predictions = _walk(requests, [_idle("slow", slowdown=2.5), _idle("fast")], latency)

    assert [p.engine_id for p in predictions] == ["fast", "fast", "slow"]


def test_admission_counts_only_requests_that_would_pop_before_the_candidate(
    make_request, latency, classes
):
    queue = _queue(
        make_request("tight", prompt_tokens=3000, slo_class=classes.interactive),
        make_request("loose", prompt_tokens=30_000, slo_class=classes.batch),
    )
    candidate = make_request("new", prompt_tokens=1000, slo_class=classes.standard)

    prediction = ttft_guard.check_admission(
        candidate=candidate,
        queue=queue,
        engines=[_idle()],
        latency=latency,
        now_s=0.0,
        margin_s=MARGIN_S,
    )

    assert prediction.request is candidate
    assert prediction.predicted_ttft_s == pytest.approx(latency.prefill_time_s(4000) + MARGIN_S)
    assert prediction.attainable


def test_admission_rejects_when_slack_is_below_the_prediction(make_request, latency):
    queue = _queue(make_request("ahead", prompt_tokens=18_000, ttft_target_s=0.45))
    candidate = make_request("new", prompt_tokens=5000)

    prediction = ttft_guard.check_admission(
        candidate=candidate, queue=queue, engines=[_idle()], latency=latency, now_s=0.0
    )

    assert prediction.slack_s == pytest.approx(0.5)
    assert prediction.predicted_ttft_s == pytest.approx(latency.prefill_time_s(23_000) + 0.05)
    assert prediction.predicted_ttft_s > 0.5
    assert not prediction.attainable


def test_recheck_rejects_queued_requests_once_time_has_eaten_their_slack(make_request, latency):
    queue = _queue(
        make_request("first", prompt_tokens=8000),
        make_request("second", prompt_tokens=1000, ttft_target_s=5.0),
    )
    engines = [_idle()]

    at_start = ttft_guard.recheck(queue=queue, engines=engines, latency=latency, now_s=0.0)
    later = ttft_guard.recheck(queue=queue, engines=engines, latency=latency, now_s=0.4)

    assert at_start == []
    assert [p.request.request_id for p in later] == ["first"]
    assert len(queue) == 2


def test_no_engines_is_an_error_not_a_prediction(make_request, latency):
    with pytest.raises(ValueError, match="engines is empty"):
        _walk([make_request("r")], [], latency)


def _slots(observed=(), quantile=0.5):
    from sloserve.scheduling import output_length

    estimator = output_length.OutputLengthEstimator(min_observations=1)
    for tokens in observed:
        estimator.observe(tokens)
    return ttft_guard.SlotWaits(output_lengths=estimator, release_quantile=quantile)


def _full(engine_id, *, remaining, max_num_seqs, generated=0, context=1000):
    """An engine whose every slot is held by a request with `remaining[i]` tokens to go (its
    max_tokens leaves exactly that)."""
    running = tuple(
        engine_state.RunningRequest(
            request_id=f"{engine_id}-{i}",
            tpot_s=0.05,
            context_tokens=context,
            generated_tokens=generated,
            max_tokens=generated + tokens,
        )
        for i, tokens in enumerate(remaining)
    )
    return engine_state.EngineState(engine_id=engine_id, max_num_seqs=max_num_seqs, running=running)


def test_a_full_engine_predicts_the_wait_for_the_first_slot_to_free(make_request, latency):
    engine = _full("e0", remaining=[400, 100], max_num_seqs=2)
    request = make_request("r", prompt_tokens=500)
    step_s = latency.decode_step_time_s(2, 1000)
    delay_s = ttft_guard.prefill_start_delay_s(engine, latency)

    (prediction,) = ttft_guard.predict_in_order(
        ordered=[request], engines=[engine], latency=latency, now_s=0.0, slots=_slots([10_000])
    )

    # the 100-token request frees its slot first; then the prompt is prefilled
    expected = delay_s + MARGIN_S + 100 * step_s + latency.prefill_time_s(500)
    assert prediction.predicted_ttft_s == pytest.approx(expected)
    assert not prediction.attainable


def test_without_slot_waits_the_full_engine_looks_free(make_request, latency):
    engine = _full("e0", remaining=[400, 100], max_num_seqs=2)

    (prediction,) = ttft_guard.predict_in_order(
        ordered=[make_request("r", prompt_tokens=500)], engines=[engine], latency=latency, now_s=0.0
    )

    assert prediction.predicted_ttft_s < 0.1
    assert prediction.attainable


def test_requests_kept_on_a_full_engine_take_the_slots_as_they_free(make_request, latency, classes):
    engine = _full("e0", remaining=[100, 300], max_num_seqs=2)
    requests = [
        make_request(f"r{i}", prompt_tokens=200, max_tokens=50, slo_class=classes.batch)
        for i in range(3)
    ]
    step_s = latency.decode_step_time_s(2, 1000)
    delay_s = ttft_guard.prefill_start_delay_s(engine, latency)

    first, second, third = ttft_guard.predict_in_order(
        ordered=requests,
        engines=[engine],
        latency=latency,
        now_s=0.0,
        slots=_slots([10_000]),
    )

    def after_slot(slot_s):
        return delay_s + MARGIN_S + slot_s + latency.prefill_time_s(200)

    assert first.predicted_ttft_s == pytest.approx(after_slot(100 * step_s))
    # the first kept request frees its slot after its own 50 tokens, before the 300-token one
    assert second.predicted_ttft_s == pytest.approx(
        after_slot(first.predicted_ttft_s + 50 * step_s)
    )
    assert third.predicted_ttft_s == pytest.approx(
        after_slot(second.predicted_ttft_s + 50 * step_s)
    )


def test_the_walk_sends_a_request_to_the_engine_that_frees_a_slot_first(make_request, latency):
    slow = _full("slow", remaining=[900, 800], max_num_seqs=2)
    soon = _full("soon", remaining=[20, 900], max_num_seqs=2)

    (prediction,) = ttft_guard.predict_in_order(
        ordered=[make_request("r", prompt_tokens=100)],
        engines=[slow, soon],
        latency=latency,
        now_s=0.0,
        slots=_slots([10_000]),
    )

    assert prediction.engine_id == "soon"
    assert prediction.attainable


def test_a_free_slot_needs_no_wait_even_with_slot_waits_on(make_request, latency):
    engine = _full("e0", remaining=[900], max_num_seqs=2)
    request = make_request("r", prompt_tokens=500)

    with_slots = ttft_guard.check_admission(
        candidate=request,
        queue=_queue(),
        engines=[engine],
        latency=latency,
        now_s=0.0,
        slots=_slots([10_000]),
    )
    without = ttft_guard.check_admission(
        candidate=request, queue=_queue(), engines=[engine], latency=latency, now_s=0.0
    )

    assert with_slots.predicted_ttft_s == pytest.approx(without.predicted_ttft_s)


def test_requests_beyond_max_num_seqs_on_the_engine_take_slots_first(make_request, latency):
    # three requests on two slots: the one with the most to do waits on the engine for the
    # first slot to free
    engine = _full("e0", remaining=[100, 300, 900], max_num_seqs=2)
    step_s = latency.decode_step_time_s(2, 1000)
    delay_s = ttft_guard.prefill_start_delay_s(engine, latency)

    (prediction,) = ttft_guard.predict_in_order(
        ordered=[make_request("r", prompt_tokens=200)],
        engines=[engine],
        latency=latency,
        now_s=0.0,
        slots=_slots([10_000]),
    )

    # slots free at 100 steps (taken by the 900-token one) and at 300
    expected = delay_s + MARGIN_S + 300 * step_s + latency.prefill_time_s(200)
    assert prediction.predicted_ttft_s == pytest.approx(expected)


def test_release_quantile_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="release_quantile must be between 0 and 1"):
        _slots(quantile=1.5)


def _protected_admission(candidate, queue, engine, latency, *, protect):
    return ttft_guard.check_admission(
        candidate=candidate,
        queue=queue,
        engines=[engine],
        latency=latency,
        now_s=0.0,
        slots=_slots([10_000]),
        protect_queued=protect,
    )


def test_a_newcomer_that_would_push_a_queued_request_past_its_deadline_is_judged_behind_it(
    make_request, latency, classes
):
    # one slot, freeing after 100 decode steps; a queued request of 2 s slack fits in it, but
    # not if a newcomer with an earlier deadline takes that slot first and holds it 400 tokens
    engine = _full("e0", remaining=[100], max_num_seqs=1)
    step_s = latency.decode_step_time_s(1, 1000)
    queued = make_request(
        "queued", prompt_tokens=200, max_tokens=200, slo_class=classes.batch, ttft_target_s=2.0
    )
    newcomer = make_request(
        "newcomer", prompt_tokens=200, max_tokens=400, slo_class=classes.batch, ttft_target_s=1.5
    )
    # the premise: the queued request fits after the first release, not after the newcomer's
    assert 100 * step_s + 400 * step_s > 2.0 > 100 * step_s
    # and the newcomer, behind the queued request's 200 tokens, misses its 1.5 s
    assert 100 * step_s + 200 * step_s > 1.5

    unprotected = _protected_admission(newcomer, _queue(queued), engine, latency, protect=False)
    protected = _protected_admission(newcomer, _queue(queued), engine, latency, protect=True)

    assert unprotected.attainable
    # behind the queued request it waits for two releases, too long for its own 1.5 s
    assert not protected.attainable
    assert protected.predicted_ttft_s > unprotected.predicted_ttft_s
    assert protected.request is newcomer


def test_a_queued_request_already_out_of_time_does_not_block_newcomers(
    make_request, latency, classes
):
    engine = _full("e0", remaining=[100], max_num_seqs=1)
    # 50 ms of slack: unattainable with or without the newcomer
    doomed = make_request("doomed", prompt_tokens=200, slo_class=classes.batch, ttft_target_s=0.05)
    newcomer = make_request("newcomer", prompt_tokens=200, slo_class=classes.batch)

    with_doomed = _protected_admission(newcomer, _queue(doomed), engine, latency, protect=True)
    alone = _protected_admission(newcomer, _queue(), engine, latency, protect=True)

    assert with_doomed.attainable
    assert with_doomed.predicted_ttft_s == pytest.approx(alone.predicted_ttft_s)


def test_every_prefill_kept_on_a_full_engine_delays_the_releases_after_it(
    make_request, latency, classes
):
    # two slots: one frees soon, the other after 300 steps; the first kept request takes the
    # early slot, and its prefill stalls the 300-step one, which the second then waits for
    engine = _full("e0", remaining=[10, 300], max_num_seqs=2)
    requests = [
        make_request(f"r{i}", prompt_tokens=4000, max_tokens=2000, slo_class=classes.batch)
        for i in range(2)
    ]
    step_s = latency.decode_step_time_s(2, 1000)
    delay_s = ttft_guard.prefill_start_delay_s(engine, latency)

    _, second = ttft_guard.predict_in_order(
        ordered=requests, engines=[engine], latency=latency, now_s=0.0, slots=_slots([10_000])
    )

    stalled_release_s = 300 * step_s + latency.prefill_time_s(4000)
    expected = delay_s + MARGIN_S + stalled_release_s + latency.prefill_time_s(4000)
    assert second.predicted_ttft_s == pytest.approx(expected)
