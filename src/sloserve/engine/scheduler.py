"""The iteration scheduler: which tokens each engine step computes (vLLM V1's algorithm).

Each step has a budget of `max_num_batched_tokens` tokens and at most `max_num_seqs` running
requests. It is filled in this order:
1. decoding requests (one token each; under `credit` only those whose turn it is, except in
   steps expected to carry a prompt chunk, where every one decodes);
2. running requests in the middle of a chunked prefill, oldest first (a chunk up to the budget);
3. waiting requests, in the policy's order, while they fit: a chunk up to the budget (the whole
   prompt when chunked prefill is off) and its KV blocks; the first that does not fit stops it.
When a running request's next tokens need KV blocks that are not free, running requests are
preempted by recompute until they are (the most recently admitted under `fcfs`/`credit`, the
lowest priority under `priority`; possibly the request itself), and no waiting request is admitted
in that step. Preempted requests go back to waiting and lose their KV cache.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from sloserve.engine import config, decode_pool, events, kv_cache, requests, waiting_queue


@dataclass(slots=True)
class StepPlan:
    """What one step computes; the scheduler completes it with `complete`."""

    start: float
    budget: int
    cohorts: list[decode_pool.DecodeCohort] = field(default_factory=list)
    decode_batch: int = 0
    decode_context_sum: int = 0
    chunks: dict[requests.EngineRequest, int] = field(default_factory=dict)

    @property
    def prefill_tokens(self) -> int:
        """Prompt (or recomputed) tokens computed in this step."""
        return sum(self.chunks.values())

    @property
    def decode_context_mean(self) -> float:
        """Mean cached tokens of the decoding requests (0 when none decode)."""
        return self.decode_context_sum / self.decode_batch if self.decode_batch else 0.0


class IterationScheduler:
    """Requests, KV blocks and policy of one engine; no notion of time beyond the `now` and
    `end` it is handed."""

    def __init__(self, engine_config: config.EngineConfig, *, token_events: bool) -> None:
        self._config = engine_config
        self._token_events = token_events
        self.kv = kv_cache.BlockPool(
            total=engine_config.num_gpu_blocks, block_size=engine_config.block_size
        )
        self.waiting = waiting_queue.for_policy(engine_config.policy)
        self.running: dict[requests.EngineRequest, None] = {}
        self.prefilling: dict[requests.EngineRequest, None] = {}
        self.pool = decode_pool.DecodePool(block_size=engine_config.block_size)
        self.waiting_tokens = 0
        self._targets: collections.Counter[float] = collections.Counter()
        self._tightest_target: float | None = None
        self._ratios_stale = False

    def add(self, request: requests.EngineRequest) -> None:
        """Queue a new request."""
        self.waiting.push(request)
        self.waiting_tokens += request.num_tokens()

    def abort(self, request: requests.EngineRequest) -> None:
        """Drop a waiting or running request and free its blocks."""
        if request.status is requests.Status.WAITING:
            request.status = requests.Status.ABORTED
            self.waiting.discard(request)
            self.waiting_tokens -= request.num_tokens()
        elif request.status is requests.Status.RUNNING:
            self._leave_running(request)
            request.status = requests.Status.ABORTED

    def schedule(self, now: float) -> tuple[StepPlan | None, list[events.Preempted]]:
        """Plan the step starting at `now`; None when there is nothing to compute."""
        if self._ratios_stale:
            self.pool.regroup(self._ratio_of)
            self._ratios_stale = False
        preempted: list[events.Preempted] = []
        while True:
            preemptions_before = len(preempted)
            turns = self._all_cohorts() if self._prefill_bound() else self.pool.take_turns()
            plan = self._plan(turns, now, preempted)
            if plan is not None:
                return plan, preempted
            # An empty step does not run. Credit accrues until some cohort's turn comes; after
            # preemptions the next round may admit the preempted requests' successors.
            skipped_decoders = not turns and len(self.pool) > 0
            if not skipped_decoders and len(preempted) == preemptions_before:
                return None, preempted

    def complete(self, plan: StepPlan, end: float) -> list[events.EngineEvent]:
        """Apply the step's results at time `end` and report its tokens and finishes."""
        produced: list[events.EngineEvent] = []
        for cohort in plan.cohorts:
            if not cohort.members:
                continue
            if self._token_events:
                produced.extend(
                    events.Token(r.request_id, end, r.num_output()) for r in cohort.members
                )
            for request in self.pool.advance(cohort):
                self._finish(request, end, produced)
        for request, tokens in plan.chunks.items():
            if request.status is not requests.Status.RUNNING:
                continue
            request.num_computed += tokens
            if request.num_computed < request.num_tokens():
                continue
            index = request.stored_output
            request.stored_output += 1
            if index == 0:
                request.first_token = end
                produced.append(events.FirstToken(request.request_id, end))
            elif self._token_events:
                produced.append(events.Token(request.request_id, end, index))
            del self.prefilling[request]
            if request.stored_output >= request.spec.output_tokens:
                self._finish(request, end, produced)
            else:
                self.pool.join(request, ratio=self._ratio_of(request), credit=0.0)
        return produced

    def plain_decode(self, plan: StepPlan) -> bool:
        """Whether `plan` runs one cohort that every decoding request belongs to, with no prefill
        in flight or waiting and no token events: while no member finishes and its KV blocks
        fit, `complete` reports nothing and `schedule` plans the same cohort again, so
        `continue_decoding` may stand in for both. This stays true over such steps."""
        if self._token_events or plan.chunks or len(plan.cohorts) != 1 or self.prefilling:
            return False
        cohort = plan.cohorts[0]
        pool_cohorts = self.pool.cohorts
        if len(pool_cohorts) != 1 or pool_cohorts[0] is not cohort or cohort.ratio < 1.0:
            return False
        return not self._ratios_stale and not len(self.waiting)

    def continue_decoding(self, plan: StepPlan, end: float) -> bool:
        """Complete a `plain_decode` plan at `end` and re-plan it in place as the next step,
        exactly as `complete` and `schedule` would; False (nothing changed) when a member
        finishes at `end` or the next step's KV blocks do not fit, for the general path.

        Plain decode stretches are most of an engine's steps at light load.
        """
        cohort = plan.cohorts[0]
        steps = cohort.steps + 1
        if not cohort.finishes_after(steps):
            return False
        needed = cohort.new_blocks_needed_at(steps)
        if needed > self.kv.free:
            return False
        cohort.steps = steps
        # a cohort of ratio 1 always takes its turn; the call keeps its credit arithmetic
        cohort.take_turn()
        self.kv.allocate(needed)
        plan.start = end
        # an abort during the step may have shrunk the cohort since the plan was made
        plan.decode_batch = len(cohort)
        plan.budget = self._config.max_num_batched_tokens - plan.decode_batch
        plan.decode_context_sum = cohort.context_sum()
        return True

    def _prefill_bound(self) -> bool:
        """Whether the next step is expected to carry a prompt chunk (credit policy only).

        Credit batching saves time only while step time falls with the batch: a step that
        carries a prompt chunk costs about the same with or without the skipped requests, so
        skipping them would only stretch their gaps. Such steps run every decoding request.
        """
        if self._config.policy is not config.Policy.CREDIT:
            return False
        if self.prefilling:
            return True
        return len(self.waiting) > 0 and len(self.running) < self._config.max_num_seqs

    def _all_cohorts(self) -> list[decode_pool.DecodeCohort]:
        """Every cohort, each taking part without spending credit (credits are kept)."""
        return list(self.pool.cohorts)

    def queued_prefill_tokens(self) -> int:
        """Tokens still to prefill: waiting requests' and the unfinished chunks of running ones."""
        running = sum(r.num_tokens() - r.num_computed for r in self.prefilling)
        return self.waiting_tokens + running

    def held_blocks(self, request: requests.EngineRequest) -> int:
        """KV blocks a running request holds now."""
        if request.cohort is not None:
            return request.cohort.held_blocks(request)
        return request.blocks

    def _plan(
        self,
        turns: list[decode_pool.DecodeCohort],
        now: float,
        preempted: list[events.Preempted],
    ) -> StepPlan | None:
        plan = StepPlan(start=now, budget=self._config.max_num_batched_tokens)
        preemptions_before = len(preempted)
        block_size = self._config.block_size
        needed = 0
        for cohort in turns:
            needed += cohort.new_blocks_needed()
        if needed > self.kv.free:
            taking_part = set(turns)
            while needed > self.kv.free:
                victim = self._victim()
                if victim.cohort in taking_part and victim.context() % block_size == 0:
                    needed -= 1
                self._preempt(victim, plan, now, preempted)
        self.kv.allocate(needed)
        for cohort in turns:
            if cohort.members:
                cohort.in_flight = True
                plan.cohorts.append(cohort)
                plan.decode_batch += len(cohort)
                plan.decode_context_sum += cohort.context_sum()
        plan.budget -= plan.decode_batch

        for request in list(self.prefilling) if self.prefilling else ():
            if plan.budget <= 0:
                break
            if request.status is not requests.Status.RUNNING:
                continue
            tokens = min(request.num_tokens() - request.num_computed, plan.budget)
            extra = requests.blocks_for(request.num_computed + tokens, block_size) - request.blocks
            if not self._make_room(extra, request, plan, now, preempted):
                continue
            self.kv.allocate(extra)
            request.blocks += extra
            plan.chunks[request] = tokens
            plan.budget -= tokens

        if len(preempted) == preemptions_before:
            self._admit_waiting(plan, now)
        if not plan.chunks and not plan.decode_batch:
            return None
        return plan

    def _admit_waiting(self, plan: StepPlan, now: float) -> None:
        if not len(self.waiting):
            return
        block_size = self._config.block_size
        while len(self.running) < self._config.max_num_seqs and plan.budget > 0:
            head = self.waiting.peek()
            if head is None:
                return
            needed = head.num_tokens()
            tokens = min(needed, plan.budget)
            if tokens < needed and not self._config.enable_chunked_prefill:
                return
            blocks = requests.blocks_for(tokens, block_size)
            if blocks > self.kv.free:
                return
            self.waiting.pop()
            self.waiting_tokens -= needed
            head.status = requests.Status.RUNNING
            if head.first_scheduled is None:
                head.first_scheduled = now
            self.running[head] = None
            self.prefilling[head] = None
            self._add_target(head)
            self.kv.allocate(blocks)
            head.blocks = blocks
            plan.chunks[head] = tokens
            plan.budget -= tokens

    def _make_room(
        self,
        blocks: int,
        requester: requests.EngineRequest,
        plan: StepPlan,
        now: float,
        preempted: list[events.Preempted],
    ) -> bool:
        """Preempt until `blocks` are free; False when `requester` itself was preempted."""
        while blocks > self.kv.free:
            victim = self._victim()
            self._preempt(victim, plan, now, preempted)
            if victim is requester:
                return False
        return True

    def _victim(self) -> requests.EngineRequest:
        if self._config.policy is config.Policy.PRIORITY:
            return max(self.running, key=lambda r: (r.spec.priority, r.arrival, r.sequence))
        return next(reversed(self.running))

    def _preempt(
        self,
        victim: requests.EngineRequest,
        plan: StepPlan,
        now: float,
        preempted: list[events.Preempted],
    ) -> None:
        cohort = victim.cohort
        if cohort is not None and cohort.in_flight:
            plan.decode_batch -= 1
            plan.decode_context_sum -= victim.context()
            plan.budget += 1
        if victim in plan.chunks:
            plan.budget += plan.chunks.pop(victim)
        self._leave_running(victim)
        victim.status = requests.Status.WAITING
        victim.num_computed = 0
        victim.num_preemptions += 1
        self.waiting.push_preempted(victim)
        self.waiting_tokens += victim.num_tokens()
        preempted.append(events.Preempted(victim.request_id, now))

    def _leave_running(self, request: requests.EngineRequest) -> None:
        if request.cohort is not None:
            self.pool.leave(request)
        else:
            del self.prefilling[request]
        self.kv.release(request.blocks)
        request.blocks = 0
        del self.running[request]
        self._remove_target(request)

    def _finish(
        self, request: requests.EngineRequest, end: float, produced: list[events.EngineEvent]
    ) -> None:
        self.kv.release(request.blocks)
        request.blocks = 0
        del self.running[request]
        self._remove_target(request)
        request.status = requests.Status.FINISHED
        produced.append(events.Finished(request.request_id, end, request.stats(end)))

    def _ratio_of(self, request: requests.EngineRequest) -> float:
        target = request.spec.tpot_target_s
        tightest = self._tightest_target
        if self._config.policy is not config.Policy.CREDIT or target is None or tightest is None:
            return 1.0
        return min(1.0, tightest / target)

    def _add_target(self, request: requests.EngineRequest) -> None:
        target = request.spec.tpot_target_s
        if target is None:
            return
        self._targets[target] += 1
        if self._tightest_target is None or target < self._tightest_target:
            self._tightest_target = target
            self._ratios_stale = True

    def _remove_target(self, request: requests.EngineRequest) -> None:
        target = request.spec.tpot_target_s
        if target is None:
            return
        self._targets[target] -= 1
        if self._targets[target] == 0:
            del self._targets[target]
            if target == self._tightest_target:
                self._tightest_target = min(self._targets, default=None)
                self._ratios_stale = True
