"""Starting engines counted at admission: a request goes to the starting engine that gives it its
first token earliest, only within its deadline, and each engine is promised no more prefill than
it can do in time."""

from __future__ import annotations

import pytest

from sloserve.scheduling import coming_capacity


def _capacity(
    count: int, *, now_s: float = 100.0, start_s: float = 10.0
) -> coming_capacity.ComingCapacity:
    capacity = coming_capacity.ComingCapacity()
    capacity.expect(count, now_s=now_s, start_time_s=start_s)
    return capacity


def test_without_starting_engines_nothing_is_promised() -> None:
    capacity = _capacity(0)
    assert capacity.promise(now_s=100.0, deadline_s=1e9, prefill_s=0.1) is None
    assert capacity.earliest_ready_at_s() is None


def test_a_request_whose_deadline_is_after_the_start_and_its_prefill_is_admitted() -> None:
    capacity = _capacity(1)
    promise = capacity.promise(now_s=100.0, deadline_s=111.0, prefill_s=0.5)
    assert promise == coming_capacity.Promise(ready_at_s=110.0, first_token_at_s=110.5)


def test_a_deadline_before_the_engine_is_ready_is_refused_and_counts_nothing() -> None:
    capacity = _capacity(1)
    assert capacity.promise(now_s=100.0, deadline_s=109.0, prefill_s=0.5) is None
    assert capacity.engines[0].promised_s == 0.0


def test_each_engine_takes_only_the_prefill_it_can_do_before_the_deadlines() -> None:
    # One engine ready at 110; requests of 1 s prefill due by 112.5: two fit (first tokens at
    # 111 and 112), the third would come at 113.
    capacity = _capacity(1)
    admitted = [capacity.promise(now_s=100.0, deadline_s=112.5, prefill_s=1.0) for _ in range(3)]
    assert [p.first_token_at_s if p else None for p in admitted] == [111.0, 112.0, None]


def test_requests_spread_over_starting_engines_earliest_first_token_first() -> None:
    capacity = _capacity(2)
    first = capacity.promise(now_s=100.0, deadline_s=120.0, prefill_s=2.0)
    second = capacity.promise(now_s=100.0, deadline_s=120.0, prefill_s=2.0)
    assert first is not None
    assert second is not None
    assert [e.promised_s for e in capacity.engines] == [2.0, 2.0]


def test_an_engine_seen_later_is_expected_later() -> None:
    capacity = _capacity(1, now_s=100.0)
    capacity.expect(2, now_s=105.0, start_time_s=10.0)
    assert [e.ready_at_s for e in capacity.engines] == [110.0, 115.0]
    assert capacity.earliest_ready_at_s() == 110.0


def test_fewer_starting_engines_forget_the_earliest_and_their_promises() -> None:
    capacity = _capacity(2)
    capacity.promise(now_s=100.0, deadline_s=120.0, prefill_s=3.0)
    capacity.expect(1, now_s=111.0, start_time_s=10.0)
    assert len(capacity.engines) == 1
    assert capacity.engines[0].promised_s == 0.0


def test_an_engine_late_by_more_than_a_start_is_promised_nothing_more() -> None:
    capacity = _capacity(1, start_s=10.0)
    assert capacity.promise(now_s=119.0, deadline_s=200.0, prefill_s=0.1) is not None
    assert capacity.promise(now_s=121.0, deadline_s=200.0, prefill_s=0.1) is None


def test_a_request_arriving_after_the_expected_ready_counts_from_now() -> None:
    capacity = _capacity(1)
    promise = capacity.promise(now_s=112.0, deadline_s=113.0, prefill_s=0.5)
    assert promise is not None
    assert promise.first_token_at_s == 112.5


@pytest.mark.parametrize(
    ("count", "start_s", "field"), [(-1, 1.0, "count"), (1, float("nan"), "start_time_s")]
)
def test_bad_expectations_are_refused_naming_the_field(
    count: int, start_s: float, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        coming_capacity.ComingCapacity().expect(count, now_s=0.0, start_time_s=start_s)


def test_a_bad_prefill_is_refused() -> None:
    with pytest.raises(ValueError, match="prefill_s"):
        _capacity(1).promise(now_s=100.0, deadline_s=200.0, prefill_s=-1.0)
