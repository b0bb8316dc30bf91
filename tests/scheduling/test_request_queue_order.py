import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloserve.scheduling import request_queue, slo

CLASS = slo.SLOClass(name="c", ttft_s=1.0, tpot_s=0.05)


def _request(request_id: str, *, arrival_s: float, ttft_s: float) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=CLASS,
        arrival_s=arrival_s,
        prompt_tokens=10,
        max_tokens=10,
        ttft_target_s=ttft_s,
    )


def _ids(queue: request_queue.RequestQueue) -> list[str]:
    return [request.request_id for request in queue]


def test_pops_least_slack_first_not_arrival_order():
    queue = request_queue.RequestQueue()
    queue.push(_request("early-loose", arrival_s=0.0, ttft_s=15.0))
    queue.push(_request("late-tight", arrival_s=1.0, ttft_s=0.5))
    queue.push(_request("middle", arrival_s=0.5, ttft_s=3.0))

    assert [queue.pop().request_id for _ in range(3)] == ["late-tight", "middle", "early-loose"]


def test_equal_deadlines_break_ties_by_arrival_then_id():
    queue = request_queue.RequestQueue()
    queue.push(_request("b", arrival_s=1.0, ttft_s=1.0))
    queue.push(_request("z", arrival_s=0.0, ttft_s=2.0))
    queue.push(_request("a", arrival_s=1.0, ttft_s=1.0))

    assert _ids(queue) == ["z", "a", "b"]


def test_arrival_order_is_first_come_first_served_whatever_the_deadline():
    queue = request_queue.RequestQueue(request_queue.QueueOrder.ARRIVAL)
    queue.push(_request("second", arrival_s=1.0, ttft_s=0.1))
    queue.push(_request("first", arrival_s=0.0, ttft_s=15.0))
    queue.push(_request("third", arrival_s=1.0, ttft_s=0.1 / 2))

    assert _ids(queue) == ["first", "second", "third"]


def test_remove_by_id_keeps_the_rest_in_order():
    queue = request_queue.RequestQueue()
    for index in range(5):
        queue.push(_request(f"r{index}", arrival_s=float(index), ttft_s=1.0))

    removed = queue.remove("r2")

    assert removed.request_id == "r2"
    assert "r2" not in queue
    assert _ids(queue) == ["r0", "r1", "r3", "r4"]
    with pytest.raises(KeyError, match="'r2' is not in the queue"):
        queue.remove("r2")


def test_pushing_a_queued_id_is_refused():
    queue = request_queue.RequestQueue()
    queue.push(_request("a", arrival_s=0.0, ttft_s=1.0))

    with pytest.raises(ValueError, match="'a' is already queued"):
        queue.push(_request("a", arrival_s=5.0, ttft_s=1.0))


def test_ahead_of_lists_only_requests_that_would_pop_first():
    queue = request_queue.RequestQueue()
    queue.push(_request("tight", arrival_s=0.0, ttft_s=0.5))
    queue.push(_request("loose", arrival_s=0.0, ttft_s=15.0))
    candidate = _request("new", arrival_s=0.0, ttft_s=3.0)

    assert [request.request_id for request in queue.ahead_of(candidate)] == ["tight"]


def test_behind_lists_the_rest_of_the_queue_in_order():
    queue = request_queue.RequestQueue()
    for name, ttft_s in (("loose", 15.0), ("tight", 0.5), ("middle", 5.0)):
        queue.push(_request(name, arrival_s=0.0, ttft_s=ttft_s))
    candidate = _request("new", arrival_s=0.0, ttft_s=3.0)

    assert [request.request_id for request in queue.behind(candidate)] == ["middle", "loose"]
    assert [*queue.ahead_of(candidate), candidate, *queue.behind(candidate)] == [
        *[r for r in queue if r.request_id == "tight"],
        candidate,
        *[r for r in queue if r.request_id != "tight"],
    ]


def test_empty_queue_peeks_none_and_refuses_pop():
    queue = request_queue.RequestQueue()

    assert queue.peek() is None
    with pytest.raises(IndexError):
        queue.pop()


_pushes = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=100, allow_nan=False),
        st.floats(min_value=0.01, max_value=20, allow_nan=False),
    ),
    max_size=40,
)


@given(pushes=_pushes, removals=st.sets(st.integers(min_value=0, max_value=39)))
def test_pops_come_out_in_non_decreasing_deadline_order(pushes, removals):
    queue = request_queue.RequestQueue()
    for index, (arrival_s, ttft_s) in enumerate(pushes):
        queue.push(_request(f"r{index:02d}", arrival_s=arrival_s, ttft_s=ttft_s))
    for index in removals:
        if f"r{index:02d}" in queue:
            queue.remove(f"r{index:02d}")
    iterated = list(queue)

    popped = [queue.pop() for _ in range(len(queue))]

    assert popped == iterated
    deadlines = [request.deadline_s for request in popped]
    assert deadlines == sorted(deadlines)
    assert len(popped) == len([i for i in range(len(pushes)) if i not in removals])
