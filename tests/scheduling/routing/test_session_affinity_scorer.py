import pytest
from routing_helpers import candidates, engine, route_request

from sloserve.scheduling.routing.scorers import session_affinity


def _request(make_request, request_id, session):
    request = make_request(request_id)
    return type(request)(
        request_id=request.request_id,
        model=request.model,
        slo_class=request.slo_class,
        arrival_s=request.arrival_s,
        prompt_tokens=request.prompt_tokens,
        max_tokens=request.max_tokens,
        session_id=session,
    )


def test_the_sessions_last_engine_scores_one(make_request):
    scorer = session_affinity.SessionAffinityScorer()
    pool = candidates(engine("e0"), engine("e1"))
    scorer.dispatched(_request(make_request, "turn-1", "chat-7"), "e1")

    scores = scorer.score(route_request(_request(make_request, "turn-2", "chat-7")), pool)
    strangers = scorer.score(route_request(_request(make_request, "other", "chat-8")), pool)
    anonymous = scorer.score(route_request(make_request("no-session")), pool)

    assert scores == [0.0, 1.0]
    assert strangers == anonymous == [0.0, 0.0]


def test_the_least_recently_used_session_is_forgotten_first(make_request):
    scorer = session_affinity.SessionAffinityScorer(max_sessions=2)
    for session, engine_id in (("a", "e0"), ("b", "e0"), ("a", "e1"), ("c", "e0")):
        scorer.dispatched(_request(make_request, f"{session}-{engine_id}", session), engine_id)
    pool = candidates(engine("e0"), engine("e1"))

    assert scorer.score(route_request(_request(make_request, "x", "a")), pool) == [0.0, 1.0]
    assert scorer.score(route_request(_request(make_request, "y", "b")), pool) == [0.0, 0.0]


def test_max_sessions_below_one_is_refused():
    with pytest.raises(ValueError, match="max_sessions must be at least 1"):
        session_affinity.SessionAffinityScorer(max_sessions=0)
