import pytest
from routing_helpers import candidates, engine, route_request

from sloserve.scheduling import ttft_guard
from sloserve.scheduling.routing.filters import ttft_guard as ttft_filter


def test_keeps_engines_where_the_prediction_fits_the_slack_and_keeps_the_prediction(
    make_request, latency
):
    request = make_request("r", prompt_tokens=1000)
    engines = [engine("backlogged", queued_prefill_tokens=40_000), engine("clear")]
    pool = candidates(*engines)

    kept = ttft_filter.TTFTGuardFilter(latency=latency).filter(route_request(request), pool)

    assert [c.engine.engine_id for c in kept] == ["clear"]
    expected = ttft_guard.engine_ttft_s(
        engine=engines[1], latency=latency, prompt_tokens_ahead=1000, margin_s=0.05
    )
    assert kept[0].ttft_prediction_s == pytest.approx(expected)
    assert pool[0].ttft_prediction_s > request.ttft_s
