"""The engine on a clock it is handed: the same code in the simulator and behind the server.

Use (times in seconds, never decreasing):

    core = EngineCore(engine_config, timer)
    core.add_request(spec, at=t)        # queue a request
    t_next = core.next_event_time()     # when something next happens (None: idle)
    for event in core.advance(t_next):  # move the clock, collect what happened up to then
        ...

The engine runs steps back to back while it has work. A step is planned when the engine becomes
free; one that finds it idle is planned lazily, at the first `next_event_time` or `advance`, so
requests added at the same instant share the first step. Requests that arrive during a step join
the next one, as in a real engine. The planned step's duration comes from the `StepTimer`; a
slowdown change applies from the next step on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from sloserve.engine import config, events, requests, scheduler, timing


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """The engine's load at `time` (what vLLM's gauges report, plus what a simulator can know)."""

    time: float
    num_running: int
    num_waiting: int
    kv_blocks_total: int
    kv_blocks_used: int
    queued_prefill_tokens: int
    step_end: float | None
    # vLLM's prefix-cache counters (prompt tokens looked up and found at admissions) and the
    # cached blocks evicted so far
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0
    prefix_cache_evictions: int = 0

    @property
    def kv_usage(self) -> float:
        """Fraction of KV blocks in use, 0 to 1."""
        return self.kv_blocks_used / self.kv_blocks_total


@dataclass(frozen=True, slots=True)
class StepView:
    """The step in flight: when it started and ends, and what it computes."""

    start: float
    end: float
    prefill_tokens: int
    prefill_requests: tuple[str, ...]
    decode_batch: int
    decode_context_mean: float


@dataclass(frozen=True, slots=True)
class RequestView:
    """One unfinished request: `state` "waiting", "prefill" (running, prompt not all computed)
    or "decode"; `context_tokens` have their KV entries computed."""

    request_id: str
    state: Literal["waiting", "prefill", "decode"]
    context_tokens: int
    output_tokens: int
    tpot_target_s: float | None
    priority: int


class EngineCore:
    """One simulated engine. Not thread-safe; all calls come from one clock owner."""

    def __init__(
        self,
        engine_config: config.EngineConfig,
        timer: timing.StepTimer,
        *,
        token_events: bool = True,
        start_time: float = 0.0,
    ) -> None:
        self.config = engine_config
        self.timer = timer
        self._scheduler = scheduler.IterationScheduler(engine_config, token_events=token_events)
        self._requests: dict[str, requests.EngineRequest] = {}
        self._sequence = itertools.count()
        self._now = start_time
        self._step: scheduler.StepPlan | None = None
        self._step_end = start_time
        self._buffer: list[events.EngineEvent] = []
        # whether the buffer holds a finish (see `next_event_time`'s `finishes_only`)
        self._finish_buffered = False

    @property
    def now(self) -> float:
        """The engine's clock: the latest time it was handed."""
        return self._now

    def add_request(self, spec: requests.RequestSpec, *, at: float) -> None:
        """Queue `spec`, arriving at time `at`.

        Raises ValueError for a reused request id or one longer than max_model_len; events the
        clock passed on the way to `at` are returned by the next `advance`.
        """
        total = spec.prompt_tokens + spec.output_tokens
        if total > self.config.max_model_len:
            raise ValueError(
                f"request {spec.request_id!r} needs {total} tokens (prompt {spec.prompt_tokens} + "
                f"output {spec.output_tokens}), more than max_model_len {self.config.max_model_len}"
            )
        if spec.request_id in self._requests:
            raise ValueError(f"request id {spec.request_id!r} is already in the engine")
        if len(spec.block_hashes) > spec.prompt_tokens // self.config.block_size:
            raise ValueError(
                f"request {spec.request_id!r} has {len(spec.block_hashes)} block hashes, more "
                f"than its {spec.prompt_tokens} prompt tokens fill in blocks of "
                f"{self.config.block_size}: hash full blocks at the engine's block size"
            )
        self._catch_up(at)
        request = requests.EngineRequest(spec, arrival=at, sequence=next(self._sequence))
        self._requests[spec.request_id] = request
        self._scheduler.add(request)

    def abort_request(self, request_id: str, *, at: float) -> bool:
        """Drop an unfinished request at time `at`, freeing its KV blocks; a step in flight still
        takes its planned time. False when the engine does not hold that request."""
        self._catch_up(at)
        request = self._requests.pop(request_id, None)
        if request is None:
            return False
        self._scheduler.abort(request)
        return True

    def next_event_time(
        self, horizon: float | None = None, *, finishes_only: bool = False
    ) -> float | None:
        """When the next event is due, or None when the engine is idle.

        Without `horizon` this is the end of the step in flight (or now if events are waiting),
        and nothing changes. With it the engine first runs, on its own, every step that ends by
        `horizon` until one of them produces an event: a simulator then gets the engine's next
        event time (at or before `horizon`), or a time after `horizon` when none falls before
        it, without stepping through the engine's silent steps itself. Its clock moves to that
        event, so `horizon` must be no later than the next time the caller will add or abort a
        request on this engine (with several engines: no later than the others' next steps).

        With `finishes_only` (and a horizon) only a finish stops that run: first tokens and
        preemptions on the way wait, in order, for the next `advance`, and the time given is
        that of the next finish. For a caller whose only business with the engine's other
        events is to collect them (a simulator with no request waiting to be placed).
        """
        if self._step is None:
            self._start_step_if_idle()
        if horizon is not None:
            if horizon < self._now:
                raise ValueError(f"horizon {horizon} is before the engine's clock ({self._now})")
            while (
                not (self._finish_buffered if finishes_only else self._buffer)
                and self._step is not None
                and self._step_end <= horizon
            ):
                if not self._continue_decoding(horizon):
                    self._complete_step()
        if self._buffer and (self._finish_buffered or not finishes_only):
            return self._now
        return self._step_end if self._step is not None else None

    @property
    def has_pending_events(self) -> bool:
        """Whether events wait for the next `advance` (after `next_event_time(...,
        finishes_only=True)` they may, with the clock past them)."""
        return bool(self._buffer)

    def advance(self, to: float) -> list[events.EngineEvent]:
        """Move the clock to `to` and return everything that happened up to then, in order."""
        self._run_until(to)
        produced, self._buffer = self._buffer, []
        self._finish_buffered = False
        return produced

    def snapshot(self) -> EngineSnapshot:
        """The engine's load now."""
        sched = self._scheduler
        return EngineSnapshot(
            time=self._now,
            num_running=len(sched.running),
            num_waiting=len(sched.waiting),
            kv_blocks_total=sched.kv.total,
            kv_blocks_used=sched.kv.used,
            queued_prefill_tokens=sched.queued_prefill_tokens(),
            step_end=self._step_end if self._step is not None else None,
            prefix_cache_queries=sched.prefix_queries,
            prefix_cache_hits=sched.prefix_hits,
            prefix_cache_evictions=sched.kv.evictions,
        )

    def load_figures(self) -> tuple[int, int, int, float | None]:
        """What a gateway's snapshot of the engine needs of `snapshot`, without building one:
        (waiting requests, queued prefill tokens, free KV blocks, end of the step in flight or
        None). The simulator asks at every decision."""
        sched = self._scheduler
        return (
            len(sched.waiting),
            sched.queued_prefill_tokens(),
            sched.kv.free,
            self._step_end if self._step is not None else None,
        )

    def output_counts(self) -> list[tuple[str, int]]:
        """(request id, tokens generated so far) of every unfinished request, as
        `request_views` orders them, without building the views."""
        sched = self._scheduler
        counts = [(r.request_id, r.num_output()) for r in sched.running]
        counts.extend((r.request_id, r.num_output()) for r in sched.waiting)
        return counts

    def request_views(self) -> list[RequestView]:
        """Every unfinished request: running ones in admission order, then waiting ones."""
        sched = self._scheduler
        views = [_view(r, "prefill" if r in sched.prefilling else "decode") for r in sched.running]
        views.extend(_view(r, "waiting") for r in sched.waiting)
        return views

    def step_in_flight(self) -> StepView | None:
        """The step being computed (planning one if the engine is free and has work)."""
        self._start_step_if_idle()
        plan = self._step
        if plan is None:
            return None
        return StepView(
            start=plan.start,
            end=self._step_end,
            prefill_tokens=plan.prefill_tokens,
            prefill_requests=tuple(r.request_id for r in plan.chunks),
            decode_batch=plan.decode_batch,
            decode_context_mean=plan.decode_context_mean,
        )

    def held_blocks(self, request_id: str) -> int:
        """KV blocks an unfinished request holds (0 while it waits)."""
        request = self._requests[request_id]
        if request.status is not requests.Status.RUNNING:
            return 0
        return self._scheduler.held_blocks(request)

    def _catch_up(self, to: float) -> None:
        # at the same instant nothing is planned yet, so that simultaneous arrivals share a step
        if to != self._now:
            self._run_until(to)

    def _run_until(self, to: float) -> None:
        if to < self._now:
            raise ValueError(
                f"time {to} is before the engine's clock ({self._now}); time only runs forward "
                "(after next_event_time(horizon=h) the clock may be at the engine's next event: "
                "pass a horizon no later than your next add or abort)"
            )
        if self._step is None:
            self._start_step_if_idle()
        while self._step is not None and self._step_end <= to:
            if not self._continue_decoding(to):
                self._complete_step()
        self._now = to

    def _continue_decoding(self, limit: float) -> bool:
        """Run the plain decode steps (see `IterationScheduler.plain_decode`) that end by
        `limit`, starting with the one in flight; False, having run none, when the general path
        must complete it."""
        plan = self._step
        if plan is None:
            return False
        in_flight = self._scheduler.run_plain_decode(plan, self._step_end, limit, self.timer)
        if in_flight is None:
            return False
        self._now, self._step_end = in_flight
        return True

    def _complete_step(self) -> None:
        """Finish the step in flight at its end time and start the next one."""
        plan = self._step
        if plan is None:
            return
        self._step = None
        self._now = self._step_end
        produced = self._scheduler.complete(plan, self._step_end)
        for event in produced:
            if isinstance(event, events.Finished):
                del self._requests[event.request_id]
                self._finish_buffered = True
        self._buffer.extend(produced)
        if self._scheduler.replan_decode(plan, self._now):
            # the next step decodes only: the plan was re-made in place, as `schedule` would
            self._step = plan
            self._step_end = self._now + self.timer.decode_step_seconds(
                plan.decode_batch, plan.decode_context_mean
            )
            return
        self._start_step_if_idle()

    def _start_step_if_idle(self) -> None:
        if self._step is not None:
            return
        plan, preempted = self._scheduler.schedule(self._now)
        self._buffer.extend(preempted)
        if plan is None:
            return
        self._step = plan
        self._step_end = self._now + self.timer.step_seconds(
            prefill_tokens=plan.prefill_tokens,
            decode_batch=plan.decode_batch,
            decode_context=plan.decode_context_mean,
            prefill_attended=plan.attended,
        )


def _view(
    request: requests.EngineRequest, state: Literal["waiting", "prefill", "decode"]
) -> RequestView:
    return RequestView(
        request_id=request.request_id,
        state=state,
        context_tokens=request.context(),
        output_tokens=request.num_output(),
        tpot_target_s=request.spec.tpot_target_s,
        priority=request.spec.priority,
    )
