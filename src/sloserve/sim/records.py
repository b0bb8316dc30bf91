"""What the simulator records about every request: one terminal outcome and its timings.

Metrics follow SCORPIO: TTFT from the request's arrival at the gateway to its first token;
TPOT = (E2E − TTFT) / (output tokens − 1); a request *attains* its objectives when both are within
its class's targets. A rejected request attains nothing.
"""

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    """SERVED: an engine produced every output token. REJECTED: the gateway refused it."""

    SERVED = "served"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One request's end. Times are seconds on the simulated clock.

    Served requests have `engine_id`, `dispatched_s`, `first_token_s` and `finished_s`;
    rejected ones have `reject_reason` (a `scheduling.outcomes.RejectReason` value) and
    `ended_s`, the time of the rejection. `output_tokens` is what was generated (0 when rejected).
    """

    request_id: str
    slo_class: str
    ttft_target_s: float
    tpot_target_s: float
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    outcome: Outcome
    ended_s: float
    reject_reason: str | None = None
    engine_id: str | None = None
    dispatched_s: float | None = None
    first_token_s: float | None = None
    finished_s: float | None = None
    preemptions: int = 0
    # prompt tokens the engine found in its prefix cache, and the TTFT the gateway predicted
    # when it dispatched the request (None: the policy does not predict)
    cached_tokens: int = 0
    predicted_ttft_s: float | None = None

    @property
    def ttft_s(self) -> float | None:
        """Arrival to first token; None when rejected."""
        if self.first_token_s is None:
            return None
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> float | None:
        """(E2E − TTFT) / (output − 1); 0 for a single-token output; None when rejected."""
        if self.first_token_s is None or self.finished_s is None:
            return None
        if self.output_tokens < 2:
            return 0.0
        return (self.finished_s - self.first_token_s) / (self.output_tokens - 1)

    @property
    def attained(self) -> bool:
        """Served with TTFT and TPOT both within the targets."""
        ttft_s = self.ttft_s
        tpot_s = self.tpot_s
        if ttft_s is None or tpot_s is None:
            return False
        return ttft_s <= self.ttft_target_s and tpot_s <= self.tpot_target_s
