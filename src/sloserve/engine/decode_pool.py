"""Decoding requests, grouped into cohorts that take their steps together.

Every member of a cohort gains one token in each step the cohort takes part in, so the cohort
keeps one step counter and its members' counts relative to it: a step advances a batch of any
size in O(1), which is what makes simulating thousands of requests per second possible. What a
step needs from a cohort is also O(1): its size, the sum of its members' contexts, and how many
members start a new KV block (kept as counts by context modulo the block size).

Under `fcfs` and `priority` every decoding request takes part in every step, so there is one
cohort. Under `credit` (SCORPIO's credit-based batching) a request with TPOT target T_r looser
than the tightest running target T_min gains T_min/T_r credit per step and takes part when its
credit reaches 1, paying 1; requests with the same ratio and credit share a cohort.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from sloserve.engine import requests

# credits are sums of float ratios: 0.6 added five times is 0.9999999999999999, which is 1
CREDIT_EPSILON = 1e-9


def credit_turn(credit: float, ratio: float) -> tuple[float, bool]:
    """A cohort's credit after it gains `ratio` for one step, and whether it takes part in the
    step (paying 1 for it when it does)."""
    credit += ratio
    if credit >= 1.0 - CREDIT_EPSILON:
        return max(0.0, credit - 1.0), True
    return credit, False


class DecodeCohort(requests.Lockstep):
    """Requests that decode in lockstep. `steps` counts the steps the cohort has completed."""

    __slots__ = (
        "_block_size",
        "_context_base_sum",
        "_finish_heap",
        "_residues",
        "credit",
        "members",
        "ratio",
    )

    def __init__(self, *, ratio: float, credit: float, block_size: int) -> None:
        super().__init__()
        self.ratio = ratio
        self.credit = credit
        self.members: dict[requests.EngineRequest, None] = {}
        self._block_size = block_size
        self._residues = [0] * block_size
        self._context_base_sum = 0
        self._finish_heap: list[tuple[int, int, requests.EngineRequest]] = []

    def matches(self, *, ratio: float, credit: float) -> bool:
        """Whether a request with this ratio and credit would take exactly this cohort's turns."""
        if ratio != self.ratio:
            return False
        return ratio >= 1.0 or abs(credit - self.credit) < CREDIT_EPSILON

    def add(self, request: requests.EngineRequest) -> None:
        """Take in a request whose counts are stored on it (it is in no cohort)."""
        request.context_base = request.num_computed - self.steps
        request.output_base = request.stored_output - self.steps
        request.finish_at = request.spec.output_tokens - request.output_base
        request.cohort = self
        self.members[request] = None
        self._residues[request.context_base % self._block_size] += 1
        self._context_base_sum += request.context_base
        heapq.heappush(self._finish_heap, (request.finish_at, request.sequence, request))

    def remove(self, request: requests.EngineRequest) -> None:
        """Let a member go, storing its current counts and held blocks on it."""
        request.blocks = requests.held_blocks(request, self._block_size)
        request.num_computed = request.context()
        request.stored_output = request.num_output()
        request.cohort = None
        del self.members[request]
        self._residues[request.context_base % self._block_size] -= 1
        self._context_base_sum -= request.context_base

    def new_blocks_needed(self) -> int:
        """Members whose next token starts a new KV block."""
        return self._residues[(-self.steps) % self._block_size]

    def first_finish_step(self) -> int | None:
        """The earliest step count at which a member (or a stale entry of one that left) is due,
        None when none is."""
        heap = self._finish_heap
        return heap[0][0] if heap else None

    def new_block_counts(self) -> list[int]:
        """Members by their context modulo the block size: the members whose token after `steps`
        completed steps starts a new KV block are the entry at (-steps) % block_size. The list is
        the cohort's own: read it, do not change it."""
        return self._residues

    def finishes_after(self, steps: int) -> bool:
        """Whether no member (nor a stale entry of one that left) is due by `steps` steps."""
        heap = self._finish_heap
        return not heap or heap[0][0] > steps

    def context_sum(self) -> int:
        """Sum of the members' contexts."""
        return self._context_base_sum + len(self.members) * self.steps

    def context_base_sum(self) -> int:
        """Sum of the members' contexts less `steps` each: `context_sum` at another step count
        `s` is this plus `len(self) * s`."""
        return self._context_base_sum

    def take_turn(self) -> bool:
        """Gain this step's credit; True (and pay 1) when the cohort takes part in the step."""
        self.credit, takes_part = credit_turn(self.credit, self.ratio)
        return takes_part

    def advance(self) -> list[requests.EngineRequest]:
        """Complete a step: every member gains a token. Returns (and removes) the members that
        have now generated all their tokens, in the order they joined the engine."""
        self.steps += 1
        finished: list[requests.EngineRequest] = []
        heap = self._finish_heap
        while heap and heap[0][0] <= self.steps:
            finish_at, _, request = heapq.heappop(heap)
            # entries of members that left (and maybe came back with another finish) are stale
            if request.cohort is self and request.finish_at == finish_at:
                self.remove(request)
                finished.append(request)
        return finished


class DecodePool:
    """All decoding requests of an engine, in cohorts."""

    def __init__(self, *, block_size: int) -> None:
        self._block_size = block_size
        self.cohorts: list[DecodeCohort] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def join(self, request: requests.EngineRequest, *, ratio: float, credit: float) -> None:
        """Add a request that has just finished its prefill (counts stored on it)."""
        for cohort in self.cohorts:
            if not cohort.in_flight and cohort.matches(ratio=ratio, credit=credit):
                cohort.add(request)
                break
        else:
            cohort = DecodeCohort(ratio=ratio, credit=credit, block_size=self._block_size)
            cohort.add(request)
            self.cohorts.append(cohort)
        self._size += 1

    def leave(self, request: requests.EngineRequest) -> None:
        """Remove a member (preempted or aborted), storing its counts on it."""
        cohort = request.cohort
        if not isinstance(cohort, DecodeCohort):
            raise ValueError(f"request {request.request_id!r} is not decoding")
        cohort.remove(request)
        self._size -= 1
        if not cohort.members:
            self.cohorts.remove(cohort)

    def take_turns(self) -> list[DecodeCohort]:
        """The cohorts that take part in the next step (each gains its credit)."""
        return [cohort for cohort in self.cohorts if cohort.take_turn()]

    def advance(self, cohort: DecodeCohort) -> list[requests.EngineRequest]:
        """Complete a step of `cohort`; returns its members that are done (no longer members)."""
        cohort.in_flight = False
        finished = cohort.advance()
        self._size -= len(finished)
        if not cohort.members:
            self.cohorts.remove(cohort)
        return finished

    def regroup(self, ratio_of: Callable[[requests.EngineRequest], float]) -> None:
        """Recompute every member's ratio (the tightest target changed); credits are kept."""
        members = [
            (request, cohort.credit) for cohort in self.cohorts for request in cohort.members
        ]
        for request, _ in members:
            self.leave(request)
        for request, credit in members:
            self.join(request, ratio=ratio_of(request), credit=credit)
