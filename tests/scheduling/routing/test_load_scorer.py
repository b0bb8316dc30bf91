from routing_helpers import candidates, engine, route_request

from sloserve.scheduling.routing.scorers import load


def test_orders_engines_by_requests_then_queued_prompt_tokens(make_request):
    pool = candidates(
        engine("three", running=3),
        engine("one-long", running=1, queued_prefill_tokens=5000),
        engine("one-short", running=1, queued_prefill_tokens=10),
        engine("none"),
    )

    scores = load.LoadScorer().score(route_request(make_request("r")), pool)

    ranked = [
        c.engine.engine_id for _, c in sorted(zip(scores, pool, strict=True), key=lambda p: -p[0])
    ]
    assert ranked == ["none", "one-short", "one-long", "three"]
    assert all(0 < score <= 1 for score in scores)
