"""SLO classes and the requests that carry them: targets, deadlines and slack.

A request's TTFT deadline is its arrival time plus its TTFT target; its slack at time `now` is the
deadline minus `now`. Targets come from the request's class unless the request names its own (the
gateway maps the `x-slo-ttft-ms` / `x-slo-tpot-ms` headers to `ttft_target_s` / `tpot_target_s`;
whether a client may loosen its class that way is the gateway's decision, not this record's).
"""

import dataclasses
import math
from dataclasses import dataclass

from sloserve.scheduling import _validation


@dataclass(frozen=True, slots=True, kw_only=True)
class SLOClass:
    """A service class with latency objectives.

    `ttft_s`: time to first token target, seconds. `tpot_s`: time per output token target, seconds.
    `priority`: carried through to engines that schedule by priority (lower runs first, as vLLM's
    per-request priority); the gateway's own ordering is by deadline and ignores it.
    """

    name: str
    ttft_s: float
    tpot_s: float
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("SLO class name must not be empty")
        _validation.require_positive(f"SLO class {self.name!r} ttft_s", self.ttft_s)
        _validation.require_positive(f"SLO class {self.name!r} tpot_s", self.tpot_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One inference request as the scheduler sees it.

    `request_id` is unique among the requests a scheduler holds. `arrival_s` is on the scheduler's
    clock. `ttft_target_s` / `tpot_target_s`, when set, override the class's targets for this
    request only. `session_id` names the conversation it belongs to, when the client says (for
    session-affinity routing). `prefix_hashes`: the chained hashes of the prompt's full
    `prefix_block_tokens`-token blocks (`prefix_blocks.chain_hashes`), when its content is known,
    for prefix-aware routing and prediction; empty otherwise.
    """

    request_id: str
    model: str
    slo_class: SLOClass
    arrival_s: float
    prompt_tokens: int
    max_tokens: int
    ttft_target_s: float | None = None
    tpot_target_s: float | None = None
    session_id: str | None = None
    prefix_hashes: tuple[int, ...] = ()
    prefix_block_tokens: int = 0
    # Derived in __post_init__: the targets in force (the request's own, else its class's) and
    # the TTFT deadline (arrival + TTFT target). Stored, because the TTFT guard reads them for
    # every queued request at every dispatch.
    ttft_s: float = dataclasses.field(init=False, repr=False, compare=False)
    tpot_s: float = dataclasses.field(init=False, repr=False, compare=False)
    deadline_s: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ttft_target_s = self.ttft_target_s
        tpot_target_s = self.tpot_target_s
        # One pass of plain comparisons (requests are built by the thousand); the checks with
        # their messages only when one fails.
        if not (
            self.request_id
            and -math.inf < self.arrival_s < math.inf
            and self.prompt_tokens >= 1
            and self.max_tokens >= 1
            and (ttft_target_s is None or 0 < ttft_target_s < math.inf)
            and (tpot_target_s is None or 0 < tpot_target_s < math.inf)
        ):
            self._raise_invalid()
        ttft_s = self.slo_class.ttft_s if ttft_target_s is None else ttft_target_s
        tpot_s = self.slo_class.tpot_s if tpot_target_s is None else tpot_target_s
        object.__setattr__(self, "ttft_s", ttft_s)
        object.__setattr__(self, "tpot_s", tpot_s)
        object.__setattr__(self, "deadline_s", self.arrival_s + ttft_s)

    def _raise_invalid(self) -> None:
        if not self.request_id:
            raise ValueError("request_id must not be empty")
        _validation.require_finite(f"request {self.request_id!r} arrival_s", self.arrival_s)
        if self.prompt_tokens < 1:
            raise ValueError(
                f"request {self.request_id!r} prompt_tokens must be at least 1, "
                f"got {self.prompt_tokens!r}"
            )
        if self.max_tokens < 1:
            raise ValueError(
                f"request {self.request_id!r} max_tokens must be at least 1, "
                f"got {self.max_tokens!r}"
            )
        if self.ttft_target_s is not None:
            _validation.require_positive(
                f"request {self.request_id!r} ttft_target_s", self.ttft_target_s
            )
        if self.tpot_target_s is not None:
            _validation.require_positive(
                f"request {self.request_id!r} tpot_target_s", self.tpot_target_s
            )

    def slack_s(self, now_s: float) -> float:
        """Time left until the deadline at `now_s`; negative once the deadline has passed."""
        return self.deadline_s - now_s
