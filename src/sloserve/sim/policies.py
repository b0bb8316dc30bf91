"""The policies the simulator compares: a gateway preset of `sloserve.scheduling` paired with an
engine-side iteration policy of `sloserve.engine`.

| name | gateway (`scheduling.policy` preset) | engine iteration policy |
| --- | --- | --- |
| `fcfs` | `fcfs`: forward at once, least loaded | `fcfs` (vLLM's default) |
| `priority` | `fcfs` | `priority`, class priority by TTFT target (tightest first) |
| `deadline` | `deadline`: least deadline first, held while engines are saturated | `fcfs` |
| `scorpio-gateway` | `scorpio`: LDF, TTFT guard, TPOT guard (VBS), predicted completion | `fcfs` |
| `scorpio-full` | `scorpio` | `credit` (SCORPIO's credit-based batching) |

The names are fixed: the benchmark results file (`bench/results/scorpio_repro.json`) uses them.
"""

from dataclasses import dataclass

from sloserve.engine import config
from sloserve.scheduling import policy


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

POLICY_NAMES = tuple(_POLICIES)


def sim_policy(name: str) -> SimPolicy:
    """The policy `name`, one of POLICY_NAMES; raises ValueError naming the choices otherwise."""
    if name not in _POLICIES:
        raise ValueError(
            f"unknown simulator policy {name!r}; choose one of {', '.join(POLICY_NAMES)}"
        )
    gateway_preset, engine_policy, class_priorities, description = _POLICIES[name]
    return SimPolicy(
        name=name,
        gateway=policy.preset(gateway_preset),
        engine=engine_policy,
        class_priorities=class_priorities,
        description=description,
    )
