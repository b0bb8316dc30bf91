"""Requests as the engine sees them: what the caller asks for, and what the engine tracks.

Token accounting follows vLLM V1: a request has `num_tokens` = prompt + generated tokens, of which
`num_computed` have their KV entries computed. A step computes some of the missing ones (a prefill
chunk, or the single newest token when decoding); when none is missing afterwards the step samples
one new token. Preemption by recompute throws the KV entries away (`num_computed` back to 0), so a
resumed request prefills its prompt and the tokens it had generated before it continues.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSpec:
    """A request handed to the engine.

    `output_tokens`: exactly how many tokens it generates (the caller has already applied
    max_tokens, min_tokens and stop conditions). `priority`: lower is served first under the
    `priority` policy (vLLM's meaning). `tpot_target_s`: its time-per-output-token target, used by
    the `credit` policy; None behaves as the tightest target among running requests.
    `block_hashes`: the chained hashes of the prompt's full KV blocks at the engine's block size
    (`scheduling.prefix_blocks.chain_hashes`), for prefix caching; empty when the content is
    unknown (nothing is reused then). The first n of them may cover fewer blocks than the prompt.
    """

    request_id: str
    prompt_tokens: int
    output_tokens: int
    priority: int = 0
    tpot_target_s: float | None = None
    block_hashes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1:
            raise ValueError(
                f"request {self.request_id!r} prompt_tokens must be at least 1, "
                f"got {self.prompt_tokens}"
            )
        if self.output_tokens < 1:
            raise ValueError(
                f"request {self.request_id!r} output_tokens must be at least 1, "
                f"got {self.output_tokens}"
            )
        target = self.tpot_target_s
        if target is not None and (not math.isfinite(target) or target <= 0):
            raise ValueError(
                f"request {self.request_id!r} tpot_target_s must be a finite number above zero "
                f"or None, got {target!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStats:
    """When things happened to a finished request, in the engine's clock (seconds)."""

    arrival: float
    first_scheduled: float
    first_token: float
    finished: float
    prompt_tokens: int
    output_tokens: int
    num_preemptions: int
    # prompt tokens found in the prefix cache when it was first scheduled (vLLM's
    # num_cached_tokens)
    cached_tokens: int = 0

    @property
    def queue_time(self) -> float:
        """From arrival to its first step (vLLM's request_queue_time)."""
        return self.first_scheduled - self.arrival

    @property
    def ttft(self) -> float:
        """Time to first token."""
        return self.first_token - self.arrival

    @property
    def e2e(self) -> float:
        """From arrival to its last token."""
        return self.finished - self.arrival

    @property
    def tpot(self) -> float:
        """Mean time per output token after the first: (E2E − TTFT) / (output − 1); 0 for one."""
        if self.output_tokens < 2:
            return 0.0
        return (self.finished - self.first_token) / (self.output_tokens - 1)


class Status(enum.Enum):
    """Where a request is in the engine."""

    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


class Lockstep:
    """What the members of a decode cohort read of it: the steps it has completed and whether
    one of its steps is in flight. `decode_pool.DecodeCohort` builds on it; requests know only
    this much of their cohort, so that this module needs nothing of the pool."""

    __slots__ = ("in_flight", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.in_flight = False


class EngineRequest:
    """The engine's mutable record of one request.

    While it decodes inside a cohort its counts are kept relative to the cohort's step counter
    (`context_base + cohort.steps`), so that a whole cohort advances in O(1); `context()` and
    `num_output()` give the current values either way.
    """

    __slots__ = (
        "arrival",
        "blocks",
        "cached_tokens",
        "cohort",
        "context_base",
        "credit",
        "finish_at",
        "first_scheduled",
        "first_token",
        "num_computed",
        "num_preemptions",
        "output_base",
        "queued_tokens",
        "references",
        "registered",
        "sequence",
        "spec",
        "status",
        "stored_output",
    )

    def __init__(self, spec: RequestSpec, *, arrival: float, sequence: int) -> None:
        self.spec = spec
        self.arrival = arrival
        self.sequence = sequence
        self.status = Status.WAITING
        self.num_computed = 0
        self.stored_output = 0
        self.blocks = 0
        self.cohort: Lockstep | None = None
        self.context_base = 0
        self.output_base = 0
        self.finish_at = 0
        self.credit = 0.0
        self.first_scheduled: float | None = None
        self.first_token: float | None = None
        self.num_preemptions = 0
        # prefix caching: the cached blocks it references (hashes, in prompt order), how many of
        # its prompt blocks it has registered or found cached, the prompt tokens found cached
        # when first scheduled, and the tokens it was counted with in the engine's queued
        # prefill figure while waiting
        self.references: list[int] = []
        self.registered = 0
        self.cached_tokens = 0
        self.queued_tokens = 0

    @property
    def request_id(self) -> str:
        return self.spec.request_id

    def context(self) -> int:
        """Tokens whose KV entries are computed."""
        if self.cohort is not None:
            return self.context_base + self.cohort.steps
        return self.num_computed

    def num_output(self) -> int:
        """Tokens generated so far."""
        if self.cohort is not None:
            return self.output_base + self.cohort.steps
        return self.stored_output

    def num_tokens(self) -> int:
        """Prompt plus generated tokens."""
        return self.spec.prompt_tokens + self.num_output()

    def stats(self, finished: float) -> RequestStats:
        """Its timings, once it has produced its first token."""
        if self.first_scheduled is None or self.first_token is None:
            raise RuntimeError(f"request {self.request_id!r} has not produced a token yet")
        return RequestStats(
            arrival=self.arrival,
            first_scheduled=self.first_scheduled,
            first_token=self.first_token,
            finished=finished,
            prompt_tokens=self.spec.prompt_tokens,
            output_tokens=self.num_output(),
            num_preemptions=self.num_preemptions,
            cached_tokens=self.cached_tokens,
        )


def blocks_for(tokens: int, block_size: int) -> int:
    """KV blocks needed to hold `tokens` tokens."""
    return -(-tokens // block_size)


def held_blocks(request: EngineRequest, block_size: int) -> int:
    """KV blocks a running request holds now: those stored on it, or while it decodes those its
    context needs, including the block allocated for a step of its cohort in flight."""
    cohort = request.cohort
    if cohort is None:
        return request.blocks
    in_flight = 1 if cohort.in_flight else 0
    return blocks_for(request.context() + in_flight, block_size)
