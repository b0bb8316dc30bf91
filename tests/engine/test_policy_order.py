"""Which waiting request each policy admits first."""

from __future__ import annotations

from engine_helpers import build_engine, first_token_order, run_to_idle, spec

from sloserve.engine import config


def _admission_order(policy: config.Policy, arrivals: list[tuple[str, float, int]]) -> list[str]:
    # one request at a time, so the order of first tokens is the order of admission
    engine = build_engine(max_num_seqs=1, policy=policy)
    for request_id, at, priority in arrivals:
        engine.add_request(spec(request_id, prompt=16, output=2, priority=priority), at=at)
    return first_token_order(run_to_idle(engine))


def test_fcfs_admits_in_arrival_order_whatever_the_priority() -> None:
    arrivals = [("a", 0.0, 5), ("b", 0.0, 0), ("c", 0.0, 3)]
    assert _admission_order(config.Policy.FCFS, arrivals) == ["a", "b", "c"]


def test_priority_admits_the_lowest_value_first() -> None:
    arrivals = [("a", 0.0, 5), ("b", 0.0, 0), ("c", 0.0, 3)]
    assert _admission_order(config.Policy.PRIORITY, arrivals) == ["b", "c", "a"]


def test_priority_breaks_ties_by_arrival() -> None:
    arrivals = [("first", 0.0, 1), ("early", 0.001, 1), ("late", 0.002, 1), ("low", 0.003, 2)]
    order = _admission_order(config.Policy.PRIORITY, arrivals)
    assert order == ["first", "early", "late", "low"]


def test_priority_lets_a_later_urgent_request_overtake_waiting_ones() -> None:
    arrivals = [("running", 0.0, 5), ("waiting", 0.0, 5), ("urgent", 0.001, 0)]
    assert _admission_order(config.Policy.PRIORITY, arrivals) == ["running", "urgent", "waiting"]


def test_credit_admits_in_arrival_order() -> None:
    arrivals = [("a", 0.0, 0), ("b", 0.001, 0), ("c", 0.002, 0)]
    assert _admission_order(config.Policy.CREDIT, arrivals) == ["a", "b", "c"]
