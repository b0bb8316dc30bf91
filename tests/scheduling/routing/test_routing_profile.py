"""The composition: filters in order, Σ weight × score, the picker, and the answer when no
engine is left."""

import pytest
from routing_helpers import engine, route, scorpio_profile

from sloserve.scheduling import outcomes
from sloserve.scheduling.routing import contract, pickers, plugins, profile


def test_scorpio_picks_the_engine_with_the_earliest_predicted_completion(make_request, latency):
    engines = [engine("busy", running=150), engine("idle")]

    placement = route(scorpio_profile(latency), make_request("r", prompt_tokens=1000), engines)

    assert isinstance(placement, contract.Placement)
    assert placement.engine_id == "idle"
    expected_ttft = latency.prefill_time_s(1000) + 0.05
    assert placement.predicted_ttft_s == pytest.approx(expected_ttft)
    assert placement.predicted_completion_s == pytest.approx(
        expected_ttft + 100 * latency.decode_step_time_s(1, 1000)
    )


def test_slowdown_can_make_the_less_loaded_engine_the_worse_choice(make_request, latency):
    engines = [engine("crowded-node", slowdown=4.0), engine("quiet-node", running=20)]

    placement = route(scorpio_profile(latency), make_request("r"), engines)

    assert isinstance(placement, contract.Placement)
    assert placement.engine_id == "quiet-node"


@pytest.mark.parametrize(
    "full",
    [
        {"running": 4, "max_num_seqs": 4},
        {"kv_free_tokens": 2500, "queued_prefill_tokens": 2000},
        {"running": 5, "waiting_requests": 5},
    ],
    ids=["max-num-seqs", "kv-cache", "waiting-depth"],
)
def test_engines_without_room_are_filtered_out(make_request, latency, full):
    engines = [engine("full", **full), engine("free", running=30)]

    placement = route(
        scorpio_profile(latency, max_waiting=5), make_request("r", prompt_tokens=1000), engines
    )

    assert isinstance(placement, contract.Placement)
    assert placement.engine_id == "free"


def test_waits_naming_the_filter_that_held_it_back(make_request, latency, classes):
    full = engine("e0", running=4, max_num_seqs=4)
    slow = engine("e1", running=300, tpot_s=0.03, max_num_seqs=1024)

    decision = route(
        scorpio_profile(latency), make_request("r", slo_class=classes.standard), [full, slow]
    )

    assert isinstance(decision, contract.Wait)
    assert "full" in decision.reason
    assert "TPOT guard" in decision.reason


def test_without_the_tpot_guard_the_busy_engine_is_used(make_request, latency, classes):
    busy = engine("e0", running=300, tpot_s=0.03, max_num_seqs=1024)

    decision = route(
        scorpio_profile(latency, use_tpot_guard=False),
        make_request("r", slo_class=classes.standard),
        [busy],
    )

    assert isinstance(decision, contract.Placement)


def test_a_tpot_no_idle_engine_can_meet_is_unattainable(make_request, latency):
    decision = route(
        scorpio_profile(latency), make_request("r", tpot_target_s=0.005), [engine("e0")]
    )

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.TPOT_UNATTAINABLE
    assert decision.predicted_ttft_s is None


def test_a_deadline_no_idle_engine_can_meet_is_unattainable(make_request, latency):
    request = make_request("r", prompt_tokens=1000, arrival_s=0.0)

    decision = route(scorpio_profile(latency), request, [engine("e0", running=10)], now_s=0.49)

    assert isinstance(decision, outcomes.Rejected)
    assert decision.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    assert decision.predicted_ttft_s == pytest.approx(latency.prefill_time_s(1000) + 0.05)
    assert decision.at_s == pytest.approx(0.49)


def test_ttft_that_fits_only_after_the_backlog_drains_means_wait(make_request, latency):
    backlogged = engine("e0", running=10, queued_prefill_tokens=30_000)

    decision = route(scorpio_profile(latency), make_request("r", prompt_tokens=1000), [backlogged])

    assert isinstance(decision, contract.Wait)
    assert "TTFT" in decision.reason


def test_a_plain_router_holds_only_when_asked(make_request):
    engines = [engine("e0", running=2, max_num_seqs=2)]

    def plain(hold):
        spec = plugins.preset_spec(
            predicted_completion_routing=False,
            hold_when_saturated=hold,
            use_tpot_guard=False,
            meter_prefill=False,
        )
        return plugins.build_profile(spec, plugins.PluginContext(latency=None))

    assert isinstance(route(plain(True), make_request("r"), engines), contract.Wait)
    assert route(plain(False), make_request("r"), engines) == contract.Placement(engine_id="e0")


class _Fixed:
    """A scorer that gives the scores it was built with, by engine id."""

    def __init__(self, name, scores):
        self.name = name
        self._scores = scores

    def score(self, route_request, candidates):
        return [self._scores[c.engine.engine_id] for c in candidates]


def test_scores_add_up_by_weight(make_request):
    near = _Fixed("near", {"a": 1.0, "b": 0.0})
    cheap = _Fixed("cheap", {"a": 0.0, "b": 0.6})
    engines = [engine("a"), engine("b")]

    def pick(weights):
        composed = profile.RoutingProfile(
            filters=(),
            scorers=[(weights[0], near), (weights[1], cheap)],
            picker=pickers.HighestScorePicker(),
        )
        return route(composed, make_request("r"), engines).engine_id

    assert pick((1.0, 1.0)) == "a"
    assert pick((0.5, 1.0)) == "b"
    assert pick((0.0, 0.0)) == "a"  # ties go to the first engine given


def test_a_scorer_must_score_every_engine(make_request):
    short = _Fixed("short", {"a": 1.0})
    short.score = lambda route_request, candidates: [1.0]
    composed = profile.RoutingProfile(
        filters=(), scorers=[(1.0, short)], picker=pickers.HighestScorePicker()
    )

    with pytest.raises(ValueError, match="scorer 'short' gave 1 scores for 2 engines"):
        route(composed, make_request("r"), [engine("a"), engine("b")])


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="scorer 'near': weight must be"):
        profile.RoutingProfile(
            filters=(),
            scorers=[(-1.0, _Fixed("near", {}))],
            picker=pickers.HighestScorePicker(),
        )


def test_observers_hear_of_every_dispatch(make_request):
    heard = []

    class Listener:
        def dispatched(self, request, engine_id):
            heard.append((request.request_id, engine_id))

    composed = profile.RoutingProfile(
        filters=(), scorers=(), picker=pickers.HighestScorePicker(), observers=[Listener()]
    )
    composed.dispatched(make_request("r1"), "e0")

    assert heard == [("r1", "e0")]
