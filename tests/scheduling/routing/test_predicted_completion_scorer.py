import pytest
from routing_helpers import candidates, engine, route_request

from sloserve.scheduling.routing.scorers import predicted_completion


def test_the_earliest_completion_scores_one_and_others_in_proportion(make_request, latency):
    pool = candidates(engine("busy", running=100), engine("idle"))
    request = make_request("r", prompt_tokens=1000)

    scores = predicted_completion.PredictedCompletionScorer(latency=latency).score(
        route_request(request, output_tokens=200), pool
    )

    assert scores[1] == 1.0
    assert 0 < scores[0] < 1
    assert scores[0] == pytest.approx(pool[1].completion_s / pool[0].completion_s)
    per_token = latency.decode_step_time_s(1, 1000)
    assert pool[1].completion_s == pytest.approx(
        latency.prefill_time_s(1000) + 0.05 + 200 * per_token
    )
