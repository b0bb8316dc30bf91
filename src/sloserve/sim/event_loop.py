"""The discrete-event loop: a workload through the gateway's scheduler and N engine cores, on one
virtual clock.

Events, in time order; at one instant engine events come first, then arrivals, then a dispatch:
- an arrival: the request is submitted to the `scheduling.scheduler.Scheduler` (admitted to its
  queue, or rejected at once);
- an engine event: a first token, a finish (the scheduler is told and the record written) or a
  preemption;
- optionally a re-check tick every `recheck_interval_s` while requests wait at the gateway.
After each instant at which something changed, if requests wait at the gateway, the scheduler's
`dispatch` runs on fresh engine snapshots; its dispatches go to the engine cores at that instant
and its rejections are recorded. A queued request that becomes unattainable as time passes is
rejected at the next dispatch (the next event, or re-check tick when set); until then the
scheduler's routing still never sends it to an engine where its predicted TTFT exceeds its slack.

With autoscaling (`settings.SimulationConfig.scaling`), a `fleet.Fleet` decides every control
interval while arrivals remain: engines it starts join the scheduler's view when their start
latency has passed; engines it drains leave the view at once, finish what they hold, and are
removed after their last request (at the end of that instant, so that no engine index moves
while the loop walks them).

Engines advance on their own between events: a core runs its silent steps (steps that finish
neither a prefill nor a request) internally, so the loop pays for events, not for steps or
tokens. How far an engine may run ahead is what keeps the loop exact: while requests wait at the
gateway, any engine event may lead to a dispatch that needs every engine's state at that instant,
so an engine runs only up to the earliest time another engine could produce an event; while none
wait, engine events only end requests, and every engine runs up to the next arrival (or re-check)
on its own, stopping only at finishes: its first tokens and preemptions on the way are collected
with its next finish or by the snapshot at the next arrival.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.engine import events
from sloserve.scheduling import (
    calibration,
    clock,
    context_length,
    engine_state,
    latency_model,
    outcomes,
    prefix_blocks,
    scheduler,
    slo,
)
from sloserve.sim import cluster, engines, fleet, policies, records, settings, workload


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCounters:
    """What the loop did, for profiling the simulator (not for judging policies)."""

    dispatch_calls: int
    engine_events: int
    loop_iterations: int


# A chunked-prefill step counts towards the prefill factor when its predicted prefill part is at
# least this share of the step (else the decode part's error would be read as prefill's). The
# share is judged with the prefill part at no less than the decode factor's scale: a prefill
# factor left far below it (the prior of a smaller model) predicts every chunk small, so no step
# would count and the factor would stay wrong (an 8B profile on a 32B engine stayed at 1.5-1.9
# of the 8B prefill, the truth about 4).
_PREFILL_DOMINATES = 0.7


class EventLoop:
    """One simulation; `run` drives it to the end, once."""

    def __init__(
        self,
        requests: Sequence[workload.WorkloadRequest],
        sim_config: settings.SimulationConfig,
    ) -> None:
        if not requests:
            raise ValueError("the workload has no requests")
        self._policy = policies.sim_policy(sim_config.policy)
        engine_config = sim_config.engine_settings.engine_config(
            sim_config.profile, self._policy.engine
        )
        self._workload = sorted(requests, key=lambda request: request.arrival_s)
        self._outputs = _output_tokens_by_id(self._workload)
        self._max_model_len = engine_config.max_model_len
        self._block_size = engine_config.block_size
        self._prefix_caching = engine_config.enable_prefix_caching
        self._by_id = {request.request_id: request for request in self._workload}
        classes = cluster.slo_classes([request.slo_class for request in self._workload])
        gateway_prefixes = self._policy.prefix_aware
        self._requests = [
            slo.Request(
                request_id=request.request_id,
                model=sim_config.model,
                slo_class=classes[request.slo_class.name],
                arrival_s=request.arrival_s,
                prompt_tokens=request.prompt_tokens,
                # benchmarks force the output length, so a client's max_tokens is exactly it
                max_tokens=request.output_tokens,
                session_id=request.session_id,
                prefix_hashes=(
                    _gateway_hashes(request) if gateway_prefixes and request.prefix_ids else ()
                ),
                prefix_block_tokens=request.prefix_block_tokens if gateway_prefixes else 0,
            )
            for request in self._workload
        ]
        gateway = self._policy.gateway
        self._clock = clock.ManualClock(self._workload[0].arrival_s)
        believed = sim_config.predictor_profile or sim_config.profile
        latency = (
            cluster.fitted_latency(believed, engine_config.max_num_batched_tokens)
            if gateway.predicts
            else None
        )
        # The gateway's online calibration: engine steps observed at the loop's instants, its
        # model replaced in the scheduler whenever the calibrator republishes it.
        self._calibrator = (
            calibration.LatencyCalibrator(latency, sim_config.calibration_settings)
            if sim_config.calibrate and latency is not None
            else None
        )
        self._scheduler = scheduler.Scheduler(
            model=sim_config.model,
            policy_config=gateway,
            clock_source=self._clock,
            prefix_capacity_tokens=(engine_config.kv_capacity_tokens if gateway_prefixes else None),
            prefix_attention=(cluster.attention_figures(believed) if gateway_prefixes else None),
            latency=latency,
        )
        self._speed_changes = sorted(sim_config.speed_changes)
        self._speed_changes_known = sim_config.speed_changes_known
        self._believed_latency = latency
        # (time, prefill factor, decode factor) after each observed step
        self.calibration_trace: list[tuple[float, float, float]] = []
        self._sim_config = sim_config
        self._engine_config = engine_config
        scaling = sim_config.scaling
        self._fleet: fleet.Fleet | None = None
        slowdowns = sim_config.engine_slowdowns()
        if scaling is not None:
            self._fleet = fleet.Fleet(scaling, start_s=self._workload[0].arrival_s)
            slowdowns = (slowdowns[0],) * scaling.initial_replicas
        self._engines = cluster.build_engines(
            profile=sim_config.profile,
            engine_config=engine_config,
            slowdowns=slowdowns,
            track_contexts=gateway.predicts,
            context_refresh_s=sim_config.context_refresh_s,
        )
        self._engines_made = len(self._engines)
        if self._fleet is not None:
            for engine in self._engines:
                self._fleet.engine_ready(engine.engine_id, asked_s=self._workload[0].arrival_s)
        # engines the scheduler may send to: not starting, not draining
        self._serving = [True] * len(self._engines)
        self._retired: list[str] = []
        self._first_s = self._workload[0].arrival_s
        self._last_s = self._first_s
        self._engine_index = {engine.engine_id: index for index, engine in enumerate(self._engines)}
        # start time of the step last observed on each engine (calibration)
        self._observed_step = [-math.inf] * len(self._engines)
        # A lower bound of each engine's next event time (infinity: idle).
        self._next_event = [math.inf] * len(self._engines)
        self._recheck_interval_s = sim_config.recheck_interval_s
        self._recheck_s = math.inf
        self._arrived = 0
        # arrival times in order, then infinity: the next arrival is one index away
        self._arrival_times = [request.arrival_s for request in self._requests] + [math.inf]
        self._records: dict[str, records.RequestRecord] = {}
        self._ended: list[records.RequestRecord] = []
        self._dispatched_at: dict[str, float] = {}
        self._predicted_ttft: dict[str, float | None] = {}
        self._snapshots: list[engine_state.EngineState] | None = None
        # requests waiting at the gateway (the scheduler's queue_length), counted here from the
        # decisions: the loop asks at every step, and an int is cheaper to ask than a property
        self._waiting = 0
        self._dispatch_calls = 0
        self._engine_events = 0
        self._iterations = 0

    @property
    def gpu_seconds(self) -> float:
        """Engine-seconds the run held (asked-for to gone under autoscaling; else engines times
        the first arrival to the last end), valid after `run`."""
        if self._fleet is not None:
            return self._fleet.gpu_seconds
        return len(self._engines) * (self._last_s - self._first_s)

    @property
    def replica_series(self) -> tuple[tuple[float, int], ...]:
        """(time, engines asked for) at the start and at every scaling decision."""
        if self._fleet is not None:
            return tuple(self._fleet.replica_series)
        return ((self._first_s, len(self._engines)),)

    def run(self) -> tuple[tuple[records.RequestRecord, ...], RunCounters]:
        """Simulate until every request has ended; the records are in arrival order."""
        self.run_until(math.inf)
        if self._fleet is not None:
            alive = [engine.engine_id for engine in self._engines]
            self._fleet.finish(self._last_s, alive)
        ordered = tuple(self._records[request.request_id] for request in self._workload)
        counters = RunCounters(
            dispatch_calls=self._dispatch_calls,
            engine_events=self._engine_events,
            loop_iterations=self._iterations,
        )
        return ordered, counters

    def run_until(self, stop_s: float) -> bool:
        """Simulate every instant up to `stop_s` (inclusive); returns whether any is left after.

        Between two calls the caller may change an engine's slowdown (`set_slowdown`), as a
        co-located job throttled from outside changes it; `run` is `run_until(inf)`.
        """
        scaled = self._fleet
        total = len(self._requests)
        while True:
            bound_s = min(self._arrival_times[self._arrived], self._recheck_s)
            if scaled is not None and self._arrived < total:
                bound_s = min(bound_s, scaled.next_event_s())
            if self._speed_changes and self._speed_changes[0][0] <= min(bound_s, stop_s):
                change_s = self._speed_changes[0][0]
                if self._next_engine_event(change_s) >= change_s:
                    self._change_speed(change_s)
                    continue
            # engines run their silent steps no further than the stop: the caller may change
            # their slowdown there
            due_s = self._next_engine_event(min(bound_s, stop_s))
            now_s = min(bound_s, due_s)
            if now_s == math.inf:
                return False
            if now_s > stop_s:
                return True
            self._iterations += 1
            self._last_s = now_s
            self._handle_instant(now_s)

    @property
    def engine_count(self) -> int:
        """How many engines the cluster has."""
        return len(self._engines)

    def held(self, index: int) -> int:
        """Requests sent to engine `index` that have not finished."""
        return self._engines[index].held

    def set_slowdown(self, index: int, slowdown: float) -> None:
        """Engine `index`'s co-location slowdown from its next step on (its step in flight ends
        as it was timed)."""
        self._engines[index].core.timer.slowdown = slowdown
        self._snapshots = None
        # an engine that got faster may have its next event before the bound kept for it
        self._refresh_next_event(index)

    def ended_since(self, start: int) -> list[records.RequestRecord]:
        """The records of requests that ended (served or rejected), in the order they ended,
        from the `start`-th on."""
        return self._ended[start:]

    def _handle_instant(self, now_s: float) -> None:
        """Engine events, then arrivals, then a dispatch if something changed and requests wait."""
        self._clock.set(now_s)
        self._snapshots = None
        changed = self._collect_engine_events(now_s)
        scaled = self._fleet
        if (
            scaled is not None
            and self._arrived < len(self._requests)
            and scaled.next_event_s() <= now_s
        ):
            self._scale(scaled, now_s)
            changed = True
        arrival_times = self._arrival_times
        if arrival_times[self._arrived] <= now_s:
            first = arrived = self._arrived
            while arrival_times[arrived] <= now_s:
                arrived += 1
            self._arrived = arrived
            self._submit(self._requests[first:arrived], now_s)
            changed = True
        if self._recheck_s <= now_s:
            self._recheck_s = math.inf
            changed = True
        if changed and self._waiting:
            self._dispatch(now_s)
        if self._retired:
            self._remove_retired(now_s)
        if not self._waiting:
            return
        if self._arrived == len(self._requests) and math.inf == min(self._next_event):
            # Nothing is left to happen: one last look with every engine idle, then it is a bug.
            if not changed:
                self._dispatch(now_s)
            if self._waiting:
                self._stuck()
        if self._recheck_interval_s is not None and self._recheck_s == math.inf:
            self._recheck_s = now_s + self._recheck_interval_s

    def _next_engine_event(self, bound_s: float) -> float:
        """The earliest engine event time, or a time after `bound_s` when none comes by then.

        The engine with the earliest lower bound runs its silent steps up to `bound_s` or, while
        requests wait at the gateway, up to the next engine's bound: never past a time at which
        the loop may need its state.
        """
        next_event = self._next_event
        while True:
            first_s = min(next_event)
            if first_s > bound_s:
                return first_s
            first = next_event.index(first_s)
            horizon_s = bound_s
            waiting = self._waiting
            if waiting:
                for index, when in enumerate(next_event):
                    if index != first and when < horizon_s:
                        horizon_s = when
            # With none waiting only finishes matter before the bound (see the module
            # docstring): the engine runs on past its first tokens and preemptions, which the
            # next instant on it (its finish, or the next arrival's snapshot) collects.
            due = self._engines[first].core.next_event_time(horizon_s, finishes_only=not waiting)
            when = math.inf if due is None else due
            next_event[first] = when
            if when <= horizon_s:
                return when

    def _collect_engine_events(self, now_s: float) -> bool:
        """Advance the engines whose events are due by `now_s` and act on their events."""
        changed = False
        for index, when in enumerate(self._next_event):
            if when <= now_s:
                changed = self._advance(index, now_s) or changed
        return changed

    def _advance(self, index: int, now_s: float) -> bool:
        engine = self._engines[index]
        produced = engine.core.advance(now_s)
        for event in produced:
            if isinstance(event, events.Finished):
                self._finish(engine, event)
        if produced:
            self._engine_events += len(produced)
            self._refresh_next_event(index)
            return True
        # No step ended by now_s: the engine's next event time has not moved.
        return False

    def _change_speed(self, now_s: float) -> None:
        """Every engine's steps from `now_s` on take the next factor's times (the gateway is not
        told); the engines are brought to `now_s` first, so steps before keep their speed."""
        _, factor = self._speed_changes.pop(0)
        self._snapshot_all(now_s)
        for index, engine in enumerate(self._engines):
            engine.core.timer.time_scale = factor
            self._refresh_next_event(index)
        self._snapshots = None
        believed = self._believed_latency
        if self._speed_changes_known and believed is not None:
            # time_scale stretches the whole step, CPU overhead included
            self._scheduler.set_latency(
                latency_model.LatencyModel(
                    prefill=believed.prefill.scaled(factor),
                    decode=believed.decode.scaled(factor),
                    cpu_overhead_s=believed.cpu_overhead_s * factor,
                    max_batched_tokens=believed.max_batched_tokens,
                    mixed_factor=believed.mixed_factor,
                )
            )

    def _scale(self, scaled: fleet.Fleet, now_s: float) -> None:
        """Engines whose start completed join; at a decision, the policy's plan is carried out."""
        self._snapshots = None
        for asked_s in scaled.pop_ready(now_s):
            self._add_engine(scaled, asked_s)
        if scaled.next_decision_s > now_s:
            return
        snapshots = self._snapshot_all(now_s)
        serving_engines = [
            engine for engine, serving in zip(self._engines, self._serving, strict=True) if serving
        ]
        serving = [
            (engine.engine_id, engine.held, snapshot)
            for engine, snapshot in zip(serving_engines, snapshots, strict=True)
        ]
        plan = scaled.decide(now_s, serving=serving, gateway_waiting=self._waiting)
        for engine_id in plan.drain:
            index = self._engine_index[engine_id]
            self._serving[index] = False
            if self._engines[index].held == 0:
                self._retired.append(engine_id)
        self._snapshots = None

    def _add_engine(self, scaled: fleet.Fleet, asked_s: float) -> None:
        sim_config = self._sim_config
        (engine,) = cluster.build_engines(
            profile=sim_config.profile,
            engine_config=self._engine_config,
            slowdowns=sim_config.engine_slowdowns()[:1],
            track_contexts=self._policy.gateway.predicts,
            context_refresh_s=sim_config.context_refresh_s,
        )
        engine.engine_id = f"engine-{self._engines_made}"
        self._engines_made += 1
        self._engine_index[engine.engine_id] = len(self._engines)
        self._engines.append(engine)
        self._next_event.append(math.inf)
        self._observed_step.append(-math.inf)
        self._serving.append(True)
        scaled.engine_ready(engine.engine_id, asked_s=asked_s)

    def _remove_retired(self, now_s: float) -> None:
        """Drained engines that finished their last request go (see the module docstring)."""
        scaled = self._fleet
        assert scaled is not None
        gone = set(self._retired)
        self._retired.clear()
        keep = [index for index, engine in enumerate(self._engines) if engine.engine_id not in gone]
        self._engines = [self._engines[index] for index in keep]
        self._next_event = [self._next_event[index] for index in keep]
        self._observed_step = [self._observed_step[index] for index in keep]
        self._serving = [self._serving[index] for index in keep]
        self._engine_index = {engine.engine_id: index for index, engine in enumerate(self._engines)}
        self._snapshots = None
        for engine_id in gone:
            scaled.engine_gone(engine_id, now_s=now_s)

    def _refresh_next_event(self, index: int) -> None:
        due = self._engines[index].core.next_event_time()
        self._next_event[index] = math.inf if due is None else due

    def _finish(self, engine: engines.SimEngine, event: events.Finished) -> None:
        request_id = event.request_id
        stats = event.stats
        engine.forget(request_id)
        finished = self._scheduler.finish(
            request_id, outcomes.FinishOutcome.SERVED, output_tokens=stats.output_tokens
        )
        if self._calibrator is not None:
            self._observe_step(self._engine_index[engine.engine_id])
        request = finished.request
        record = self._records[request_id] = records.RequestRecord(
            request_id=request_id,
            slo_class=request.slo_class.name,
            ttft_target_s=request.ttft_s,
            tpot_target_s=request.tpot_s,
            arrival_s=request.arrival_s,
            prompt_tokens=request.prompt_tokens,
            output_tokens=stats.output_tokens,
            outcome=records.Outcome.SERVED,
            ended_s=stats.finished,
            engine_id=engine.engine_id,
            dispatched_s=self._dispatched_at.pop(request_id),
            first_token_s=stats.first_token,
            finished_s=stats.finished,
            preemptions=stats.num_preemptions,
            cached_tokens=stats.cached_tokens,
            predicted_ttft_s=self._predicted_ttft.pop(request_id),
        )
        self._ended.append(record)
        scaled = self._fleet
        if scaled is not None:
            scaled.ended(record)
            if engine.held == 0 and not self._serving[self._engine_index[engine.engine_id]]:
                self._retired.append(engine.engine_id)

    def _observe_step(self, index: int) -> None:
        """What an engine's own per-step timing shows, fed to the gateway's calibrator: the
        step in flight, once, against the calibrated model's time for the same work."""
        calibrator = self._calibrator
        assert calibrator is not None
        engine = self._engines[index]
        step = engine.core.current_step()
        if step is None or step.start == self._observed_step[index]:
            return
        self._observed_step[index] = step.start
        model = calibrator.model
        slowdown = engine.core.timer.slowdown
        observed_s = step.end - step.start
        batch = step.decode_batch
        if step.prefill_tokens:
            # a chunked-prefill step: the model's mixed step (the decode part at the profile's
            # mixed-step factor, plus what the chunk's token rows add)
            decode_s = slowdown * model.mixed_step_gpu_s(0, batch, step.decode_context_mean)
            prefill_s = slowdown * model.chunk_rows_gpu_s(step.prefill_tokens, batch)
        else:
            decode_s = slowdown * model.decode.predict_s(batch, step.decode_context_mean)
            prefill_s = 0.0
        changed = False
        if step.prefill_tokens == 0:
            changed = calibrator.observe_decode(
                predicted_s=decode_s + model.cpu_overhead_s, observed_s=observed_s
            )
        elif _prefill_dominates(prefill_s, decode_s, *calibrator.factors()):
            # the decode part's share is predicted by the (calibrated) decode factor
            changed = calibrator.observe_prefill(
                predicted_s=prefill_s + decode_s + model.cpu_overhead_s, observed_s=observed_s
            )
        if changed:
            self._scheduler.set_latency(calibrator.model)
        state = calibrator.state()
        self.calibration_trace.append((step.start, state.prefill.factor, state.decode.factor))

    def _snapshot_all(self, now_s: float) -> list[engine_state.EngineState]:
        """Every engine's state at `now_s` (cached until something changes at this instant)."""
        if self._snapshots is None:
            for index, engine in enumerate(self._engines):
                core = engine.core
                if core.now < now_s or core.has_pending_events:
                    # no finish is due by now_s (the loop collected those); first tokens and
                    # preemptions an engine ran past while none waited are collected here
                    self._advance(index, now_s)
            if self._fleet is None:
                self._snapshots = [engine.snapshot(now_s) for engine in self._engines]
            else:
                self._snapshots = [
                    engine.snapshot(now_s)
                    for engine, serving in zip(self._engines, self._serving, strict=True)
                    if serving
                ]
        return self._snapshots

    def _submit(self, arriving: Sequence[slo.Request], now_s: float) -> None:
        scaled = self._fleet
        for request in arriving:
            if scaled is not None:
                scaled.arrived(
                    slo_class=request.slo_class.name,
                    ttft_s=request.ttft_s,
                    tpot_s=request.tpot_s,
                    prompt=request.prompt_tokens,
                    output=self._outputs[request.request_id],
                )
            too_long = context_length.prompt_too_long(
                request,
                prompt_tokens=request.prompt_tokens,
                requested_output_tokens=request.max_tokens,
                max_model_len=self._max_model_len,
                now_s=now_s,
            )
            if too_long is not None:
                # as vLLM answers 400: counted with its reason, never sent, never a crash
                self._reject(too_long)
                continue
            decision = self._scheduler.submit(request, self._snapshot_all(now_s))
            if isinstance(decision, outcomes.Rejected):
                self._reject(decision)
            else:
                self._waiting += 1

    def _dispatch(self, now_s: float) -> None:
        self._dispatch_calls += 1
        decisions = self._scheduler.dispatch(self._snapshot_all(now_s))
        # every decision of a dispatch takes one request out of the queue
        self._waiting -= len(decisions)
        touched: set[int] = set()
        for decision in decisions:
            if isinstance(decision, outcomes.Rejected):
                self._reject(decision)
                continue
            request = decision.request
            index = self._engine_index[decision.engine_id]
            self._engines[index].send(
                request,
                output_tokens=self._outputs[request.request_id],
                priority=request.slo_class.priority if self._policy.class_priorities else 0,
                now_s=now_s,
                block_hashes=self._engine_hashes(request.request_id),
            )
            self._dispatched_at[request.request_id] = now_s
            if self._fleet is not None:
                self._fleet.dispatched(waited_s=now_s - request.arrival_s)
            self._predicted_ttft[request.request_id] = decision.predicted_ttft_s
            touched.add(index)
        if touched:
            self._snapshots = None
            for index in touched:
                self._refresh_next_event(index)
                if self._calibrator is not None:
                    self._observe_step(index)

    def _engine_hashes(self, request_id: str) -> tuple[int, ...]:
        """The request's prompt blocks hashed at the engines' block size (none when its
        content is unknown or the engines do not cache prefixes)."""
        request = self._by_id[request_id]
        if not request.prefix_ids or not self._prefix_caching:
            return ()
        return prefix_blocks.chain_hashes(
            request.prefix_ids,
            unit_tokens=request.prefix_block_tokens,
            prompt_tokens=request.prompt_tokens,
            block_tokens=self._block_size,
        )

    def _reject(self, rejection: outcomes.Rejected) -> None:
        request = rejection.request
        record = self._records[request.request_id] = records.RequestRecord(
            request_id=request.request_id,
            slo_class=request.slo_class.name,
            ttft_target_s=request.ttft_s,
            tpot_target_s=request.tpot_s,
            arrival_s=request.arrival_s,
            prompt_tokens=request.prompt_tokens,
            output_tokens=0,
            outcome=records.Outcome.REJECTED,
            ended_s=rejection.at_s,
            reject_reason=rejection.reason.value,
        )
        self._ended.append(self._records[request.request_id])
        if self._fleet is not None:
            self._fleet.ended(record)

    def _stuck(self) -> None:
        waiting = self._scheduler.queued
        names = ", ".join(request.request_id for request in waiting[:5])
        raise RuntimeError(
            f"{len(waiting)} request(s) ({names}, …) still wait at the gateway with every engine "
            f"idle and no arrivals left under policy {self._policy.name!r}: the scheduler will "
            "neither dispatch nor reject them; this is a bug in the policy or the simulator"
        )


def _output_tokens_by_id(requests: Sequence[workload.WorkloadRequest]) -> dict[str, int]:
    """Each request's output length, after checking ids are unique. A request longer than the
    engines' max_model_len is not an error here: it is rejected as prompt_too_long at arrival."""
    outputs: dict[str, int] = {}
    for request in requests:
        if request.request_id in outputs:
            raise ValueError(
                f"request id {request.request_id!r} appears twice in the workload; ids must be "
                "unique"
            )
        outputs[request.request_id] = request.output_tokens
    return outputs


def _gateway_hashes(request: workload.WorkloadRequest) -> tuple[int, ...]:
    """The request's prompt blocks hashed at its own content granularity, as the gateway's
    prefix index keys them."""
    return prefix_blocks.chain_hashes(
        request.prefix_ids,
        unit_tokens=request.prefix_block_tokens,
        prompt_tokens=request.prompt_tokens,
        block_tokens=request.prefix_block_tokens,
    )


def _prefill_dominates(
    prefill_s: float, decode_s: float, prefill_factor: float, decode_factor: float
) -> bool:
    """Whether a chunked-prefill step's prefill part, predicted at `prefill_s` beside a decode
    part of `decode_s`, dominates it enough to calibrate the prefill factor on."""
    judged_s = prefill_s * max(1.0, decode_factor / prefill_factor)
    return judged_s >= _PREFILL_DOMINATES * (judged_s + decode_s)
