"""Online calibration in the gateway: what it observes, that it converges and stays bounded, that
the guards predict with what it learnt, and that it can be switched off."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx

from sloserve.gateway import (
    classify,
    datastore,
    engine_metrics,
    latency_calibration,
    metrics,
    runtime,
    runtimes,
)
from sloserve.gateway.serving import exchange
from sloserve.scheduling import calibration, latency_model, outcomes, policy, slo

PRIOR = runtimes.fit_profile("synthetic")
# The engines are faster than the profile the gateway starts from (a conservative prior).
TRUE = PRIOR.scaled(prefill=0.5, decode=0.7)
ENGINE = "http://a.test"
LOOSE = slo.SLOClass(name="loose", ttft_s=30.0, tpot_s=1.0)
# a TTFT objective the prior's prediction for a 16k-token prompt misses and the truth meets
TIGHT = slo.SLOClass(name="tight", ttft_s=0.6, tpot_s=1.0)
LONG_PROMPT = 16_000


@dataclass
class EngineTotals:
    """An engine's running totals as vLLM publishes them, advanced by work timed by `true`."""

    true: latency_model.LatencyModel
    ttft_sum: float = 0.0
    ttft_count: int = 0
    itl_sum: float = 0.0
    itl_count: int = 0
    prompt: int = 0
    generated: int = 0
    step_tokens: int = 0
    steps: int = 0
    prefix_hits: int = 0

    def prefill_alone(self, tokens: int) -> None:
        self.ttft_sum += self.true.prompt_prefill_time_s(tokens)
        self.ttft_count += 1
        self.prompt += tokens
        self.generated += 1

    def decode(self, *, batch: int, context: float, steps: int) -> None:
        self.itl_sum += steps * batch * self.true.decode_step_time_s(batch, context)
        self.itl_count += steps * batch
        self.generated += steps * batch
        self.step_tokens += steps * batch
        self.steps += steps

    def load(self, *, running: int, waiting: int = 0) -> engine_metrics.EngineLoad:
        return engine_metrics.EngineLoad(
            running=running,
            waiting=waiting,
            kv_cache_usage=0.1,
            timings=engine_metrics.EngineTimings(
                ttft_sum_s=self.ttft_sum,
                ttft_count=self.ttft_count,
                inter_token_sum_s=self.itl_sum,
                inter_token_count=self.itl_count,
                prompt_tokens=self.prompt,
                generation_tokens=self.generated,
                iteration_tokens_sum=self.step_tokens,
                iteration_steps=self.steps,
                prefix_cache_hits=self.prefix_hits,
            ),
        )


def feed_engine_rounds(
    model: latency_calibration.ModelCalibration, totals: EngineTotals, rounds: int
) -> None:
    """Rounds of: idle scrape, one prefill alone, a decode-only interval at batch 16."""
    for index in range(rounds):
        model.observe_scrape(ENGINE, totals.load(running=0), context_tokens=2000)
        totals.prefill_alone(500 + 50 * (index % 40))
        model.observe_scrape(ENGINE, totals.load(running=1), context_tokens=2000)
        totals.decode(batch=16, context=2000, steps=40)
        model.observe_scrape(ENGINE, totals.load(running=16), context_tokens=2000)


def test_engine_metrics_bring_both_factors_to_the_engines_true_speed() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    feed_engine_rounds(model, EngineTotals(TRUE), rounds=150)
    state = model.state()
    assert math.isclose(state.prefill.factor, 0.5, rel_tol=0.02)
    assert math.isclose(state.decode.factor, 0.7, rel_tol=0.02)
    assert state.decode.mean_abs_log_error < 0.05
    own = model.engine_states()[ENGINE]
    assert math.isclose(own.decode.factor, 0.7, rel_tol=0.02)
    assert model.observations[("prefill", "engine")] == 150
    assert model.observations[("decode", "engine")] == 150
    assert model.engine_timed(ENGINE)
    predicted = model.model.decode_step_time_s(16, 2000)
    assert math.isclose(predicted, TRUE.decode_step_time_s(16, 2000), rel_tol=0.02)


def test_intervals_with_prefill_or_a_busy_start_are_not_observed() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    totals = EngineTotals(TRUE)
    model.observe_scrape(ENGINE, totals.load(running=3), context_tokens=2000)
    # a prefill among running requests: neither a clean prefill nor a clean decode interval
    totals.prefill_alone(1000)
    totals.decode(batch=4, context=2000, steps=10)
    model.observe_scrape(ENGINE, totals.load(running=4), context_tokens=2000)
    assert sum(model.observations.values()) == 0


def test_steps_holding_more_tokens_than_sequences_are_not_read_as_decode() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    totals = EngineTotals(TRUE)
    model.observe_scrape(ENGINE, totals.load(running=4), context_tokens=2000)
    # a long prompt's chunks ran beside the decode; its prompt is counted only when it finishes
    totals.decode(batch=4, context=2000, steps=10)
    totals.step_tokens += 3 * 2048
    model.observe_scrape(ENGINE, totals.load(running=5), context_tokens=2000)
    assert sum(model.observations.values()) == 0


def test_an_interval_with_requests_waiting_is_not_read_as_decode() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    totals = EngineTotals(TRUE)
    model.observe_scrape(ENGINE, totals.load(running=4, waiting=2), context_tokens=2000)
    totals.decode(batch=4, context=2000, steps=10)
    model.observe_scrape(ENGINE, totals.load(running=4), context_tokens=2000)
    assert sum(model.observations.values()) == 0


def test_a_lone_prefill_is_priced_on_the_tokens_the_prefix_cache_did_not_hold() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    totals = EngineTotals(TRUE)
    for _ in range(150):
        model.observe_scrape(ENGINE, totals.load(running=0), context_tokens=2000)
        # 4,000 prompt tokens, 3,000 of them cached: the engine computed 1,000
        totals.prefill_alone(1000)
        totals.prompt += 3000
        totals.prefix_hits += 3000
        model.observe_scrape(ENGINE, totals.load(running=1), context_tokens=2000)
    assert math.isclose(model.state().prefill.factor, 0.5, rel_tol=0.02)


def test_an_engine_restart_is_not_read_as_negative_work() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    before = EngineTotals(TRUE)
    before.decode(batch=8, context=1000, steps=100)
    model.observe_scrape(ENGINE, before.load(running=8), context_tokens=1000)
    restarted = EngineTotals(TRUE)
    restarted.decode(batch=8, context=1000, steps=5)
    model.observe_scrape(ENGINE, restarted.load(running=8), context_tokens=1000)
    assert sum(model.observations.values()) == 0


def test_one_outlier_moves_a_factor_by_at_most_gain_times_max_step() -> None:
    settings = calibration.CalibrationSettings()
    model = latency_calibration.ModelCalibration(PRIOR, settings)
    totals = EngineTotals(TRUE)
    feed_engine_rounds(model, totals, rounds=150)
    settled = model.state().decode.factor
    model.observe_scrape(ENGINE, totals.load(running=16), context_tokens=2000)
    # a stall: 40 steps that took a thousand times their time
    stalled = EngineTotals(TRUE.scaled(prefill=1000, decode=1000))
    stalled.decode(batch=16, context=2000, steps=40)
    totals.itl_sum += stalled.itl_sum
    totals.itl_count += stalled.itl_count
    totals.step_tokens += stalled.step_tokens
    totals.steps += stalled.steps
    model.observe_scrape(ENGINE, totals.load(running=16), context_tokens=2000)
    moved = model.state().decode.factor / settled
    assert 1.0 < moved <= math.exp(settings.gain * settings.max_step) + 1e-9
    feed_engine_rounds(model, totals, rounds=60)
    assert math.isclose(model.state().decode.factor, 0.7, rel_tol=0.02)


def test_a_change_of_speed_is_flagged_as_drift_and_then_followed() -> None:
    model = latency_calibration.ModelCalibration(PRIOR)
    totals = EngineTotals(TRUE)
    feed_engine_rounds(model, totals, rounds=150)
    assert not model.state().decode.drifting
    # a noisy neighbour: decode steps twice as slow from now on (a 30% change stays below the
    # default threshold: the bias peaks near 0.09 while the factor follows)
    totals.true = TRUE.scaled(prefill=1.0, decode=2.0)
    flagged = False
    for _ in range(60):
        feed_engine_rounds(model, totals, rounds=1)
        flagged = flagged or model.state().decode.drifting
    assert flagged
    feed_engine_rounds(model, totals, rounds=150)
    assert math.isclose(model.state().decode.factor, 0.7 * 2.0, rel_tol=0.02)
    assert not model.state().decode.drifting


def test_switched_off_nothing_is_observed_and_the_prior_is_used() -> None:
    model = latency_calibration.ModelCalibration(PRIOR, enabled=False)
    feed_engine_rounds(model, EngineTotals(TRUE), rounds=20)
    assert model.model is PRIOR
    assert sum(model.observations.values()) == 0


# --- through the gateway's own path: requests the runtime dispatches and streams it relays ---


def make_runtime(*, calibrate: bool = True) -> runtime.ModelRuntime:
    definition = datastore.ModelDefinition(
        classes=classify.ModelClasses(
            model="m", classes={"loose": LOOSE, "tight": TIGHT}, default_class="loose"
        ),
        profile="synthetic",
    )
    key = datastore.SourceKey(namespace="", name="m", static=True)
    record = datastore.ModelRecord(labels=key.labels("m"), definition=definition, engines=(ENGINE,))
    return runtime.ModelRuntime(
        record=record,
        policy_config=policy.preset("scorpio"),
        latency=PRIOR,
        clock=runtime.MonotonicClock(),
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404))),
        recheck_interval_s=0.02,
        scrape_interval_s=1.0,
        failure_cooldown_s=5.0,
        calibrate=calibrate,
    )


def make_request(
    request_id: str, model_runtime: runtime.ModelRuntime, *, slo_class: slo.SLOClass, prompt: int
) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=slo_class,
        arrival_s=model_runtime.clock.now(),
        prompt_tokens=prompt,
        max_tokens=64,
    )


async def serve_alone(model_runtime: runtime.ModelRuntime, count: int) -> None:
    """`count` requests one after another, each streamed as the true engine would time it."""
    series = metrics.GatewayMetrics().series(model_runtime.record.labels.with_class("loose"))
    for index in range(count):
        prompt = 500 + 100 * (index % 30)
        request = make_request(f"r{index}", model_runtime, slo_class=LOOSE, prompt=prompt)
        assert isinstance(model_runtime.submit(request), outcomes.Admitted)
        dispatch = await model_runtime.wait_for_engine(request.request_id)
        tokens = 32
        first_s = dispatch.at_s + TRUE.prompt_prefill_time_s(prompt)
        last_s = first_s + (tokens - 1) * TRUE.decode_step_time_s(1, prompt + tokens / 2)
        model_runtime.progress(request.request_id, ENGINE, generated_tokens=1)
        exchange.Exchange(
            request=request, model_runtime=model_runtime, series=series
        ).end_served_stream(
            exchange.TokenTiming(first_token_s=first_s, last_token_s=last_s, tokens=tokens)
        )


def tight_request_admitted(model_runtime: runtime.ModelRuntime, request_id: str) -> bool:
    request = make_request(request_id, model_runtime, slo_class=TIGHT, prompt=LONG_PROMPT)
    decision = model_runtime.submit(request)
    if isinstance(decision, outcomes.Admitted):
        model_runtime.cancel(request_id)
        return True
    return False


async def test_streams_relayed_alone_calibrate_the_model_the_guards_use() -> None:
    model_runtime = make_runtime()
    assert not tight_request_admitted(model_runtime, "before")
    await serve_alone(model_runtime, 150)
    calibrated = model_runtime.calibration
    assert calibrated is not None
    state = calibrated.state()
    assert math.isclose(state.prefill.factor, 0.5, rel_tol=0.03)
    assert math.isclose(state.decode.factor, 0.7, rel_tol=0.03)
    assert calibrated.observations[("prefill", "stream")] == 150
    # the TTFT guard now predicts with the calibrated model: what it refused, it admits
    assert tight_request_admitted(model_runtime, "after")
    await model_runtime.stop()


async def test_a_stream_that_shared_its_engine_is_not_observed() -> None:
    model_runtime = make_runtime()
    series = metrics.GatewayMetrics().series(model_runtime.record.labels.with_class("loose"))
    first = make_request("a", model_runtime, slo_class=LOOSE, prompt=1000)
    second = make_request("b", model_runtime, slo_class=LOOSE, prompt=1000)
    model_runtime.submit(first)
    model_runtime.submit(second)
    for request in (first, second):
        dispatch = await model_runtime.wait_for_engine(request.request_id)
        exchange.Exchange(
            request=request, model_runtime=model_runtime, series=series
        ).end_served_stream(
            exchange.TokenTiming(
                first_token_s=dispatch.at_s + 0.1, last_token_s=dispatch.at_s + 1.0, tokens=20
            )
        )
    calibrated = model_runtime.calibration
    assert calibrated is not None
    # the first had the engine alone until the second came, before its first token
    assert sum(calibrated.observations.values()) == 0
    await model_runtime.stop()


async def test_switched_off_the_runtime_keeps_predicting_with_the_prior() -> None:
    model_runtime = make_runtime(calibrate=False)
    await serve_alone(model_runtime, 40)
    calibrated = model_runtime.calibration
    assert calibrated is not None
    assert calibrated.model is PRIOR
    assert not tight_request_admitted(model_runtime, "after")
    await model_runtime.stop()
