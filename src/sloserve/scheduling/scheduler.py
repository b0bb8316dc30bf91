"""The per-model scheduler: queue, guards and routing behind one API, under a policy.

Callers (the gateway on real time, the simulator on virtual time) drive it with four calls:
`submit` when a request arrives, `dispatch` whenever engines may have room or time has passed,
`finish` when a request ends, and `requeue` when an engine failed a request before its first
token. They pass engine snapshots in and act on the decisions that come back; the scheduler does
no I/O and reads time only from the clock it was given.

Contract: every submitted request ends exactly once, either in a `Rejected` returned by `submit`
or `dispatch`, or in the `Finished` returned by `finish`; after that the scheduler forgets it.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sloserve.scheduling import (
    clock,
    engine_state,
    latency_model,
    outcomes,
    output_length,
    policy,
    prefill_meter,
    prefix_index,
    rejections,
    request_queue,
    slo,
    ttft_guard,
)
from sloserve.scheduling.routing import contract, feasibility, plugins
from sloserve.scheduling.routing.filters import room

Decision = outcomes.Dispatch | outcomes.Rejected


@dataclass(frozen=True, slots=True)
class _Running:
    request: slo.Request
    engine_id: str


class Scheduler:
    """Schedules the requests of one model under `policy`.

    `latency` is required by policies that predict (TTFT guard, predicted-completion routing).
    `output_lengths` estimates output tokens for completion predictions and slot waits and
    learns from served requests; a fresh default estimator when not given.
    `routing_plugins`: the plugin types the policy's routing profile may name
    (`routing.plugins.default_factories()` when not given).
    `prefix_capacity_tokens`: with it, the scheduler keeps a prefix index
    (`prefix_index.PrefixIndex`, engines' caches of that many tokens) of what it routed where;
    requests that carry prefix hashes are then predicted by the TTFT guard, charged to engines
    and routed with only the prefill their engine would leave (the uncached tokens, plus their
    attention over the cache, from `prefix_attention`: (ms per attention pair, ms per prompt
    token), `attention_cost`; None counts no attention).
    """

    def __init__(
        self,
        *,
        model: str,
        policy_config: policy.PolicyConfig,
        clock_source: clock.Clock,
        latency: latency_model.LatencyModel | None = None,
        output_lengths: output_length.OutputLengthEstimator | None = None,
        routing_plugins: Mapping[str, plugins.Factory] | None = None,
        prefix_capacity_tokens: int | None = None,
        prefix_attention: tuple[float, float] | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must not be empty")
        if policy_config.predicts and latency is None:
            raise ValueError(
                f"policy {policy_config.name!r} predicts latencies: pass latency= "
                "(a model fitted from the engines' profile)"
            )
        self._model = model
        self._policy = policy_config
        self._clock = clock_source
        self._output_lengths = output_lengths or output_length.OutputLengthEstimator()
        self._queue = request_queue.RequestQueue(policy_config.order)
        self._running: dict[str, _Running] = {}
        # the share of a TTFT target an admission must leave free: only at arrival, under slot
        # waits
        self._admission_headroom = (
            policy_config.admission_headroom if policy_config.predict_slot_waits else 0.0
        )
        self._slot_waits = (
            ttft_guard.SlotWaits(
                output_lengths=self._output_lengths,
                release_quantile=policy_config.slot_release_quantile,
            )
            if policy_config.predict_slot_waits
            else None
        )
        self._prefixes: prefix_index.PrefixIndex | None = None
        self._prefix_view: prefix_index.PrefixView | None = None
        if prefix_capacity_tokens is not None:
            self._prefixes = prefix_index.PrefixIndex(capacity_tokens=prefix_capacity_tokens)
            ms_per_pair, ms_per_token = prefix_attention or (0.0, 0.0)
            self._prefix_view = prefix_index.PrefixView(
                self._prefixes,
                ms_per_pair=ms_per_pair,
                ms_per_token=ms_per_token,
                chunk_tokens=0 if latency is None else latency.max_batched_tokens,
            )
        self._routing_plugins = routing_plugins
        self._use_latency(latency)

    def set_latency(self, latency: latency_model.LatencyModel) -> None:
        """Predict with `latency` from now on (online calibration's refit); every guard, meter
        and scorer that holds the model is rebuilt, so decisions never mix two models."""
        self._use_latency(latency)

    def _use_latency(self, latency: latency_model.LatencyModel | None) -> None:
        policy_config = self._policy
        routing_plugins = self._routing_plugins
        self._ttft_latency = latency if policy_config.use_ttft_guard else None
        self._meter: prefill_meter.PrefillMeter | None = None
        if policy_config.meter_prefill and latency is not None:
            self._meter = prefill_meter.PrefillMeter(
                latency=latency, headroom=policy_config.step_headroom
            )
        self._feasible: feasibility.Feasibility | None = None
        if policy_config.routing is policy.Routing.PREDICTED_COMPLETION and latency is not None:
            self._feasible = feasibility.Feasibility(
                latency=latency,
                use_tpot_guard=policy_config.use_tpot_guard,
                margin_s=policy_config.ttft_margin_s,
                inefficiency=policy_config.inefficiency,
                headroom=policy_config.step_headroom,
            )
        self._routing = plugins.build_profile(
            policy_config.routing_profile_spec(),
            plugins.PluginContext(
                latency=latency,
                margin_s=policy_config.ttft_margin_s,
                inefficiency=policy_config.inefficiency,
                headroom=policy_config.step_headroom,
                max_waiting=policy_config.max_engine_waiting,
                meter=self._meter,
                prefixes=self._prefixes,
            ),
            factories=routing_plugins,
            feasible=self._feasible,
        )
        # With room as the only filter, a request waits exactly when no engine has room for
        # it, which lets `dispatch` pass over larger ones without routing them.
        self._room_only = [plugin.name for plugin in self._routing.filters] == [room.NAME]

    @property
    def model(self) -> str:
        """The model whose requests this scheduler takes."""
        return self._model

    @property
    def policy(self) -> policy.PolicyConfig:
        """The policy in force."""
        return self._policy

    @property
    def output_lengths(self) -> output_length.OutputLengthEstimator:
        """The output-length estimator fed by served requests."""
        return self._output_lengths

    @property
    def prefix_index(self) -> prefix_index.PrefixIndex | None:
        """The index of routed prompt blocks, when the scheduler keeps one."""
        return self._prefixes

    @property
    def queued(self) -> tuple[slo.Request, ...]:
        """The waiting requests, in the order they would be dispatched."""
        return tuple(self._queue)

    @property
    def queue_length(self) -> int:
        """How many requests wait in the queue (without copying it, as `queued` does)."""
        return len(self._queue)

    @property
    def running(self) -> Mapping[str, str]:
        """Dispatched, unfinished requests: request id → engine id (a read-only view)."""
        return MappingProxyType({key: value.engine_id for key, value in self._running.items()})

    def holds(self, request_id: str) -> bool:
        """Whether `request_id` is queued or running here."""
        return request_id in self._queue or request_id in self._running

    def submit(
        self, request: slo.Request, engines: Sequence[engine_state.EngineState]
    ) -> outcomes.Admitted | outcomes.Rejected:
        """Admit `request` to the queue, or reject it at once.

        Rejects with no_engines when `engines` is empty, queue_full at the policy's `max_queue`
        or its class's `max_queue_per_class`, and, under the guards, tpot_unattainable when no
        engine could meet its TPOT even idle and ttft_unattainable when its predicted TTFT
        behind the requests ahead (slot waits included, under `predict_slot_waits`) exceeds its
        slack.
        Raises ValueError for a request of another model or an id already held.
        """
        now_s = self._clock.now()
        self._require_new(request)
        if not engines:
            return rejections.no_engines(request, now_s=now_s)
        max_queue = self._policy.max_queue
        if max_queue is not None and len(self._queue) >= max_queue:
            return rejections.queue_full(request, max_queue=max_queue, per_class=False, now_s=now_s)
        class_limit = self._policy.max_queue_per_class.get(request.slo_class.name)
        if class_limit is not None and self._queue.count_in_class(request.slo_class.name) >= (
            class_limit
        ):
            return rejections.queue_full(
                request, max_queue=class_limit, per_class=True, now_s=now_s
            )
        if self._feasible is not None and not self._feasible.tpot_attainable_somewhere(
            request, engines
        ):
            return rejections.tpot_unattainable(request, now_s=now_s)
        predicted_ttft_s = None
        if self._ttft_latency is not None:
            prediction = ttft_guard.check_admission(
                candidate=request,
                queue=self._queue,
                engines=engines,
                latency=self._ttft_latency,
                now_s=now_s,
                margin_s=self._policy.ttft_margin_s,
                slots=self._slot_waits,
                protect_queued=self._slot_waits is not None,
                prefix=self._prefix_view,
            )
            headroom_s = self._admission_headroom * request.ttft_s
            if prediction.predicted_ttft_s + headroom_s > prediction.slack_s:
                return rejections.ttft_unattainable(
                    request, predicted_ttft_s=prediction.predicted_ttft_s, now_s=now_s
                )
            predicted_ttft_s = prediction.predicted_ttft_s
        self._queue.push(request)
        return outcomes.Admitted(request=request, predicted_ttft_s=predicted_ttft_s)

    def dispatch(self, engines: Sequence[engine_state.EngineState]) -> list[Decision]:
        """Send what can go now, in queue order, and reject what can no longer be served.

        Each queued request is placed by the policy's routing on the snapshots, updated with
        every dispatch made in this call; one that cannot go now stays queued (a later request
        that fits may pass it). Under prefill metering an engine whose meter closes takes no more
        prompts in this call, and the walk stops once no engine is open. Then, under the TTFT
        guard, the remaining queue is re-checked and the unattainable are rejected. With no
        engines, every queued request is rejected as no_engines. Raises ValueError when two
        snapshots share an engine id.
        """
        now_s = self._clock.now()
        if not engines:
            return [
                self._reject_queued(rejections.no_engines(request, now_s=now_s))
                for request in self.queued
            ]
        snapshots = list(engines)
        index_by_id = _index_engines(snapshots)
        metered_out = self._metered_out(snapshots, now_s)
        decisions: list[Decision] = []
        hold = self._policy.hold_when_saturated
        # Whether some engine could start a request now, and (least-loaded routing, which only
        # waits or places) the largest prompt one could start, worked out once a request had
        # to wait: requests above it would wait too, so they are passed over without routing.
        # Both change only with a placement.
        open_somewhere = not hold or self._any_open(snapshots, metered_out)
        skips_large = hold and self._room_only
        largest_prompt = math.inf
        for request in self.queued:
            if not open_somewhere:
                break
            if request.prompt_tokens > largest_prompt:
                continue
            route = self._route(request, snapshots, now_s)
            if skips_large and isinstance(route, contract.Wait):
                largest_prompt = self._largest_prompt(snapshots)
            if isinstance(route, contract.Placement):
                index = index_by_id[route.engine_id]
                prefill_tokens = self._prefill_tokens(request, route.engine_id)
                snapshot = snapshots[index].with_dispatched(request, prefill_tokens=prefill_tokens)
                snapshots[index] = snapshot
                if self._meter is not None:
                    self._meter.charge(snapshot, prompt_tokens=prefill_tokens, now_s=now_s)
                    if not self._meter.is_open(snapshot, now_s=now_s):
                        metered_out |= {snapshot.engine_id}
                decisions.append(self._dispatch_queued(request, route, now_s))
                open_somewhere = not hold or self._any_open(snapshots, metered_out)
                largest_prompt = math.inf
            elif isinstance(route, outcomes.Rejected):
                decisions.append(self._reject_queued(route))
        if self._ttft_latency is not None and self._queue:
            unattainable = ttft_guard.recheck(
                queue=self._queue,
                engines=snapshots,
                latency=self._ttft_latency,
                now_s=now_s,
                margin_s=self._policy.ttft_margin_s,
                slots=self._slot_waits,
                prefix=self._prefix_view,
            )
            decisions.extend(
                self._reject_queued(
                    rejections.ttft_unattainable(
                        prediction.request,
                        predicted_ttft_s=prediction.predicted_ttft_s,
                        now_s=now_s,
                    )
                )
                for prediction in unattainable
            )
        return decisions

    def finish(
        self,
        request_id: str,
        outcome: outcomes.FinishOutcome,
        *,
        output_tokens: int | None = None,
    ) -> outcomes.Finished:
        """End a held request with `outcome`; served output lengths feed the estimator.

        A queued request can only be CANCELLED (its client left before dispatch). Raises KeyError
        for an id not held (never submitted, rejected, or already finished) and ValueError for a
        queued request finished otherwise or a negative `output_tokens`.
        """
        now_s = self._clock.now()
        if output_tokens is not None and output_tokens < 0:
            raise ValueError(f"output_tokens must be at or above zero, got {output_tokens!r}")
        if request_id in self._queue:
            if outcome is not outcomes.FinishOutcome.CANCELLED:
                raise ValueError(
                    f"request {request_id!r} is still queued: only 'cancelled' can end it, "
                    f"not {outcome.value!r}"
                )
            request = self._queue.remove(request_id)
            return outcomes.Finished(
                request=request, outcome=outcome, at_s=now_s, engine_id=None, output_tokens=None
            )
        running = self._running.pop(request_id, None)
        if running is None:
            raise KeyError(
                f"request {request_id!r} is neither queued nor running: it was never submitted, "
                "or it already ended"
            )
        if outcome is outcomes.FinishOutcome.SERVED and output_tokens is not None:
            self._output_lengths.observe(output_tokens)
        return outcomes.Finished(
            request=running.request,
            outcome=outcome,
            at_s=now_s,
            engine_id=running.engine_id,
            output_tokens=output_tokens,
        )

    def requeue(self, request_id: str) -> None:
        """Put a running request back in the queue (its engine failed before the first token),
        with its original arrival and deadline; the next `dispatch` retries it elsewhere or, under
        the TTFT guard, rejects it if its deadline no longer allows. Raises KeyError when
        `request_id` is not running."""
        running = self._running.pop(request_id, None)
        if running is None:
            raise KeyError(f"request {request_id!r} is not running here, so it cannot be requeued")
        self._queue.push(running.request)

    def _any_open(
        self, engines: Sequence[engine_state.EngineState], metered_out: frozenset[str]
    ) -> bool:
        """Whether some engine outside `metered_out` has a free sequence slot."""
        max_waiting = self._policy.max_engine_waiting
        for engine in engines:
            if engine.has_sequence_room(max_waiting=max_waiting) and (
                not metered_out or engine.engine_id not in metered_out
            ):
                return True
        return False

    def _largest_prompt(self, engines: Sequence[engine_state.EngineState]) -> float:
        """The largest prompt some engine would start at once (`EngineState.has_room`):
        infinity when one with a free sequence slot does not report its KV cache, -1 when none
        has a free slot."""
        max_waiting = self._policy.max_engine_waiting
        largest = -1.0
        for engine in engines:
            if not engine.has_sequence_room(max_waiting=max_waiting):
                continue
            if engine.kv_free_tokens is None:
                return math.inf
            # a float throughout (compiled, a float variable holds no int)
            largest = max(largest, float(engine.kv_free_tokens - engine.queued_prefill_tokens))
        return largest

    def _metered_out(
        self, engines: Sequence[engine_state.EngineState], now_s: float
    ) -> frozenset[str]:
        meter = self._meter
        if meter is None:
            return frozenset()
        return frozenset(
            engine.engine_id for engine in engines if not meter.is_open(engine, now_s=now_s)
        )

    def _route(
        self,
        request: slo.Request,
        engines: Sequence[engine_state.EngineState],
        now_s: float,
    ) -> contract.RouteDecision:
        cached: Mapping[str, int] | None = None
        prefill: Mapping[str, int] | None = None
        view = self._prefix_view
        if view is not None and request.prefix_hashes:
            cached, prefill = view.by_engine(request, [engine.engine_id for engine in engines])
        return self._routing.route(
            request=request,
            engines=engines,
            now_s=now_s,
            output_tokens=self._output_lengths.estimate(request.max_tokens),
            cached_tokens=cached,
            prefill_tokens=prefill,
        )

    def _prefill_tokens(self, request: slo.Request, engine_id: str) -> int:
        """The prefill `request` leaves on `engine_id` (its whole prompt without an index)."""
        view = self._prefix_view
        if view is None:
            return request.prompt_tokens
        return view.prefill_tokens(request, engine_id)

    def _dispatch_queued(
        self, request: slo.Request, placement: contract.Placement, now_s: float
    ) -> outcomes.Dispatch:
        self._queue.remove(request.request_id)
        self._running[request.request_id] = _Running(request=request, engine_id=placement.engine_id)
        self._routing.dispatched(request, placement.engine_id)
        if self._prefixes is not None:
            self._prefixes.record(request, placement.engine_id)
        return outcomes.Dispatch(
            request=request,
            engine_id=placement.engine_id,
            at_s=now_s,
            predicted_ttft_s=placement.predicted_ttft_s,
            predicted_completion_s=placement.predicted_completion_s,
        )

    def _reject_queued(self, rejection: outcomes.Rejected) -> outcomes.Rejected:
        self._queue.remove(rejection.request.request_id)
        return rejection

    def _require_new(self, request: slo.Request) -> None:
        if request.model != self._model:
            raise ValueError(
                f"request {request.request_id!r} is for model {request.model!r}; "
                f"this scheduler serves {self._model!r}"
            )
        if self.holds(request.request_id):
            raise ValueError(
                f"request id {request.request_id!r} is already queued or running; "
                "request ids must be unique among live requests"
            )


def _index_engines(engines: Sequence[engine_state.EngineState]) -> dict[str, int]:
    index_by_id: dict[str, int] = {}
    for index, engine in enumerate(engines):
        if engine.engine_id in index_by_id:
            raise ValueError(
                f"engine id {engine.engine_id!r} appears twice in the engine snapshots; "
                "pass one snapshot per engine"
            )
        index_by_id[engine.engine_id] = index
    return index_by_id
