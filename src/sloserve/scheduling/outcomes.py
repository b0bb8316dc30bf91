"""The scheduler's decisions and every request's terminal outcome, as a closed set.

A request ends exactly once: either the scheduler rejects it (a `Rejected` returned from `submit`
or `dispatch`) or its caller finishes it (a `Finished` returned from `finish`). `Admitted` and
`Dispatch` are not terminal.
"""

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from sloserve.scheduling import slo


class RejectReason(enum.StrEnum):
    """Why the scheduler refused a request; the values are stable metric label values."""

    TTFT_UNATTAINABLE = "ttft_unattainable"
    TPOT_UNATTAINABLE = "tpot_unattainable"
    QUEUE_FULL = "queue_full"
    NO_ENGINES = "no_engines"
    PROMPT_TOO_LONG = "prompt_too_long"


class FinishOutcome(enum.StrEnum):
    """How a dispatched or queued request ended, as its caller reports it.

    SERVED: the engine completed it. CANCELLED: the client went away (queued or running).
    FAILED: the engine failed it and it was not retried.
    """

    SERVED = "served"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Admitted:
    """The request waits in the scheduler's queue.

    `predicted_ttft_s`: the TTFT guard's prediction at admission (seconds from now), or None under
    a policy without the guard.
    """

    request: slo.Request
    predicted_ttft_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """Terminal: the scheduler refused the request and no longer holds it.

    `message` names the class and the numbers behind the decision, for the client's error body.
    `predicted_ttft_s`: the prediction that failed (TTFT rejections), else None.
    `retry_after_s`: how long until a fresh request of the same class would be predicted to fit,
    if the scheduler can tell (TTFT rejections), else None.
    `details`: the other numbers behind the decision, by name (e.g. `queue_limit`), so that
    clients can read them without parsing `message`, which stays the same for every rejection
    of one reason and class.
    """

    request: slo.Request
    reason: RejectReason
    message: str
    at_s: float
    predicted_ttft_s: float | None = None
    retry_after_s: float | None = None
    details: Mapping[str, float | int | str] = field(
        default_factory=lambda: types.MappingProxyType({})
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch:
    """Send `request` to engine `engine_id` now; the request stays live until `finish`.

    The predictions are seconds from the dispatch time, or None under a policy that does not
    predict.
    """

    request: slo.Request
    engine_id: str
    at_s: float
    predicted_ttft_s: float | None = None
    predicted_completion_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """Terminal: the caller reported how the request ended."""

    request: slo.Request
    outcome: FinishOutcome
    at_s: float
    engine_id: str | None
    output_tokens: int | None = None


Terminal = Rejected | Finished
