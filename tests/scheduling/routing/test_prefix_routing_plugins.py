"""The prefix-routing plugins: prefix-cache, queue and KV-utilization scorers (llm-d's),
vllm-router's cache-aware choice, and the round-robin picker."""

import dataclasses

import pytest
from routing_helpers import candidates, engine

from sloserve.scheduling import prefix_index
from sloserve.scheduling.routing import contract, plugins, round_robin
from sloserve.scheduling.routing.scorers import (
    cache_aware,
    kv_utilization,
    prefix_cache,
    queue_depth,
)


def _route(request, cached=None):
    return dataclasses.replace(
        contract.RouteRequest(
            request=request, now_s=0.0, slack_s=request.slack_s(0.0), output_tokens=10
        ),
        cached_tokens=cached,
    )


def test_prefix_cache_scores_the_cached_share_of_the_prompt(make_request):
    request = make_request("r", prompt_tokens=1000)
    scores = prefix_cache.PrefixCacheScorer().score(
        _route(request, {"e0": 750, "e1": 0}), candidates(engine("e0"), engine("e1"))
    )
    assert scores == [0.75, 0.0]


def test_queue_scores_fewer_waiting_higher_between_least_and_most(make_request):
    engines = [
        engine("e0", running=4, waiting_requests=4),
        engine("e1", running=2, waiting_requests=2),
        engine("e2"),
    ]
    scores = queue_depth.QueueScorer().score(_route(make_request("r")), candidates(*engines))
    assert scores == [0.0, 0.5, 1.0]


def test_kv_utilization_scores_the_free_share_of_the_cache(make_request):
    full = dataclasses.replace(
        engine("e0", kv_free_tokens=250), signals={kv_utilization.KV_CAPACITY_SIGNAL: 1000}
    )
    empty = dataclasses.replace(
        engine("e1", kv_free_tokens=1000), signals={kv_utilization.KV_CAPACITY_SIGNAL: 1000}
    )
    scores = kv_utilization.KVUtilizationScorer().score(
        _route(make_request("r")), candidates(full, empty)
    )
    assert scores == [0.25, 1.0]


def test_cache_aware_follows_a_match_above_its_threshold(make_request):
    scorer = cache_aware.CacheAwareScorer(index=prefix_index.PrefixIndex(capacity_tokens=10**6))
    request = make_request("r", prompt_tokens=1000)
    engines = candidates(engine("e0"), engine("e1", running=3))
    assert scorer.score(_route(request, {"e0": 100, "e1": 600}), engines) == [0.0, 1.0]


def test_cache_aware_spreads_new_prefixes_to_the_least_cached_engine(make_request):
    index = prefix_index.PrefixIndex(capacity_tokens=10**6)
    index.record(
        dataclasses.replace(
            make_request("old", prompt_tokens=1024), prefix_hashes=(1, 2), prefix_block_tokens=512
        ),
        "e0",
    )
    scorer = cache_aware.CacheAwareScorer(index=index)
    request = make_request("r", prompt_tokens=1000)
    engines = candidates(engine("e0"), engine("e1"))
    assert scorer.score(_route(request, {"e0": 400, "e1": 0}), engines) == [0.0, 1.0]


def test_cache_aware_balances_load_when_it_is_too_uneven(make_request):
    scorer = cache_aware.CacheAwareScorer(index=prefix_index.PrefixIndex(capacity_tokens=10**6))
    request = make_request("r", prompt_tokens=1000)
    engines = candidates(engine("e0", running=40), engine("e1", running=2))
    assert scorer.score(_route(request, {"e0": 999, "e1": 0}), engines) == [0.0, 1.0]


def test_round_robin_takes_engines_in_turn_by_id():
    picker = round_robin.RoundRobinPicker()
    engines = candidates(engine("e1"), engine("e0"), engine("e2"))
    picked = [engines[picker.pick(engines, [0.0] * 3)].engine.engine_id for _ in range(4)]
    assert picked == ["e0", "e1", "e2", "e0"]


def test_prefix_plugins_need_the_schedulers_prefix_index(latency):
    spec = plugins.RoutingSpec(scorers=(plugins.PluginSpec(type=prefix_cache.NAME),))
    with pytest.raises(ValueError, match="prefix index"):
        plugins.build_profile(spec, plugins.PluginContext(latency=latency))
    built = plugins.build_profile(
        spec,
        plugins.PluginContext(
            latency=latency, prefixes=prefix_index.PrefixIndex(capacity_tokens=1000)
        ),
    )
    assert [scorer.name for _, scorer in built.scorers] == [prefix_cache.NAME]


def _young_route(request, cached, *, waited_s=0.0):
    route = _route(request, cached)
    return dataclasses.replace(route, slack_s=request.ttft_s - waited_s)


def test_prefix_affinity_keeps_only_the_engines_holding_most_of_the_prompt(make_request):
    from sloserve.scheduling.routing.filters import prefix_affinity

    request = make_request("r", prompt_tokens=1000)
    engines = candidates(engine("e0"), engine("e1"), engine("e2"))
    kept = prefix_affinity.PrefixAffinityFilter().filter(
        _young_route(request, {"e0": 100, "e1": 800, "e2": 0}), engines
    )
    assert [c.engine.engine_id for c in kept] == ["e1"]


def test_prefix_affinity_lets_go_once_the_request_has_waited_its_share(make_request):
    from sloserve.scheduling.routing.filters import prefix_affinity

    request = make_request("r", prompt_tokens=1000)
    engines = candidates(engine("e0"), engine("e1"))
    waited = 0.3 * request.ttft_s
    kept = prefix_affinity.PrefixAffinityFilter(max_wait_share=0.25).filter(
        _young_route(request, {"e0": 0, "e1": 900}, waited_s=waited), engines
    )
    assert len(kept) == 2
    cold = prefix_affinity.PrefixAffinityFilter().filter(
        _young_route(request, {"e0": 100, "e1": 0}), engines
    )
    assert len(cold) == 2
