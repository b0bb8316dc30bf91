"""The scheduler's waiting queue: least deadline first, or first come first served.

Least-deadline-first pops the request with the least slack; since every request's slack is its
deadline minus the same `now`, that is the earliest deadline, so the order never changes as time
passes and can be kept sorted once. Ties go to the earlier arrival, then the smaller request id,
so the order is total and reproducible.
"""

import bisect
import enum
from collections.abc import Iterator

from sloserve.scheduling import slo

_SortKey = tuple[float, float, str] | tuple[float, int]


class QueueOrder(enum.StrEnum):
    """DEADLINE: least slack first. ARRIVAL: first submitted first."""

    DEADLINE = "deadline"
    ARRIVAL = "arrival"


class RequestQueue:
    """Waiting requests kept in their pop order; removal by id.

    Contract: request ids are unique within the queue (pushing a held id raises). Push and remove
    cost O(n) element moves and O(log n) comparisons; pop and iteration are in order.
    """

    def __init__(self, order: QueueOrder = QueueOrder.DEADLINE) -> None:
        self._order = order
        self._keys: list[_SortKey] = []
        self._key_by_id: dict[str, _SortKey] = {}
        self._request_by_key: dict[_SortKey, slo.Request] = {}
        self._by_class: dict[str, int] = {}
        self._pushed = 0

    @property
    def order(self) -> QueueOrder:
        """The order this queue pops in."""
        return self._order

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._key_by_id

    def count_in_class(self, slo_class: str) -> int:
        """How many waiting requests are of class `slo_class`."""
        return self._by_class.get(slo_class, 0)

    def __iter__(self) -> Iterator[slo.Request]:
        """The waiting requests in pop order."""
        request_by_key = self._request_by_key
        return (request_by_key[key] for key in list(self._keys))

    def push(self, request: slo.Request) -> None:
        """Add `request`; raises ValueError if its id is already queued."""
        if request.request_id in self._key_by_id:
            raise ValueError(f"request id {request.request_id!r} is already queued")
        key = self._key_for(request, self._pushed)
        self._pushed += 1
        bisect.insort(self._keys, key)
        self._key_by_id[request.request_id] = key
        self._request_by_key[key] = request
        name = request.slo_class.name
        self._by_class[name] = self._by_class.get(name, 0) + 1

    def peek(self) -> slo.Request | None:
        """The request that would pop next, or None when empty."""
        return self._request_by_key[self._keys[0]] if self._keys else None

    def pop(self) -> slo.Request:
        """Remove and return the next request; raises IndexError when empty."""
        if not self._keys:
            raise IndexError("pop from an empty request queue")
        key = self._keys.pop(0)
        request = self._request_by_key.pop(key)
        del self._key_by_id[request.request_id]
        self._uncount(request)
        return request

    def remove(self, request_id: str) -> slo.Request:
        """Remove and return the request with `request_id`; raises KeyError if it is not queued."""
        key = self._key_by_id.pop(request_id, None)
        if key is None:
            raise KeyError(f"request id {request_id!r} is not in the queue")
        index = bisect.bisect_left(self._keys, key)
        del self._keys[index]
        request = self._request_by_key.pop(key)
        self._uncount(request)
        return request

    def _uncount(self, request: slo.Request) -> None:
        name = request.slo_class.name
        left = self._by_class[name] - 1
        if left:
            self._by_class[name] = left
        else:
            del self._by_class[name]

    def ahead_of(self, request: slo.Request) -> Iterator[slo.Request]:
        """The queued requests that would pop before `request` if it were pushed now, in order."""
        key = self._key_for(request, self._pushed)
        stop = bisect.bisect_left(self._keys, key)
        request_by_key = self._request_by_key
        return (request_by_key[k] for k in self._keys[:stop])

    def behind(self, request: slo.Request) -> Iterator[slo.Request]:
        """The queued requests that would pop after `request` if it were pushed now, in order."""
        key = self._key_for(request, self._pushed)
        start = bisect.bisect_left(self._keys, key)
        request_by_key = self._request_by_key
        return (request_by_key[k] for k in self._keys[start:])

    def _key_for(self, request: slo.Request, sequence: int) -> _SortKey:
        # `sequence` breaks arrival ties in push order, which is what first-come-first-served means.
        if self._order is QueueOrder.DEADLINE:
            return (request.deadline_s, request.arrival_s, request.request_id)
        return (request.arrival_s, sequence)
