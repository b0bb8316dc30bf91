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
