"""Scheduling policies as configuration, so benchmarks compare them through the same code.

Presets: `fcfs` (first come first served, no rejection, least-loaded routing, requests forwarded
at once as a plain router does), `deadline` (least deadline first, no rejection, held at the
gateway while engines are saturated, as the Gateway API inference extension's flow control does),
`scorpio` (least deadline first, TTFT guard counting slot waits, TPOT guard with prefill
metering, routing by predicted completion). `hold_then_reject(policy)` is a policy whose TTFT
guard ignores slot waits, for comparing against the gateway's earlier behaviour.
"""

import dataclasses
import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from sloserve.scheduling import _validation, request_queue, tpot_guard, ttft_guard
from sloserve.scheduling.routing import plugins


class Routing(enum.StrEnum):
    """LEAST_LOADED: fewest requests on the engine. PREDICTED_COMPLETION: SCORPIO's routing."""

    LEAST_LOADED = "least_loaded"
    PREDICTED_COMPLETION = "predicted_completion"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyConfig:
    """One gateway scheduling policy.

    `order`: the waiting queue's order.
    `routing`: how an engine is chosen.
    `use_ttft_guard`: reject requests predicted to miss their TTFT, at admission and while queued.
    `use_tpot_guard`: send a request only where the virtual-batch-size check admits it (needs
    PREDICTED_COMPLETION routing, which applies it).
    `hold_when_saturated`: keep requests in the queue while no engine would start them at once;
    when False every request is forwarded on the next dispatch (engines queue it themselves).
    `max_engine_waiting`: an engine with this many requests waiting counts as saturated (None:
    only max_num_seqs and KV count); 5 is the inference extension's queue-depth threshold.
    `ttft_margin_s`: seconds added to every predicted TTFT (SCORPIO: 50 ms).
    `inefficiency`, `step_headroom`: the TPOT guard's factors (SCORPIO: 1.3 and 0.99).
    `max_queue`: the most requests waiting before new ones are rejected as queue_full (None: no
    limit).
    `max_queue_per_class`: the most requests of one class waiting (class name → limit; a class
    not named has no limit of its own).
    `meter_prefill`: send prompts to an engine only as fast as its tightest TPOT target allows
    the prefill they add to its steps (`prefill_meter`; needs use_tpot_guard).
    `predict_slot_waits`: the TTFT guard counts the wait for a free `max_num_seqs` slot, so
    requests that full engines cannot start in time are rejected at arrival
    (`ttft_guard.SlotWaits`). Off, they are admitted and held until the re-check finds their
    slack spent (hold-then-reject).
    `slot_release_quantile`: which share of recent outputs longer than a running request's it is
    taken to reach, for those slot waits.
    `admission_headroom`: under `predict_slot_waits`, the share of its TTFT target a request's
    prediction must leave free to be admitted; the re-check in the queue rejects only once the
    prediction exceeds the slack itself. Under overload the queue fills until new requests are
    predicted at their deadline, and a request admitted right there is rejected later by the
    first prediction error against it; the headroom says no at arrival instead.
    `routing_spec`: the routing profile (`routing.plugins.RoutingSpec`); None takes the one
    `routing` and the guard settings imply (`routing.plugins.preset_spec`).
    """

    name: str
    order: request_queue.QueueOrder
    routing: Routing
    use_ttft_guard: bool = False
    use_tpot_guard: bool = False
    hold_when_saturated: bool = True
    max_engine_waiting: int | None = 5
    ttft_margin_s: float = ttft_guard.DEFAULT_MARGIN_S
    inefficiency: float = tpot_guard.DEFAULT_INEFFICIENCY
    step_headroom: float = tpot_guard.DEFAULT_HEADROOM
    max_queue: int | None = None
    max_queue_per_class: Mapping[str, int] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    meter_prefill: bool = False
    predict_slot_waits: bool = False
    slot_release_quantile: float = ttft_guard.DEFAULT_RELEASE_QUANTILE
    admission_headroom: float = ttft_guard.DEFAULT_ADMISSION_HEADROOM
    routing_spec: plugins.RoutingSpec | None = None

    def __post_init__(self) -> None:
        prefix = f"policy {self.name!r}"
        if self.use_tpot_guard and self.routing is not Routing.PREDICTED_COMPLETION:
            raise ValueError(
                f"{prefix}: use_tpot_guard needs routing={Routing.PREDICTED_COMPLETION.value!r}, "
                "the routing that applies it"
            )
        if self.meter_prefill and not self.use_tpot_guard:
            raise ValueError(
                f"{prefix}: meter_prefill extends the TPOT guard; set use_tpot_guard=True"
            )
        if self.routing is Routing.PREDICTED_COMPLETION and not self.hold_when_saturated:
            raise ValueError(
                f"{prefix}: routing={Routing.PREDICTED_COMPLETION.value!r} only places requests "
                "on engines with room; set hold_when_saturated=True"
            )
        if self.max_engine_waiting is not None and self.max_engine_waiting < 1:
            raise ValueError(
                f"{prefix}: max_engine_waiting must be at least 1 or None, "
                f"got {self.max_engine_waiting!r}"
            )
        if self.max_queue is not None and self.max_queue < 1:
            raise ValueError(
                f"{prefix}: max_queue must be at least 1 or None, got {self.max_queue!r}"
            )
        for slo_class, limit in self.max_queue_per_class.items():
            if limit < 1:
                raise ValueError(
                    f"{prefix}: max_queue_per_class[{slo_class!r}] must be at least 1, "
                    f"got {limit!r}"
                )
        if self.predict_slot_waits and not self.use_ttft_guard:
            raise ValueError(
                f"{prefix}: predict_slot_waits extends the TTFT guard; set use_ttft_guard=True"
            )
        if not 0 <= self.slot_release_quantile <= 1:
            raise ValueError(
                f"{prefix}: slot_release_quantile must be between 0 and 1, "
                f"got {self.slot_release_quantile!r}"
            )
        if not 0 <= self.admission_headroom < 1:
            raise ValueError(
                f"{prefix}: admission_headroom must be at least 0 and below 1, "
                f"got {self.admission_headroom!r}"
            )
        _validation.require_non_negative(f"{prefix}: ttft_margin_s", self.ttft_margin_s)
        _validation.require_positive(f"{prefix}: inefficiency", self.inefficiency)
        _validation.require_positive(f"{prefix}: step_headroom", self.step_headroom)

    @property
    def predicts(self) -> bool:
        """Whether the policy needs a latency model."""
        return self.use_ttft_guard or self.routing is Routing.PREDICTED_COMPLETION

    def routing_profile_spec(self) -> plugins.RoutingSpec:
        """The routing profile in force: `routing_spec`, else the preset's."""
        if self.routing_spec is not None:
            return self.routing_spec
        return plugins.preset_spec(
            predicted_completion_routing=self.routing is Routing.PREDICTED_COMPLETION,
            hold_when_saturated=self.hold_when_saturated,
            use_tpot_guard=self.use_tpot_guard,
            meter_prefill=self.meter_prefill,
        )


PRESET_NAMES = ("fcfs", "deadline", "scorpio")


def preset(name: str) -> PolicyConfig:
    """The preset policy `name`, one of PRESET_NAMES."""
    if name == "fcfs":
        return PolicyConfig(
            name=name,
            order=request_queue.QueueOrder.ARRIVAL,
            routing=Routing.LEAST_LOADED,
            hold_when_saturated=False,
            max_engine_waiting=None,
        )
    if name == "deadline":
        return PolicyConfig(
            name=name, order=request_queue.QueueOrder.DEADLINE, routing=Routing.LEAST_LOADED
        )
    if name == "scorpio":
        return PolicyConfig(
            name=name,
            order=request_queue.QueueOrder.DEADLINE,
            routing=Routing.PREDICTED_COMPLETION,
            use_ttft_guard=True,
            use_tpot_guard=True,
            meter_prefill=True,
            predict_slot_waits=True,
        )
    raise ValueError(f"unknown scheduling policy {name!r}; choose one of {', '.join(PRESET_NAMES)}")


def hold_then_reject(config: PolicyConfig) -> PolicyConfig:
    """`config` with a TTFT guard that does not count slot waits: requests that full engines
    cannot start in time are admitted, held, and rejected once the re-check finds their slack
    spent."""
    return dataclasses.replace(config, predict_slot_waits=False)
