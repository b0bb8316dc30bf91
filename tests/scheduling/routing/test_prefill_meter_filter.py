from routing_helpers import candidates, engine, route_request

from sloserve.scheduling import prefill_meter
from sloserve.scheduling.routing.filters import prefill_meter as meter_filter


def test_drops_engines_whose_meter_is_closed_and_keeps_idle_ones(make_request, latency):
    meter = prefill_meter.PrefillMeter(latency=latency, headroom=0.99)
    busy = engine("busy", running=20, tpot_s=0.03)
    meter.charge(busy, prompt_tokens=8000, now_s=0.0)
    idle = engine("idle")
    meter.charge(idle, prompt_tokens=8000, now_s=0.0)

    kept = meter_filter.PrefillMeterFilter(meter=meter).filter(
        route_request(make_request("r")), candidates(busy, idle)
    )

    assert [c.engine.engine_id for c in kept] == ["idle"]
