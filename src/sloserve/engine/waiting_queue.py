"""Requests waiting for their (first or resumed) prefill, in the order the policy serves them.

- `fcfs` (and `credit`, whose ordering is the gateway's job): arrival order; a preempted request
  goes back to the front, as in vLLM.
- `priority`: lowest `priority` value first, ties by arrival (vLLM's `--scheduling-policy
  priority`); a preempted request goes back by the same key.

Removal (an aborted request) is lazy: the entry stays until it reaches the head and is skipped.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterator
from typing import Protocol

from sloserve.engine import config, requests


class WaitingQueue(Protocol):
    """The operations the scheduler needs; `len()` counts only live entries."""

    def push(self, request: requests.EngineRequest) -> None: ...
    def push_preempted(self, request: requests.EngineRequest) -> None: ...
    def peek(self) -> requests.EngineRequest | None: ...
    def pop(self) -> requests.EngineRequest: ...
    def discard(self, request: requests.EngineRequest) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[requests.EngineRequest]: ...


class FcfsQueue:
    """Arrival order; preempted requests in front."""

    def __init__(self) -> None:
        self._entries: collections.deque[requests.EngineRequest] = collections.deque()
        self._live = 0

    def push(self, request: requests.EngineRequest) -> None:
        self._entries.append(request)
        self._live += 1

    def push_preempted(self, request: requests.EngineRequest) -> None:
        self._entries.appendleft(request)
        self._live += 1

    def peek(self) -> requests.EngineRequest | None:
        while self._entries and self._entries[0].status is not requests.Status.WAITING:
            self._entries.popleft()
        return self._entries[0] if self._entries else None

    def pop(self) -> requests.EngineRequest:
        head = self.peek()
        if head is None:
            raise IndexError("pop from an empty waiting queue")
        self._entries.popleft()
        self._live -= 1
        return head

    def discard(self, request: requests.EngineRequest) -> None:
        """Forget `request`; the caller has already set its status to something else."""
        self._live -= 1

    def __len__(self) -> int:
        return self._live

    def __iter__(self) -> Iterator[requests.EngineRequest]:
        return (r for r in self._entries if r.status is requests.Status.WAITING)


class PriorityQueue:
    """Lowest priority value first, then earliest arrival."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, requests.EngineRequest]] = []
        self._live = 0

    def push(self, request: requests.EngineRequest) -> None:
        entry = (request.spec.priority, request.arrival, request.sequence, request)
        heapq.heappush(self._heap, entry)
        self._live += 1

    def push_preempted(self, request: requests.EngineRequest) -> None:
        self.push(request)

    def peek(self) -> requests.EngineRequest | None:
        while self._heap and self._heap[0][3].status is not requests.Status.WAITING:
            heapq.heappop(self._heap)
        return self._heap[0][3] if self._heap else None

    def pop(self) -> requests.EngineRequest:
        head = self.peek()
        if head is None:
            raise IndexError("pop from an empty waiting queue")
        heapq.heappop(self._heap)
        self._live -= 1
        return head

    def discard(self, request: requests.EngineRequest) -> None:
        """Forget `request`; the caller has already set its status to something else."""
        self._live -= 1

    def __len__(self) -> int:
        return self._live

    def __iter__(self) -> Iterator[requests.EngineRequest]:
        return (entry[3] for entry in self._heap if entry[3].status is requests.Status.WAITING)


def for_policy(policy: config.Policy) -> WaitingQueue:
    """The waiting queue `policy` uses."""
    if policy is config.Policy.PRIORITY:
        return PriorityQueue()
    return FcfsQueue()
