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


POLICY_NAMES = ("fcfs", "priority", "deadline", "scorpio-gateway", "scorpio-full")


def sim_policy(name: str) -> SimPolicy:
    """The policy `name`, one of POLICY_NAMES; raises ValueError naming the choices otherwise."""
    if name == "fcfs":
        return SimPolicy(
            name=name,
            gateway=policy.preset("fcfs"),
            engine=config.Policy.FCFS,
            class_priorities=False,
            description="vLLM default: gateway forwards at once, engine first come first served",
        )
    if name == "priority":
        return SimPolicy(
            name=name,
            gateway=policy.preset("fcfs"),
            engine=config.Policy.PRIORITY,
            class_priorities=True,
            description="vLLM priority scheduling: interactive before standard before batch",
        )
    if name == "deadline":
        return SimPolicy(
            name=name,
            gateway=policy.preset("deadline"),
            engine=config.Policy.FCFS,
            class_priorities=False,
            description="least deadline first at the gateway, no rejection (inference extension)",
        )
    if name == "scorpio-gateway":
        return SimPolicy(
            name=name,
            gateway=policy.preset("scorpio"),
            engine=config.Policy.FCFS,
            class_priorities=False,
            description="SCORPIO at the gateway: LDF, TTFT rejection, VBS admission; engine fcfs",
        )
    if name == "scorpio-full":
        return SimPolicy(
            name=name,
            gateway=policy.preset("scorpio"),
            engine=config.Policy.CREDIT,
            class_priorities=False,
            description="SCORPIO at the gateway plus credit-based batching in the engine",
        )
    raise ValueError(f"unknown simulator policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
