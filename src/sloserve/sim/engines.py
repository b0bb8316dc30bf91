"""One in-process engine core as the simulator drives it, and the gateway's snapshot of it.

The engine core (`sloserve.engine.core`) does the serving; this wrapper keeps what a gateway
knows about the engine — the requests it sent there and not yet seen finish — and turns the core's
state into the `scheduling.engine_state.EngineState` the scheduler decides on:

- running requests: the unfinished requests sent here, each with its TPOT target, its context
  (prompt plus generated tokens), its generated tokens and its output budget, waiting ones
  included;
- waiting count, queued prefill tokens, free KV tokens: the core's own figures at that instant;
- `prefill_start_delay_s`: exact, the time left of the step in flight (a request sent now joins the
  next step), which a simulator knows and a real gateway must estimate;
- `slowdown`: the engine's co-location slowdown.

Contexts are the one figure not refreshed at every decision: reading them costs O(requests) on
the engine, so they are refreshed at most every `context_refresh_s` of simulated time, and only
for policies that read them (`track_contexts`); a request sent since the last refresh counts its
prompt, as the scheduler itself assumes for a request it dispatches. For those policies the sums
the guards read (Σ 1/T_r, the context sum, the tightest target) are kept up to date as requests
are sent, finish and have their contexts refreshed, and handed over with each snapshot.
"""

import math

from sloserve.engine import core, requests
from sloserve.scheduling import engine_state, slo


class SimEngine:
    """An engine core and the simulator's bookkeeping of it. Not thread-safe."""

    def __init__(
        self,
        *,
        engine_id: str,
        engine_core: core.EngineCore,
        track_contexts: bool,
        context_refresh_s: float,
    ) -> None:
        if context_refresh_s < 0 or not math.isfinite(context_refresh_s):
            raise ValueError(
                f"context_refresh_s must be a finite number at or above zero, "
                f"got {context_refresh_s!r}"
            )
        self.engine_id = engine_id
        self.core = engine_core
        self._track_contexts = track_contexts
        self._context_refresh_s = context_refresh_s
        self._refreshed_at = -math.inf
        self._members: dict[str, engine_state.RunningRequest] = {}
        self._prompts: dict[str, int] = {}
        self._running: tuple[engine_state.RunningRequest, ...] | None = ()
        # the sums over running requests only matter to policies that predict (they read contexts)
        self._totals = engine_state.RunningTotalsTracker() if track_contexts else None
        self._max_num_seqs = engine_core.config.max_num_seqs
        self._block_size = engine_core.config.block_size
        # what llm-d's KV-utilization scorer reads against the free tokens
        self._signals = {"kv_capacity_tokens": engine_core.config.kv_capacity_tokens}

    @property
    def held(self) -> int:
        """Requests sent here that have not finished."""
        return len(self._members)

    def send(
        self,
        request: slo.Request,
        *,
        output_tokens: int,
        priority: int,
        now_s: float,
        block_hashes: tuple[int, ...] = (),
    ) -> None:
        """Hand `request` to the engine at `now_s`; it will generate exactly `output_tokens`.
        `block_hashes`: its prompt's block hashes at the engine's block size, for the engine's
        prefix cache."""
        spec = requests.RequestSpec(
            request_id=request.request_id,
            prompt_tokens=request.prompt_tokens,
            output_tokens=output_tokens,
            priority=priority,
            tpot_target_s=request.tpot_s,
            block_hashes=block_hashes,
        )
        self.core.add_request(spec, at=now_s)
        self._members[request.request_id] = engine_state.RunningRequest(
            request_id=request.request_id,
            tpot_s=request.tpot_s,
            context_tokens=request.prompt_tokens,
            max_tokens=request.max_tokens,
        )
        self._prompts[request.request_id] = request.prompt_tokens
        if self._totals is not None:
            self._totals.add(tpot_s=request.tpot_s, context_tokens=request.prompt_tokens)
        self._running = None

    def forget(self, request_id: str) -> None:
        """The request finished: it no longer loads the engine."""
        member = self._members.pop(request_id)
        del self._prompts[request_id]
        if self._totals is not None:
            self._totals.remove(tpot_s=member.tpot_s, context_tokens=member.context_tokens)
        self._running = None

    def snapshot(self, now_s: float) -> engine_state.EngineState:
        """The engine's state at `now_s`; the core must already have been advanced to `now_s`."""
        if self._track_contexts and now_s - self._refreshed_at >= self._context_refresh_s:
            self._refresh_contexts(now_s)
        running = self._running
        if running is None:
            running = self._running = tuple(self._members.values())
        waiting, queued_prefill_tokens, free_blocks, step_end = self.core.load_figures()
        return engine_state.EngineState(
            engine_id=self.engine_id,
            max_num_seqs=self._max_num_seqs,
            running=running,
            waiting_requests=waiting,
            queued_prefill_tokens=queued_prefill_tokens,
            kv_free_tokens=free_blocks * self._block_size,
            slowdown=self.core.timer.slowdown,
            prefill_start_delay_s=0.0 if step_end is None else max(0.0, step_end - now_s),
            known_totals=None if self._totals is None else self._totals.totals(),
            signals=self._signals,
        )

    def _refresh_contexts(self, now_s: float) -> None:
        members = self._members
        prompts = self._prompts
        growth = 0
        for request_id, output_tokens in self.core.output_counts():
            previous = members[request_id]
            context_tokens = prompts[request_id] + output_tokens
            if context_tokens == previous.context_tokens:
                continue
            growth += context_tokens - previous.context_tokens
            members[request_id] = engine_state.RunningRequest(
                request_id=request_id,
                tpot_s=previous.tpot_s,
                context_tokens=context_tokens,
                generated_tokens=output_tokens,
                max_tokens=previous.max_tokens,
            )
        if self._totals is not None:
            self._totals.change_context(growth)
        self._running = None
        self._refreshed_at = now_s
