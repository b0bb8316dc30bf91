"""The gateway's prefix index: learnt from routing, aged by cache size; and the TTFT guard and
routing reading it (only the uncached prefill counts)."""

import dataclasses

import pytest

from sloserve.scheduling import (
    clock,
    engine_state,
    policy,
    prefix_blocks,
    prefix_index,
    scheduler,
    slo,
    ttft_guard,
)
from sloserve.scheduling.routing import plugins
from sloserve.scheduling.routing.scorers import predicted_completion, prefix_cache

BLOCK = 512


def _prefixed(request: slo.Request, units: list[int]) -> slo.Request:
    hashes = prefix_blocks.chain_hashes(
        units, unit_tokens=BLOCK, prompt_tokens=request.prompt_tokens, block_tokens=BLOCK
    )
    return dataclasses.replace(request, prefix_hashes=hashes, prefix_block_tokens=BLOCK)


def test_a_routed_prompt_is_probably_cached_on_its_engine_only(make_request):
    index = prefix_index.PrefixIndex(capacity_tokens=100_000)
    first = _prefixed(make_request("a", prompt_tokens=4096), list(range(8)))
    index.record(first, "e0")
    again = _prefixed(make_request("b", prompt_tokens=4096), list(range(8)))
    # all but the last token: an engine always computes one
    assert index.cached_tokens(again, "e0") == 4095
    assert index.cached_tokens(again, "e1") == 0


def test_a_prefix_matches_only_up_to_the_first_differing_block(make_request):
    index = prefix_index.PrefixIndex(capacity_tokens=100_000)
    index.record(_prefixed(make_request("a", prompt_tokens=4096), list(range(8))), "e0")
    other = _prefixed(make_request("b", prompt_tokens=4096), [0, 1, 2, 99, 4, 5, 6, 7])
    assert index.cached_tokens(other, "e0") == 3 * BLOCK


def test_an_engine_forgets_its_least_recently_routed_blocks_beyond_its_cache_size(make_request):
    # room for eight blocks of 512 tokens
    index = prefix_index.PrefixIndex(capacity_tokens=8 * BLOCK)
    old = _prefixed(make_request("a", prompt_tokens=4 * BLOCK), [1, 2, 3, 4])
    index.record(old, "e0")
    index.record(_prefixed(make_request("b", prompt_tokens=6 * BLOCK), list(range(10, 16))), "e0")
    assert index.blocks_on("e0") == 8
    # the first two blocks of the old prompt were pushed out: nothing of it matches from the start
    assert index.cached_tokens(old, "e0") == 0


def test_requests_without_known_content_are_never_cached(make_request):
    index = prefix_index.PrefixIndex(capacity_tokens=100_000)
    plain = make_request("a", prompt_tokens=4096)
    index.record(plain, "e0")
    assert index.cached_tokens(plain, "e0") == 0
    assert index.blocks_on("e0") == 0


def test_the_guard_predicts_only_the_uncached_prefill_with_a_hit(make_request, latency):
    index = prefix_index.PrefixIndex(capacity_tokens=100_000)
    view = prefix_index.PrefixView(index, ms_per_pair=0.0, ms_per_token=0.02)
    warm = _prefixed(make_request("warm", prompt_tokens=4096), list(range(8)))
    index.record(warm, "e0")
    request = _prefixed(make_request("r", prompt_tokens=4096 + BLOCK), list(range(9)))
    engines = [engine_state.EngineState(engine_id="e0", max_num_seqs=8)]
    with_hit = next(
        iter(
            ttft_guard.predict_in_order(
                ordered=[request], engines=engines, latency=latency, now_s=0.0, prefix=view
            )
        )
    )
    without = next(
        iter(
            ttft_guard.predict_in_order(
                ordered=[request], engines=engines, latency=latency, now_s=0.0
            )
        )
    )
    margin = ttft_guard.DEFAULT_MARGIN_S
    assert with_hit.predicted_ttft_s == pytest.approx(latency.prefill_time_s(BLOCK) + margin)
    assert without.predicted_ttft_s == pytest.approx(latency.prefill_time_s(4096 + BLOCK) + margin)


def test_attention_over_the_cache_adds_to_the_uncached_prefill(make_request):
    index = prefix_index.PrefixIndex(capacity_tokens=100_000)
    view = prefix_index.PrefixView(index, ms_per_pair=1e-6, ms_per_token=0.02)
    index.record(_prefixed(make_request("warm", prompt_tokens=4096), list(range(8))), "e0")
    request = _prefixed(make_request("r", prompt_tokens=4096 + BLOCK), list(range(9)))
    # 512 new tokens attending over 4096 cached ones: 1e-6 ms × 512 × 4096 ≈ 2.1 ms ≈ 105 tokens
    assert view.prefill_tokens(request, "e0") == BLOCK + round(1e-6 * BLOCK * 4096 / 0.02)
    assert view.prefill_tokens(request, "e1") == 4096 + BLOCK


def _prefix_scheduler(latency, *, capacity_tokens=1_000_000):
    config = policy.preset("scorpio")
    spec = dataclasses.replace(
        config.routing_profile_spec(),
        scorers=(
            plugins.PluginSpec(type=predicted_completion.NAME),
            plugins.PluginSpec(type=prefix_cache.NAME, weight=0.5),
        ),
    )
    return scheduler.Scheduler(
        model="llama-8b",
        policy_config=dataclasses.replace(config, routing_spec=spec),
        clock_source=clock.ManualClock(0.0),
        latency=latency,
        prefix_capacity_tokens=capacity_tokens,
    )


def test_the_guard_admits_a_long_cached_prompt_it_would_reject_cold(make_request, latency, classes):
    # a prompt whose cold prefill misses the interactive TTFT, but whose uncached part fits
    blocks = 56
    long = blocks * BLOCK
    assert latency.prefill_time_s(long) > classes.interactive.ttft_s
    sched = _prefix_scheduler(latency)
    engines = [engine_state.EngineState(engine_id="e0", max_num_seqs=8)]
    warm = _prefixed(
        make_request("warm", slo_class=classes.batch, prompt_tokens=long), list(range(blocks))
    )
    assert type(sched.submit(warm, engines)).__name__ == "Admitted"
    sched.dispatch(engines)
    assert sched.running == {"warm": "e0"}
    cold = _prefixed(make_request("cold", prompt_tokens=long), list(range(100, 100 + blocks)))
    hit = _prefixed(make_request("hit", prompt_tokens=long + BLOCK), list(range(blocks + 1)))
    assert type(sched.submit(cold, engines)).__name__ == "Rejected"
    assert type(sched.submit(hit, engines)).__name__ == "Admitted"


def test_routing_sends_a_cached_prompt_back_to_the_engine_that_holds_it(make_request, latency):
    sched = _prefix_scheduler(latency)
    engines = [
        engine_state.EngineState(engine_id="e0", max_num_seqs=8),
        engine_state.EngineState(engine_id="e1", max_num_seqs=8),
    ]
    first = _prefixed(make_request("a", prompt_tokens=4096), list(range(8)))
    sched.submit(first, engines)
    [placed] = sched.dispatch(engines)
    second = _prefixed(make_request("b", prompt_tokens=4096 + BLOCK), list(range(9)))
    sched.submit(second, engines)
    [again] = sched.dispatch(engines)
    assert again.engine_id == placed.engine_id
    assert again.predicted_ttft_s is not None
    assert again.predicted_ttft_s < latency.prefill_time_s(4096)


def test_a_cached_prompt_that_must_wait_is_not_judged_by_its_cold_prefill(
    make_request, latency, classes
):
    from sloserve.scheduling.routing import feasibility

    blocks = 56
    request = _prefixed(make_request("r", prompt_tokens=blocks * BLOCK), list(range(blocks)))
    engines = [engine_state.EngineState(engine_id="e0", max_num_seqs=8)]
    feasible = feasibility.Feasibility(latency=latency, use_tpot_guard=False)
    cold = feasible.unattainable(request, engines, 0.0)
    warm = feasible.unattainable(request, engines, 0.0, {"e0": BLOCK})
    assert cold is not None
    assert cold.reason.value == "ttft_unattainable"
    assert warm is None
