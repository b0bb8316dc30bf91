from routing_helpers import candidates, engine, route_request

from sloserve.scheduling.routing.filters import room


def _kept(filter_, request, *engines):
    return [
        c.engine.engine_id for c in filter_.filter(route_request(request), candidates(*engines))
    ]


def test_keeps_engines_with_a_free_slot_a_short_line_and_kv_for_the_prompt(make_request):
    engines = [
        engine("full", running=2, max_num_seqs=2),
        engine("long-line", running=3, waiting_requests=3),
        engine("no-kv", kv_free_tokens=1200, queued_prefill_tokens=500),
        engine("free", running=1),
    ]

    kept = _kept(room.RoomFilter(max_waiting=3), make_request("r", prompt_tokens=1000), *engines)

    assert kept == ["free"]


def test_without_a_waiting_limit_only_slots_and_kv_count(make_request):
    kept = _kept(
        room.RoomFilter(max_waiting=None),
        make_request("r"),
        engine("long-line", running=9, waiting_requests=9),
    )

    assert kept == ["long-line"]


def test_a_waiting_limit_below_one_is_refused():
    import pytest

    with pytest.raises(ValueError, match="room: max_waiting must be at least 1"):
        room.RoomFilter(max_waiting=0)
