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

With prefix caching on (`EngineConfig.enable_prefix_caching`, vLLM's default) a request admitted
from waiting first looks up its prompt's block hashes in the cache (`kv_cache.BlockPool`): the
longest run of cached blocks from the start, at most all but the last prompt token (vLLM always
computes at least one token), is taken as computed, and only the rest is prefilled. Each full
prompt block it computes is registered for later requests. The engine's queued prefill figure
counts a waiting request's tokens less the cached prefix it had when it was queued.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from sloserve.engine import config, decode_pool, events, kv_cache, requests, timing, waiting_queue


@dataclass(slots=True)
class StepPlan:
    """What one step computes; the scheduler completes it with `complete`."""

    start: float
    budget: int
    cohorts: list[decode_pool.DecodeCohort] = field(default_factory=list)
    decode_batch: int = 0
    decode_context_sum: int = 0
    chunks: dict[requests.EngineRequest, int] = field(default_factory=dict)
    # Σ over the chunks of chunk tokens × tokens already computed before the chunk: the
    # attention over earlier context (cached or from earlier chunks) the step's timing adds
    attended: int = 0

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
        # tokens of the waiting requests: above zero exactly when some wait (every request has a
        # prompt token), so the per-step paths test it instead of the queue's length
        self.waiting_tokens = 0
        self._targets: collections.Counter[float] = collections.Counter()
        self._tightest_target: float | None = None
        self._ratios_stale = False
        self._prefix_caching = engine_config.enable_prefix_caching
        # vLLM's prefix-cache counters: prompt tokens looked up, and found, at admissions
        self.prefix_queries = 0
        self.prefix_hits = 0

    def add(self, request: requests.EngineRequest) -> None:
        """Queue a new request."""
        self.waiting.push(request)
        self._count_waiting(request)

    def abort(self, request: requests.EngineRequest) -> None:
        """Drop a waiting or running request and free its blocks."""
        if request.status is requests.Status.WAITING:
            request.status = requests.Status.ABORTED
            self.waiting.discard(request)
            self.waiting_tokens -= request.queued_tokens
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
            if request.spec.block_hashes and self._prefix_caching:
                self._register_blocks(request)
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
        """Whether `plan` decodes only, with no prefill in flight or waiting, no token events and
        no cohort regrouping due: while no member of a cohort in the step finishes and the next
        step's KV blocks fit, `complete` reports nothing and `schedule` only lets the cohorts
        take their turns (credit batching: those whose credit comes to 1), so
        `run_plain_decode` may stand in for both. This stays true over such steps.

        Plain decode stretches are most of an engine's steps at light load."""
        if self._token_events or plan.chunks or not plan.cohorts or self.prefilling:
            return False
        return not self._ratios_stale and not self.waiting_tokens

    def run_plain_decode(
        self,
        plan: StepPlan,
        end: float,
        limit: float,
        timer: timing.StepTimer,
    ) -> tuple[float, float] | None:
        """Complete the plan in flight at `end` (at or before `limit`), if it is
        `plain_decode`, and run the plain decode steps after it that end by `limit`, each
        completed and re-planned in place exactly as `complete` and `schedule` would, and timed
        by `timer.decode_step_seconds(decode_batch, decode_context_mean)`. Stops at the first
        step that ends after `limit`, at which a member of the step finishes, or whose
        successor's KV blocks do not fit. Returns the start and end of the step then in flight,
        or None (nothing changed) when the step ending at `end` needs the general path."""
        if not self.plain_decode(plan):
            return None
        cohorts = plan.cohorts
        pool = self.pool.cohorts
        if len(cohorts) == 1 and len(pool) == 1 and pool[0] is cohorts[0]:
            cohort = cohorts[0]
            if cohort.ratio >= 1.0 and cohort.members:
                return self._run_one_cohort(plan, cohort, end, limit, timer)
        return self._run_cohorts(plan, end, limit, timer.decode_step_seconds)

    def _run_one_cohort(
        self,
        plan: StepPlan,
        cohort: decode_pool.DecodeCohort,
        end: float,
        limit: float,
        timer: timing.StepTimer,
    ) -> tuple[float, float] | None:
        """`run_plain_decode` for one cohort of ratio 1 that every decoding request belongs to
        (fcfs, priority, credit with one target): each step is the same cohort again, so the
        loop keeps to plain numbers and writes them back once, stepping as `complete`, `schedule`
        and `_plan` would."""
        steps = cohort.steps
        first_finish = cohort.first_finish_step()
        last_step = math.inf if first_finish is None else first_finish - 1
        new_blocks = cohort.new_block_counts()
        block_size = len(new_blocks)
        batch = len(cohort.members)
        step_seconds = timer.decode_step_function(batch)
        context_base = cohort.context_sum() - batch * steps
        credit = cohort.credit
        ratio = cohort.ratio
        free = self.kv.free
        allocated = 0
        start: float | None = None
        while True:
            next_steps = steps + 1
            # a member finishes when the step in flight ends: the general path completes it
            if next_steps > last_step:
                break
            needed = new_blocks[(-next_steps) % block_size]
            if needed > free:
                break
            steps = next_steps
            # a cohort of ratio 1 takes every turn
            credit, _ = decode_pool.credit_turn(credit, ratio)
            free -= needed
            allocated += needed
            start = end
            end = start + step_seconds((context_base + batch * steps) / batch)
            if end > limit:
                break
        if start is None:
            return None
        cohort.steps = steps
        cohort.credit = credit
        self.kv.allocate(allocated)
        plan.start = start
        plan.decode_batch = batch
        plan.budget = self._config.max_num_batched_tokens - batch
        plan.decode_context_sum = context_base + batch * steps
        return start, end

    def _run_cohorts(
        self,
        plan: StepPlan,
        end: float,
        limit: float,
        step_seconds: Callable[[int, float], float],
    ) -> tuple[float, float] | None:
        """`run_plain_decode` for any cohorts (credit batching): each step the cohorts of the
        step complete one step, then every cohort of the pool takes its turn (rounds that none
        takes are skipped, as `schedule` skips empty steps, credit accruing) and those whose
        turn it is form the next step. The cohorts' figures are copied into lists, stepped
        there with the arithmetic of `complete`, `take_turns` and `_plan`, and written back
        once; a step whose KV blocks do not fit is left to the general path untouched."""
        for cohort in plan.cohorts:
            # an abort during the step may have emptied a cohort (`complete` skips those); a
            # member due when the step ends needs the general path
            if not cohort.members or not cohort.finishes_after(cohort.steps + 1):
                return None
        pool = self.pool.cohorts
        # the cohorts' figures, copied in one pass (this runs between most events)
        in_step: list[bool] = []
        turns: list[int] = []
        steps: list[int] = []
        credits: list[float] = []
        ratios: list[float] = []
        members: list[int] = []
        context_bases: list[int] = []
        last_steps: list[float] = []
        new_blocks: list[list[int]] = []
        for index, cohort in enumerate(pool):
            in_flight = cohort.in_flight
            in_step.append(in_flight)
            if in_flight:
                turns.append(index)
            steps.append(cohort.steps)
            credits.append(cohort.credit)
            ratios.append(cohort.ratio)
            members.append(len(cohort.members))
            context_bases.append(cohort.context_base_sum())
            last_steps.append(_last_plain_step(cohort))
            new_blocks.append(cohort.new_block_counts())
        block_size = self._config.block_size
        free = self.kv.free
        allocated = 0
        batch = 0
        context_sum = 0
        start = end
        while True:
            next_credits = credits[:]
            next_turns = _take_turns(next_credits, ratios)
            needed = 0
            for i in next_turns:
                needed += new_blocks[i][-(steps[i] + in_step[i]) % block_size]
            if needed > free:
                break
            for i in turns:
                steps[i] += 1
                in_step[i] = False
            for i in next_turns:
                in_step[i] = True
            credits = next_credits
            turns = next_turns
            free -= needed
            allocated += needed
            batch = 0
            context_sum = 0
            for i in turns:
                batch += members[i]
                context_sum += context_bases[i] + members[i] * steps[i]
            start = end
            end = start + step_seconds(batch, context_sum / batch)
            if end > limit:
                break
            # a member of the new step finishes when it ends: the general path completes it
            finishing = False
            for i in turns:
                if steps[i] >= last_steps[i]:
                    finishing = True
            if finishing:
                break
        if not batch:
            # no step was re-planned: nothing changed
            return None
        for i, cohort in enumerate(pool):
            cohort.steps = steps[i]
            cohort.credit = credits[i]
            cohort.in_flight = in_step[i]
        self.kv.allocate(allocated)
        plan.cohorts = [pool[i] for i in turns]
        plan.start = start
        plan.decode_batch = batch
        plan.budget = self._config.max_num_batched_tokens - batch
        plan.decode_context_sum = context_sum
        return start, end

    def replan_decode(self, plan: StepPlan, now: float) -> bool:
        """After `complete(plan, ...)`: plan the next step, starting at `now`, in `plan` itself
        when it decodes only (no prefill in flight or waiting, no regrouping due, no token
        events) and its KV blocks fit, exactly as `schedule` would plan it; False, with nothing
        changed, when `schedule` must plan it. Saves building a plan at most steps that finish
        a request or a prefill."""
        pool = self.pool.cohorts
        if (
            not pool
            or self._token_events
            or self.prefilling
            or self._ratios_stale
            or self.waiting_tokens
        ):
            return False
        if len(pool) == 1 and pool[0].ratio >= 1.0:
            return self._replan_one_cohort(plan, pool[0], now)
        credits = [cohort.credit for cohort in pool]
        turns = _take_turns(credits, [cohort.ratio for cohort in pool])
        needed = 0
        for i in turns:
            needed += pool[i].new_blocks_needed()
        if needed > self.kv.free:
            return False
        for cohort, credit in zip(pool, credits, strict=True):
            cohort.credit = credit
        self.kv.allocate(needed)
        cohorts = [pool[i] for i in turns]
        batch = 0
        context_sum = 0
        for cohort in cohorts:
            cohort.in_flight = True
            batch += len(cohort.members)
            context_sum += cohort.context_sum()
        plan.start = now
        plan.cohorts = cohorts
        plan.chunks.clear()
        plan.attended = 0
        plan.decode_batch = batch
        plan.decode_context_sum = context_sum
        plan.budget = self._config.max_num_batched_tokens - batch
        return True

    def _replan_one_cohort(
        self, plan: StepPlan, cohort: decode_pool.DecodeCohort, now: float
    ) -> bool:
        """`replan_decode` for one cohort of ratio 1 (fcfs, priority, credit with one target):
        it always takes its turn, so the step is that cohort."""
        needed = cohort.new_blocks_needed()
        if needed > self.kv.free:
            return False
        cohort.take_turn()
        self.kv.allocate(needed)
        cohort.in_flight = True
        batch = len(cohort.members)
        plan.start = now
        plan.cohorts = [cohort]
        plan.chunks.clear()
        plan.attended = 0
        plan.decode_batch = batch
        plan.decode_context_sum = cohort.context_sum()
        plan.budget = self._config.max_num_batched_tokens - batch
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
        return self.waiting_tokens > 0 and len(self.running) < self._config.max_num_seqs

    def _all_cohorts(self) -> list[decode_pool.DecodeCohort]:
        """Every cohort, each taking part without spending credit (credits are kept)."""
        return list(self.pool.cohorts)

    def queued_prefill_tokens(self) -> int:
        """Tokens still to prefill: waiting requests' and the unfinished chunks of running ones."""
        if not self.prefilling:
            return self.waiting_tokens
        running = sum(r.num_tokens() - r.num_computed for r in self.prefilling)
        return self.waiting_tokens + running

    def held_blocks(self, request: requests.EngineRequest) -> int:
        """KV blocks a running request holds now."""
        return requests.held_blocks(request, self._config.block_size)

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
                plan.decode_batch += len(cohort.members)
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
            plan.attended += tokens * request.num_computed
            plan.budget -= tokens

        if len(preempted) == preemptions_before:
            self._admit_waiting(plan, now)
        if not plan.chunks and not plan.decode_batch:
            return None
        return plan

    def _admit_waiting(self, plan: StepPlan, now: float) -> None:
        if not self.waiting_tokens:
            return
        block_size = self._config.block_size
        while len(self.running) < self._config.max_num_seqs and plan.budget > 0:
            head = self.waiting.peek()
            if head is None:
                return
            total = head.num_tokens()
            hashes = self._lookup_hashes(head)
            cached_blocks, idle_blocks = self.kv.cached_prefix(hashes, len(hashes))
            cached = cached_blocks * block_size
            needed = total - cached
            tokens = min(needed, plan.budget)
            if tokens < needed and not self._config.enable_chunked_prefill:
                return
            blocks = requests.blocks_for(cached + tokens, block_size) - cached_blocks
            if blocks + idle_blocks > self.kv.free:
                return
            self.waiting.pop()
            self.waiting_tokens -= head.queued_tokens
            head.status = requests.Status.RUNNING
            if head.first_scheduled is None:
                head.first_scheduled = now
                head.cached_tokens = cached
            if self._prefix_caching:
                self.prefix_queries += total
                self.prefix_hits += cached
            self.running[head] = None
            self.prefilling[head] = None
            self._add_target(head)
            if cached_blocks:
                found = hashes[:cached_blocks]
                self.kv.acquire(found)
                head.references = found
            head.registered = cached_blocks
            head.num_computed = cached
            self.kv.allocate(blocks)
            head.blocks = cached_blocks + blocks
            plan.chunks[head] = tokens
            plan.attended += tokens * cached
            plan.budget -= tokens

    def _lookup_hashes(self, request: requests.EngineRequest) -> list[int]:
        """The block hashes a request may find cached: its prompt's, at most all but its last
        token's worth (at least one token is computed); empty with prefix caching off."""
        block_hashes = request.spec.block_hashes
        if not block_hashes or not self._prefix_caching:
            return []
        limit = (request.num_tokens() - 1) // self._config.block_size
        return list(block_hashes[:limit])

    def _count_waiting(self, request: requests.EngineRequest) -> None:
        """Count a request that joins the waiting queue in the queued prefill figure: its tokens
        less the prefix cached now (what it would find if admitted at once)."""
        hashes = self._lookup_hashes(request)
        cached = 0
        if hashes:
            cached = self.kv.cached_prefix(hashes, len(hashes))[0] * self._config.block_size
        request.queued_tokens = request.num_tokens() - cached
        self.waiting_tokens += request.queued_tokens

    def _register_blocks(self, request: requests.EngineRequest) -> None:
        """Cache the prompt blocks `request` has now computed in full."""
        block_hashes = request.spec.block_hashes
        complete = min(len(block_hashes), request.num_computed // self._config.block_size)
        for index in range(request.registered, complete):
            block_hash = block_hashes[index]
            if self.kv.register(block_hash):
                request.references.append(block_hash)
        if complete > request.registered:
            request.registered = complete

    def _release_blocks(self, request: requests.EngineRequest) -> None:
        """Give back every block `request` holds: its private ones, and its references to
        cached ones (which stay cached, free, until evicted)."""
        references = request.references
        self.kv.release(request.blocks - len(references))
        if references:
            self.kv.release_cached(references)
            request.references = []
        request.registered = 0
        request.blocks = 0

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
            tokens = plan.chunks.pop(victim)
            plan.budget += tokens
            plan.attended -= tokens * victim.num_computed
        self._leave_running(victim)
        victim.status = requests.Status.WAITING
        victim.num_computed = 0
        victim.num_preemptions += 1
        self.waiting.push_preempted(victim)
        self._count_waiting(victim)
        preempted.append(events.Preempted(victim.request_id, now))

    def _leave_running(self, request: requests.EngineRequest) -> None:
        if request.cohort is not None:
            self.pool.leave(request)
        else:
            del self.prefilling[request]
        self._release_blocks(request)
        del self.running[request]
        self._remove_target(request)

    def _finish(
        self, request: requests.EngineRequest, end: float, produced: list[events.EngineEvent]
    ) -> None:
        self._release_blocks(request)
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


def _last_plain_step(cohort: decode_pool.DecodeCohort) -> float:
    """The last step count the cohort can complete before a member is due (infinity: none)."""
    first_finish = cohort.first_finish_step()
    return math.inf if first_finish is None else first_finish - 1


def _take_turns(credits: list[float], ratios: list[float]) -> list[int]:
    """`DecodePool.take_turns` on the cohorts' `credits` (changed in place) and `ratios`,
    repeated while no cohort takes its turn (as `schedule` skips empty steps, credit accruing);
    the indices of the cohorts whose turn it is (`decode_pool.credit_turn` for each). There must
    be at least one cohort."""
    turns: list[int] = []
    while not turns:
        for i, ratio in enumerate(ratios):
            credit, takes_part = decode_pool.credit_turn(credits[i], ratio)
            if takes_part:
                turns.append(i)
            credits[i] = credit
    return turns
