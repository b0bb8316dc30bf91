"""When a replica may take a leader-election Lease. Pure: times are arguments.

A Lease is expired for a replica when the replica has watched it stay unchanged for its full
duration, measured on the replica's own monotonic clock from the moment it first saw the current
version. No replica compares its clock with the timestamps another wrote, so clock skew between
machines cannot make two replicas believe they hold the Lease at once.
"""

from __future__ import annotations

import dataclasses

__all__ = ["LeaseObserver", "LeaseRecord"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeaseRecord:
    """The parts of a coordination.k8s.io/v1 Lease that election reads."""

    holder: str | None
    duration_s: float
    transitions: int
    resource_version: str


class LeaseObserver:
    """Remembers the Lease version last seen and when (monotonic seconds) it was first seen."""

    def __init__(self) -> None:
        self._seen: LeaseRecord | None = None
        self._seen_at = 0.0

    def observe(self, record: LeaseRecord, *, now: float) -> None:
        """Notes `record` as read at `now`; the clock restarts only when the version changed."""
        if self._seen is None or record.resource_version != self._seen.resource_version:
            self._seen = record
            self._seen_at = now

    def may_take(self, record: LeaseRecord, *, identity: str, now: float) -> bool:
        """Whether `identity` may write itself into `record`: the Lease is free, already its
        own, or unchanged for its whole duration since this observer first saw it."""
        if not record.holder or record.holder == identity:
            return True
        if self._seen is None or self._seen.resource_version != record.resource_version:
            return False
        return now - self._seen_at >= record.duration_s
