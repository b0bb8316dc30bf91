"""The policies the simulator compares: a gateway preset of `sloserve.scheduling` paired with an
engine-side iteration policy of `sloserve.engine`.

| name | gateway (`scheduling.policy` preset) | engine iteration policy |
| --- | --- | --- |
| `fcfs` | `fcfs`: forward at once, least loaded | `fcfs` (vLLM's default) |
| `priority` | `fcfs` | `priority`, class priority by TTFT target (tightest first) |
| `deadline` | `deadline`: least deadline first, held while engines are saturated | `fcfs` |
| `scorpio-gateway` | `scorpio`: LDF, TTFT guard, TPOT guard (VBS), predicted completion | `fcfs` |
| `scorpio-full` | `scorpio` | `credit` (SCORPIO's credit-based batching) |
| `round-robin` | forward at once, engines in turn | `fcfs` |
| `least-outstanding` | `fcfs` (forward at once, fewest requests) | `fcfs` |
| `llm-d-prefix` | forward at once; llm-d's prefix-cache 3, queue 2, KV-utilization 2 | `fcfs` |
| `cache-aware` | forward at once; vllm-router's `cache_aware` choice | `fcfs` |
| `scorpio-prefix` | `scorpio`, prefix-aware guard, routing and affinity | `credit` |

The last five policies are the prefix-routing benchmark's (`bench/sim/prefix_routing.py`); those
marked prefix-aware keep the gateway's prefix index (`scheduling.prefix_index`), fed with the
requests' prompt content. Engines cache prefixes under every policy (vLLM's default). The names
are fixed: the benchmark results files (`bench/results/scorpio_repro.json`,
`bench/results/prefix_routing.json`) use them.
"""

import dataclasses
from dataclasses import dataclass

from sloserve.engine import config
from sloserve.scheduling import policy, request_queue
from sloserve.scheduling.routing import plugins, round_robin
from sloserve.scheduling.routing.filters import prefix_affinity
from sloserve.scheduling.routing.scorers import (
    cache_aware,
    kv_utilization,
    predicted_completion,
    prefix_cache,
    queue_depth,
)

# llm-d's default scorer weights (its inference-scheduling profile): prefix cache 3, queue 2,
# KV-cache utilization 2
LLM_D_WEIGHTS = {prefix_cache.NAME: 3.0, queue_depth.NAME: 2.0, kv_utilization.NAME: 2.0}
# the prefix-cache scorer's weight beside predicted completion (1) in `scorpio-prefix`: the
# expected hit already shortens the predicted TTFT; the scorer adds locality for later turns
SCORPIO_PREFIX_WEIGHT = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class SimPolicy:
    """A named pairing of a gateway policy and an engine iteration policy.

    `class_priorities`: whether requests carry their class's priority to the engine (only the
    engine's `priority` policy reads it; vLLM's meaning, lower runs first).
    """

    name: str
    gateway: policy.PolicyConfig
    engine: config.Policy
    class_priorities: bool
    description: str
    prefix_aware: bool = False


# name -> (gateway preset, engine iteration policy, class priorities, description)
_POLICIES: dict[str, tuple[str, config.Policy, bool, str]] = {
    "fcfs": (
        "fcfs",
        config.Policy.FCFS,
        False,
        "vLLM default: gateway forwards at once, engine first come first served",
    ),
    "priority": (
        "fcfs",
        config.Policy.PRIORITY,
        True,
        "vLLM priority scheduling: interactive before standard before batch",
    ),
    "deadline": (
        "deadline",
        config.Policy.FCFS,
        False,
        "least deadline first at the gateway, no rejection (inference extension)",
    ),
    "scorpio-gateway": (
        "scorpio",
        config.Policy.FCFS,
        False,
        "SCORPIO at the gateway: LDF, TTFT rejection, VBS admission; engine fcfs",
    ),
    "scorpio-full": (
        "scorpio",
        config.Policy.CREDIT,
        False,
        "SCORPIO at the gateway plus credit-based batching in the engine",
    ),
}


def _forward_at_once(name: str, spec: plugins.RoutingSpec) -> policy.PolicyConfig:
    """A plain router's gateway: first come first served, no rejection, every request forwarded
    on the next dispatch, placed by `spec`."""
    return policy.PolicyConfig(
        name=name,
        order=request_queue.QueueOrder.ARRIVAL,
        routing=policy.Routing.LEAST_LOADED,
        hold_when_saturated=False,
        max_engine_waiting=None,
        routing_spec=spec,
    )


def _scorpio_prefix() -> policy.PolicyConfig:
    scorpio = policy.preset("scorpio")
    spec = scorpio.routing_profile_spec()
    return dataclasses.replace(
        scorpio,
        name="scorpio-prefix",
        routing_spec=dataclasses.replace(
            spec,
            filters=(plugins.PluginSpec(type=prefix_affinity.NAME), *spec.filters),
            scorers=(
                plugins.PluginSpec(type=predicted_completion.NAME),
                plugins.PluginSpec(type=prefix_cache.NAME, weight=SCORPIO_PREFIX_WEIGHT),
            ),
        ),
    )


def _prefix_policies() -> dict[str, SimPolicy]:
    fcfs = config.Policy.FCFS
    return {
        "round-robin": SimPolicy(
            name="round-robin",
            gateway=_forward_at_once(
                "round-robin",
                plugins.RoutingSpec(picker=plugins.PluginSpec(type=round_robin.NAME)),
            ),
            engine=fcfs,
            class_priorities=False,
            description="plain router: engines in turn",
        ),
        "least-outstanding": SimPolicy(
            name="least-outstanding",
            gateway=dataclasses.replace(policy.preset("fcfs"), name="least-outstanding"),
            engine=fcfs,
            class_priorities=False,
            description="plain router: fewest outstanding requests",
        ),
        "llm-d-prefix": SimPolicy(
            name="llm-d-prefix",
            gateway=_forward_at_once(
                "llm-d-prefix",
                plugins.RoutingSpec(
                    scorers=tuple(
                        plugins.PluginSpec(type=name, weight=weight)
                        for name, weight in LLM_D_WEIGHTS.items()
                    )
                ),
            ),
            engine=fcfs,
            class_priorities=False,
            description="llm-d's weighted prefix-cache + queue + KV-utilization scorers",
            prefix_aware=True,
        ),
        "cache-aware": SimPolicy(
            name="cache-aware",
            gateway=_forward_at_once(
                "cache-aware",
                plugins.RoutingSpec(scorers=(plugins.PluginSpec(type=cache_aware.NAME),)),
            ),
            engine=fcfs,
            class_priorities=False,
            description="vllm-router's cache_aware policy (approximate prefix tree, balance)",
            prefix_aware=True,
        ),
        "scorpio-prefix": SimPolicy(
            name="scorpio-prefix",
            gateway=_scorpio_prefix(),
            engine=config.Policy.CREDIT,
            class_priorities=False,
            description="sloserve (SCORPIO) with prefix-aware TTFT guard and routing",
            prefix_aware=True,
        ),
    }


PREFIX_POLICY_NAMES = (
    "round-robin",
    "least-outstanding",
    "llm-d-prefix",
    "cache-aware",
    "scorpio-prefix",
)
# the policies of the SCORPIO benchmarks (`bench/sim/scorpio_repro.py`, `bench/sim/sim_speed.py`)
SCORPIO_POLICY_NAMES = tuple(_POLICIES)
POLICY_NAMES = (*SCORPIO_POLICY_NAMES, *PREFIX_POLICY_NAMES)


def sim_policy(name: str) -> SimPolicy:
    """The policy `name`, one of POLICY_NAMES; raises ValueError naming the choices otherwise."""
    if name not in POLICY_NAMES:
        raise ValueError(
            f"unknown simulator policy {name!r}; choose one of {', '.join(POLICY_NAMES)}"
        )
    if name not in _POLICIES:
        return _prefix_policies()[name]
    gateway_preset, engine_policy, class_priorities, description = _POLICIES[name]
    return SimPolicy(
        name=name,
        gateway=policy.preset(gateway_preset),
        engine=engine_policy,
        class_priorities=class_priorities,
        description=description,
    )
