"""What the engine reports as its clock advances. Times are in the engine's clock (seconds).

Within one step the order is: preemptions (at the step's start), then tokens, then finishes (at
its end). A request's first token is a `FirstToken`; every later one a `Token` (only when the
engine was built with token events on: a simulator that needs only TTFT and completion times
turns them off and the engine then advances a decoding batch in constant time).
"""

from __future__ import annotations

from dataclasses import dataclass

from sloserve.engine import requests


@dataclass(frozen=True, slots=True)
class FirstToken:
    """The request's first output token (index 0) was produced."""

    request_id: str
    time: float


@dataclass(frozen=True, slots=True)
class Token:
    """Output token number `index` (1 for the second token) was produced."""

    request_id: str
    time: float
    index: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The request produced its last token; its KV blocks are free again."""

    request_id: str
    time: float
    stats: requests.RequestStats


@dataclass(frozen=True, slots=True)
class Preempted:
    """The request lost its KV cache to make room and went back to waiting (recompute)."""

    request_id: str
    time: float


EngineEvent = FirstToken | Token | Finished | Preempted
