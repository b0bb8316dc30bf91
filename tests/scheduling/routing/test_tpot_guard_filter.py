from routing_helpers import candidates, engine, route_request

from sloserve.scheduling import tpot_guard
from sloserve.scheduling.routing.filters import tpot_guard as tpot_filter


def test_keeps_exactly_the_engines_the_tpot_guard_admits(make_request, latency, classes):
    request = make_request("r", slo_class=classes.standard)
    engines = [engine("calm", running=10), engine("packed", running=300, tpot_s=0.03)]

    kept = tpot_filter.TPOTGuardFilter(latency=latency).filter(
        route_request(request), candidates(*engines)
    )

    admitted = [
        state.engine_id
        for state in engines
        if tpot_guard.check(
            engine=state,
            tpot_s=request.tpot_s,
            context_tokens=request.prompt_tokens,
            latency=latency,
        ).admitted
    ]
    assert [c.engine.engine_id for c in kept] == admitted == ["calm"]
