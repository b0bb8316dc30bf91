"""Scaling policies the simulator compares, each a `fleet.ScalingPolicy`.

- `fixed`: a fixed count, nothing scales (peak provisioning);
- `hpa-queue`: waiting requests per replica (gateway queue plus the engines'
  `num_requests_waiting`) against a target, by HPA's rule: llm-d's KEDA on the picker's queue;
- `hpa-kv`: mean KV-cache use against a target, by HPA's rule (`vllm:kv_cache_usage_perc`);
- `planner`: predicted load (the last window's rate and lengths) over per-replica token
  throughput at the TPOT target, from the profile: Dynamo's SLA planner, aggregated serving;
- `sloserve`: per-class demand over per-engine capacity at the targets, with feedback,
  stabilization, delay and cold-start look-ahead (`sloserve.autoscaling`).

HPA's rule (Kubernetes' horizontal pod autoscaler, defaults): desired = ⌈ready × metric / target⌉,
unchanged within a 10% tolerance; scale-down uses the highest recommendation of the last 300 s;
scale-up at most doubles (or adds 4) per decision.
"""

from __future__ import annotations

import collections
import collections.abc
import math
from dataclasses import dataclass, field

from sloserve.autoscaling import capacity, recommender
from sloserve.scheduling import latency_model
from sloserve.sim import fleet

__all__ = [
    "FixedReplicas",
    "HpaOnKvCache",
    "HpaOnQueueDepth",
    "PlannerStyle",
    "SloHeadroom",
]


@dataclass(kw_only=True)
class FixedReplicas:
    """Always `replicas` engines."""

    replicas: int
    name: str = "fixed"

    def desired_replicas(self, view: fleet.FleetView) -> int:
        """The fixed count."""
        return self.replicas


@dataclass(kw_only=True)
class _Hpa:
    """Kubernetes' HPA rule on one per-replica metric (see the module docstring)."""

    target: float
    min_replicas: int
    max_replicas: int
    tolerance: float = 0.1
    scale_down_window_s: float = 300.0
    _history: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def metric(self, view: fleet.FleetView) -> float:
        """The metric's mean per ready replica."""
        raise NotImplementedError

    def desired_replicas(self, view: fleet.FleetView) -> int:
        """HPA's recommendation, stabilized and bounded."""
        ready = max(1, view.ready_replicas)
        ratio = self.metric(view) / self.target
        current = view.current_replicas
        recommended = current if abs(ratio - 1) <= self.tolerance else math.ceil(ready * ratio)
        history = self._history
        history.append((view.now_s, recommended))
        while history and history[0][0] < view.now_s - self.scale_down_window_s:
            history.popleft()
        if recommended < current:
            recommended = min(current, max(value for _, value in history))
        else:
            recommended = min(recommended, max(2 * current, current + 4))
        return min(max(recommended, self.min_replicas), self.max_replicas)


@dataclass(kw_only=True)
class HpaOnQueueDepth(_Hpa):
    """HPA on waiting requests per replica (KEDA's per-replica target)."""

    name: str = "hpa-queue"

    def metric(self, view: fleet.FleetView) -> float:
        """Waiting requests (gateway and engines) per ready replica."""
        waiting = view.gateway_waiting + sum(engine.waiting for engine in view.engines)
        return waiting / max(1, view.ready_replicas)


@dataclass(kw_only=True)
class HpaOnKvCache(_Hpa):
    """HPA on the mean KV-cache use of the ready replicas (a share in [0, 1])."""

    name: str = "hpa-kv"

    def metric(self, view: fleet.FleetView) -> float:
        """Mean KV-cache use."""
        if not view.engines:
            return 0.0
        return sum(engine.kv_usage for engine in view.engines) / len(view.engines)


@dataclass(kw_only=True)
class PlannerStyle:
    """Load over per-replica throughput, as Dynamo's SLA planner sizes an aggregated deployment.

    The next interval's load is the last window's (the planner's constant predictor); a replica
    serves `prefill_tokens_per_s` of prompt and `decode_tokens_per_s` of output at the TPOT target
    (the largest batch whose step stays within it), each scaled by `utilization`; the engine's
    time is shared, so the replicas needed are the sum of the two shares. Decides every
    `adjustment_interval_s`, without stabilization.
    """

    latency: latency_model.LatencyModel
    max_num_seqs: int
    min_replicas: int
    max_replicas: int
    utilization: float = 1.0
    adjustment_interval_s: float = 60.0
    name: str = "planner"
    _last: tuple[float, int] | None = None

    def desired_replicas(self, view: fleet.FleetView) -> int:
        """Replicas for the predicted load."""
        if self._last is not None and view.now_s - self._last[0] < self.adjustment_interval_s:
            return self._last[1]
        rate = sum(item.rate_rps for item in view.classes)
        replicas = self.min_replicas
        if rate > 0:
            prompt = sum(item.rate_rps * item.mean_prompt_tokens for item in view.classes) / rate
            output = sum(item.rate_rps * item.mean_output_tokens for item in view.classes) / rate
            tpot_s = min(item.tpot_s for item in view.classes)
            prefill_tps = self._prefill_tokens_per_s() * self.utilization
            decode_tps = self._decode_tokens_per_s(prompt + output / 2, tpot_s) * self.utilization
            share = rate * prompt / prefill_tps + rate * output / decode_tps
            replicas = math.ceil(share - 1e-9)
        decided = min(max(replicas, self.min_replicas), self.max_replicas)
        self._last = (view.now_s, decided)
        return decided

    def _prefill_tokens_per_s(self) -> float:
        tokens = self.latency.max_batched_tokens
        return tokens / self.latency.prefill_time_s(tokens)

    def _decode_tokens_per_s(self, context: float, tpot_s: float) -> float:
        batch = 1
        while (
            batch < self.max_num_seqs
            and self.latency.decode_step_time_s(batch + 1, context) <= tpot_s
        ):
            batch += 1
        return batch / self.latency.decode_step_time_s(batch, context)


@dataclass(kw_only=True)
class SloHeadroom:
    """sloserve's controller: `autoscaling.recommender` on the gateway's per-class figures (a
    class's attainment counts once `min_ended` of its requests ended in the window)."""

    scaler: recommender.Recommender
    targets: dict[str, float]
    default_target: float = 0.95
    min_ended: int = 50
    name: str = "sloserve"
    decisions: list[recommender.Decision] = field(default_factory=list)

    @staticmethod
    def build(
        *,
        settings: recommender.ScalingSettings,
        latency: latency_model.LatencyModel,
        limits: capacity.EngineLimits,
        targets: dict[str, float],
        default_target: float = 0.95,
    ) -> SloHeadroom:
        """The controller with capacity from `latency` and `limits`."""

        def capacity_of(demand: collections.abc.Sequence[capacity.ClassDemand]) -> float:
            return capacity.engine_capacity_rps(demand, latency=latency, limits=limits)

        return SloHeadroom(
            scaler=recommender.Recommender(settings, capacity_of=capacity_of),
            targets=targets,
            default_target=default_target,
        )

    def desired_replicas(self, view: fleet.FleetView) -> int:
        """The recommender's decision on this view."""
        demand = tuple(
            capacity.ClassDemand(
                name=item.name,
                rate_rps=item.rate_rps,
                mean_prompt_tokens=item.mean_prompt_tokens,
                mean_output_tokens=item.mean_output_tokens,
                ttft_s=item.ttft_s,
                tpot_s=item.tpot_s,
                target_attainment=self.targets.get(item.name, self.default_target),
            )
            for item in view.classes
        )
        decision = self.scaler.decide(
            recommender.Observation(
                now_s=view.now_s,
                demand=demand,
                attainment={
                    item.name: item.attainment if item.ended >= self.min_ended else None
                    for item in view.classes
                },
                queue_time_s=view.queue_time_s,
                current_replicas=view.current_replicas,
                ready_replicas=view.ready_replicas,
                draining_replicas=view.draining_replicas,
                window_s=view.window_s,
            )
        )
        self.decisions.append(decision)
        return decision.desired_replicas
