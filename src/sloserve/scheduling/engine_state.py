"""What the scheduler knows about one engine at a decision: a snapshot its caller fills in.

The gateway fills it from its own in-flight accounting, corrected by the engine's metrics; the
simulator fills it from its engine model. The scheduler never keeps engine state between calls;
within one `dispatch` it applies its own dispatches to the snapshot with `with_dispatched`.
"""

import collections
import dataclasses
import functools
import math
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sloserve.scheduling import _validation, slo

# Σ 1/T_r is carried as an exact integer count of the smallest float step (2**-1074): every
# finite float is a whole number of them, so adding and removing terms loses nothing, and one
# correctly rounded division gives what math.fsum (also correctly rounded) gives over the terms.
_EXACT_SHIFT = 1074
_EXACT_SCALE = 1 << _EXACT_SHIFT

_NO_SIGNALS: Mapping[str, object] = types.MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningRequest:
    """A request on an engine: its TPOT target and its context (prompt plus generated) tokens.

    `generated_tokens`: output tokens it has produced so far, as far as the caller knows.
    `max_tokens`: its output budget, or None when unknown (another client's request). The TTFT
    guard reads both to predict when the request frees its `max_num_seqs` slot.
    """

    request_id: str
    tpot_s: float
    context_tokens: int
    generated_tokens: int = 0
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        # built for every request at every context refresh: the messages only when a check fails
        max_tokens = self.max_tokens
        if (
            0 < self.tpot_s < math.inf
            and self.context_tokens >= 0
            and self.generated_tokens >= 0
            and (max_tokens is None or max_tokens >= 1)
        ):
            return
        name = f"running request {self.request_id!r}"
        _validation.require_positive(f"{name} tpot_s", self.tpot_s)
        for field, value in (
            ("context_tokens", self.context_tokens),
            ("generated_tokens", self.generated_tokens),
        ):
            if value < 0:
                raise ValueError(f"{name} {field} must be at or above zero, got {value!r}")
        raise ValueError(f"{name} max_tokens must be at least 1 or None, got {max_tokens!r}")


# a few targets recur (a class's), so their exact inverses are kept
@functools.lru_cache(maxsize=256)
def inverse_tpot_units(tpot_s: float) -> int | None:
    """1/`tpot_s` in exact units of 2**-1074, or None when 1/`tpot_s` is not a finite float."""
    inverse = 1 / tpot_s
    if not math.isfinite(inverse):
        return None
    numerator, denominator = inverse.as_integer_ratio()
    # the denominator is a power of two no larger than the scale
    return numerator << (_EXACT_SHIFT + 1 - denominator.bit_length())


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningTotals:
    """Sums over an engine's running requests that the guards read at every decision.

    `count`: how many requests. `inverse_tpot_units`: Σ 1/T_r exactly, in units of 2**-1074
    (None when some 1/T_r overflows a float). `context_tokens`: Σ context tokens.
    `tightest_tpot_s`: the smallest TPOT target (infinity for none). `inverse_tpot_sum`: Σ 1/T_r
    as a float, equal to math.fsum of the terms (infinity when one overflows).

    Callers that track their running requests (the simulator) carry these from one decision to
    the next instead of summing over every request again; `of` sums them afresh.
    """

    count: int = 0
    inverse_tpot_units: int | None = 0
    context_tokens: int = 0
    tightest_tpot_s: float = math.inf
    # Σ 1/T_r as a float, read at every guard check: divided out once
    inverse_tpot_sum: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = self.inverse_tpot_units
        inverse_sum = math.inf if units is None else units / _EXACT_SCALE
        object.__setattr__(self, "inverse_tpot_sum", inverse_sum)

    @classmethod
    def of(cls, running: Iterable[RunningRequest]) -> "RunningTotals":
        """The totals of `running`, summed afresh."""
        count = 0
        units: int | None = 0
        context = 0
        tightest = math.inf
        for request in running:
            count += 1
            context += request.context_tokens
            tightest = min(tightest, request.tpot_s)
            term = inverse_tpot_units(request.tpot_s)
            units = None if term is None or units is None else units + term
        return cls(
            count=count, inverse_tpot_units=units, context_tokens=context, tightest_tpot_s=tightest
        )

    def plus(self, *, tpot_s: float, context_tokens: int) -> "RunningTotals":
        """The totals with one more request of target `tpot_s` and `context_tokens`."""
        units = self.inverse_tpot_units
        term = inverse_tpot_units(tpot_s)
        return RunningTotals(
            count=self.count + 1,
            inverse_tpot_units=None if units is None or term is None else units + term,
            context_tokens=self.context_tokens + context_tokens,
            tightest_tpot_s=min(self.tightest_tpot_s, tpot_s),
        )


class RunningTotalsTracker:
    """Running totals of a changing set of requests, kept up to date as requests come and go
    (the tightest target by a count of each target). Not thread-safe."""

    def __init__(self) -> None:
        self._targets: collections.Counter[float] = collections.Counter()
        self._count = 0
        self._units = 0
        self._overflowing = 0
        self._context_tokens = 0
        self._tightest_tpot_s = math.inf
        self._totals: RunningTotals | None = RunningTotals()

    def add(self, *, tpot_s: float, context_tokens: int) -> None:
        """Count one more request."""
        self._targets[tpot_s] += 1
        self._count += 1
        term = inverse_tpot_units(tpot_s)
        if term is None:
            self._overflowing += 1
        else:
            self._units += term
        self._context_tokens += context_tokens
        self._tightest_tpot_s = min(self._tightest_tpot_s, tpot_s)
        self._totals = None

    def remove(self, *, tpot_s: float, context_tokens: int) -> None:
        """Stop counting a request added with `tpot_s` and now holding `context_tokens`."""
        remaining = self._targets[tpot_s] - 1
        if remaining < 0:
            raise ValueError(f"no request with tpot_s {tpot_s!r} is counted")
        self._count -= 1
        term = inverse_tpot_units(tpot_s)
        if term is None:
            self._overflowing -= 1
        else:
            self._units -= term
        self._context_tokens -= context_tokens
        if remaining:
            self._targets[tpot_s] = remaining
        else:
            del self._targets[tpot_s]
            if tpot_s == self._tightest_tpot_s:
                self._tightest_tpot_s = min(self._targets, default=math.inf)
        self._totals = None

    def change_context(self, delta_tokens: int) -> None:
        """Contexts of counted requests grew (or shrank) by `delta_tokens` in all."""
        if delta_tokens:
            self._context_tokens += delta_tokens
            self._totals = None

    def totals(self) -> RunningTotals:
        """The totals now."""
        totals = self._totals
        if totals is None:
            totals = self._totals = RunningTotals(
                count=self._count,
                inverse_tpot_units=None if self._overflowing else self._units,
                context_tokens=self._context_tokens,
                tightest_tpot_s=self._tightest_tpot_s,
            )
        return totals


@dataclass(frozen=True, slots=True, kw_only=True)
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
    `known_totals`: the sums over `running`, when the caller keeps them (they must be what
    `RunningTotals.of(running)` gives: replace both together); None sums them when first
    needed.
    `signals`: further per-engine figures for routing plugins, keyed by a name the plugin
    documents (e.g. a prefix-cache index); the core itself reads none of them.
    """

    engine_id: str
    max_num_seqs: int
    running: tuple[RunningRequest, ...] = ()
    waiting_requests: int = 0
    queued_prefill_tokens: int = 0
    kv_free_tokens: int | None = None
    slowdown: float = 1.0
    prefill_start_delay_s: float | None = None
    known_totals: RunningTotals | None = dataclasses.field(default=None, compare=False, repr=False)
    signals: Mapping[str, object] = dataclasses.field(
        default_factory=lambda: _NO_SIGNALS, compare=False, repr=False
    )
    # `running`'s sums, once summed (not an argument: `dataclasses.replace` of `running` starts
    # afresh, so it never carries the sums of other requests)
    _summed_totals: RunningTotals | None = dataclasses.field(
        default=None, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        # Snapshots are built at every decision: one pass of plain comparisons, and the checks
        # with their messages only when one fails.
        running = len(self.running)
        kv_free_tokens = self.kv_free_tokens
        delay_s = self.prefill_start_delay_s
        totals = self.known_totals
        if (
            self.engine_id
            and self.max_num_seqs >= 1
            and 0 <= self.waiting_requests <= running
            and self.queued_prefill_tokens >= 0
            and (kv_free_tokens is None or kv_free_tokens >= 0)
            and 0 < self.slowdown < math.inf
            and (delay_s is None or 0 <= delay_s < math.inf)
            and (totals is None or totals.count == running)
        ):
            return
        self._raise_invalid()

    def _raise_invalid(self) -> None:
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
        if self.known_totals is not None and self.known_totals.count != len(self.running):
            raise ValueError(
                f"{name} known_totals count {self.known_totals.count} differs from the "
                f"{len(self.running)} running requests"
            )

    @property
    def totals(self) -> RunningTotals:
        """The sums over the running requests (the caller's `known_totals` when given)."""
        totals = self.known_totals
        if totals is None:
            totals = self._summed_totals
            if totals is None:
                totals = RunningTotals.of(self.running)
                # a cache, not a change of state: the frozen snapshot's own way to set a field
                object.__setattr__(self, "_summed_totals", totals)
        return totals

    @property
    def tightest_tpot_s(self) -> float:
        """The smallest TPOT target running here; infinity when nothing runs."""
        return self.totals.tightest_tpot_s

    @property
    def inverse_tpot_sum(self) -> float:
        """Σ 1/T_r over the running requests (as math.fsum sums them): VBS is T_min times this."""
        return self.totals.inverse_tpot_sum

    @property
    def context_token_sum(self) -> int:
        """Σ context tokens over the running requests."""
        return self.totals.context_tokens

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

    def with_dispatched(
        self, request: slo.Request, *, prefill_tokens: int | None = None
    ) -> "EngineState":
        """This snapshot after `request` is sent here: running and waiting, its prompt queued
        (`prefill_tokens` of it when the caller expects part of it cached)."""
        arrival = RunningRequest(
            request_id=request.request_id,
            tpot_s=request.tpot_s,
            context_tokens=request.prompt_tokens,
            max_tokens=request.max_tokens,
        )
        # Carry the sums when this snapshot has them (given, or summed because a scheduler
        # deciding on it read them), so that a dispatch costs O(1) in them rather than a sum
        # over every running request.
        totals = self.known_totals
        if totals is None:
            totals = self._summed_totals
        return EngineState(
            engine_id=self.engine_id,
            max_num_seqs=self.max_num_seqs,
            running=(*self.running, arrival),
            waiting_requests=self.waiting_requests + 1,
            queued_prefill_tokens=self.queued_prefill_tokens
            + (request.prompt_tokens if prefill_tokens is None else prefill_tokens),
            kv_free_tokens=self.kv_free_tokens,
            slowdown=self.slowdown,
            prefill_start_delay_s=self.prefill_start_delay_s,
            known_totals=(
                None
                if totals is None
                else totals.plus(tpot_s=request.tpot_s, context_tokens=request.prompt_tokens)
            ),
            signals=self.signals,
        )
