"""Engines, requests and profiles for the routing tests."""

from sloserve.scheduling import engine_state
from sloserve.scheduling.routing import contract, feasibility, plugins


def engine(engine_id, *, running=0, tpot_s=0.05, context=1000, **fields):
    requests = tuple(
        engine_state.RunningRequest(
            request_id=f"{engine_id}-{i}", tpot_s=tpot_s, context_tokens=context
        )
        for i in range(running)
    )
    fields.setdefault("max_num_seqs", 256)
    return engine_state.EngineState(engine_id=engine_id, running=requests, **fields)


def route_request(request, *, now_s=0.0, output_tokens=100):
    return contract.RouteRequest(
        request=request, now_s=now_s, slack_s=request.slack_s(now_s), output_tokens=output_tokens
    )


def candidates(*engines):
    return [contract.Candidate(state) for state in engines]


def scorpio_profile(latency, *, use_tpot_guard=True, max_waiting=None):
    """SCORPIO's profile without the prefill meter (its own tests cover it)."""
    spec = plugins.preset_spec(
        predicted_completion_routing=True,
        hold_when_saturated=True,
        use_tpot_guard=use_tpot_guard,
        meter_prefill=False,
    )
    return plugins.build_profile(
        spec,
        plugins.PluginContext(latency=latency, max_waiting=max_waiting),
        feasible=feasibility.Feasibility(latency=latency, use_tpot_guard=use_tpot_guard),
    )


def route(profile, request, engines, *, now_s=0.0, output_tokens=100):
    return profile.route(request=request, engines=engines, now_s=now_s, output_tokens=output_tokens)
