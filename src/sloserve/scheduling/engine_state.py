"""What the scheduler knows about one engine at a decision: a snapshot its caller fills in.

The gateway fills it from its own in-flight accounting, corrected by the engine's metrics; the
simulator fills it from its engine model. The scheduler never keeps engine state between calls;
within one `dispatch` it applies its own dispatches to the snapshot with `with_dispatched`.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass

from sloserve.scheduling import _validation, slo


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningRequest:
    """A request on an engine: its TPOT target and its context (prompt plus generated) tokens."""

    request_id: str
    tpot_s: float
    context_tokens: int

    def __post_init__(self) -> None:
        _validation.require_positive(f"running request {self.request_id!r} tpot_s", self.tpot_s)
        if self.context_tokens < 0:
            raise ValueError(
                f"running request {self.request_id!r} context_tokens must be at or above zero, "
                f"got {self.context_tokens!r}"
            )


@dataclass(frozen=True, kw_only=True)
class EngineState:
    """One engine's load at a decision.

    `running`: every request on the engine that has not finished, decoding or still waiting for
    its prefill, since all of them will share its decode steps.
    `waiting_requests`: how many of `running` have not started (vLLM's `num_requests_waiting`).
    `queued_prefill_tokens`: prompt tokens on the engine not yet prefilled.
    `kv_free_tokens`: KV-cache capacity not yet allocated, in tokens (free blocks × block size),
    or None when unknown (then KV is not checked).
    `max_num_seqs`: the engine's batch limit.
    `slowdown`: predicted co-location slowdown (≥ 1 slows); scales every predicted time here.
    `prefill_start_delay_s`: seconds until the engine can start a new prefill, when the caller
    knows it (a simulator does); None estimates it as one decode step of the current batch.
    """

    engine_id: str
    max_num_seqs: int
    running: tuple[RunningRequest, ...] = ()
    waiting_requests: int = 0
    queued_prefill_tokens: int = 0
    kv_free_tokens: int | None = None
    slowdown: float = 1.0
    prefill_start_delay_s: float | None = None

    def __post_init__(self) -> None:
        name = f"engine {self.engine_id!r}"
        if not self.engine_id:
            raise ValueError("engine_id must not be empty")
        if self.max_num_seqs < 1:
            raise ValueError(f"{name} max_num_seqs must be at least 1, got {self.max_num_seqs!r}")
        if not 0 <= self.waiting_requests <= len(self.running):
            raise ValueError(
                f"{name} waiting_requests must be between 0 and the {len(self.running)} running "
                f"requests (waiting ones are counted in running), got {self.waiting_requests!r}"
            )
        if self.queued_prefill_tokens < 0:
            raise ValueError(
                f"{name} queued_prefill_tokens must be at or above zero, "
                f"got {self.queued_prefill_tokens!r}"
            )
        if self.kv_free_tokens is not None and self.kv_free_tokens < 0:
            raise ValueError(
                f"{name} kv_free_tokens must be at or above zero or None, "
                f"got {self.kv_free_tokens!r}"
            )
        _validation.require_positive(f"{name} slowdown", self.slowdown)
        if self.prefill_start_delay_s is not None:
            _validation.require_non_negative(
                f"{name} prefill_start_delay_s", self.prefill_start_delay_s
            )

    @functools.cached_property
    def tightest_tpot_s(self) -> float:
        """The smallest TPOT target running here; infinity when nothing runs."""
        return min((request.tpot_s for request in self.running), default=math.inf)

    @functools.cached_property
    def inverse_tpot_sum(self) -> float:
        """Σ 1/T_r over the running requests: VBS is T_min times this."""
        return math.fsum(1 / request.tpot_s for request in self.running)

    @functools.cached_property
    def context_token_sum(self) -> int:
        """Σ context tokens over the running requests."""
        return sum(request.context_tokens for request in self.running)

    @property
    def decoding_requests(self) -> int:
        """Running requests past their prefill."""
        return len(self.running) - self.waiting_requests

    def mean_context_tokens(self, *, extra_context_tokens: int | None = None) -> float:
        """Mean context over the running requests, plus one more of `extra_context_tokens` if
        given; 0 for an empty engine."""
        count = len(self.running)
        total = self.context_token_sum
        if extra_context_tokens is not None:
            count += 1
            total += extra_context_tokens
        return total / count if count else 0.0

    def has_room(self, *, prompt_tokens: int, max_waiting: int | None) -> bool:
        """Whether a request of `prompt_tokens` would start here at once: under `max_num_seqs`,
        fewer than `max_waiting` requests waiting (None: no limit), and its KV fits."""
        if not self.has_sequence_room(max_waiting=max_waiting):
            return False
        if self.kv_free_tokens is None:
            return True
        return self.kv_free_tokens - self.queued_prefill_tokens >= prompt_tokens

    def has_sequence_room(self, *, max_waiting: int | None) -> bool:
        """Whether any request could start here at once, whatever its size."""
        if len(self.running) >= self.max_num_seqs:
            return False
        return max_waiting is None or self.waiting_requests < max_waiting

    def with_dispatched(self, request: slo.Request) -> "EngineState":
        """This snapshot after `request` is sent here: running and waiting, its prompt queued."""
        arrival = RunningRequest(
            request_id=request.request_id,
            tpot_s=request.tpot_s,
            context_tokens=request.prompt_tokens,
        )
        return dataclasses.replace(
            self,
            running=(*self.running, arrival),
            waiting_requests=self.waiting_requests + 1,
            queued_prefill_tokens=self.queued_prefill_tokens + request.prompt_tokens,
        )
