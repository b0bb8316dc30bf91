"""When a replica may take the leader-election Lease, on its own clock."""

from __future__ import annotations

from sloserve.operator.lease_rules import LeaseObserver, LeaseRecord


def _record(holder: str | None, version: str, duration_s: float = 15.0) -> LeaseRecord:
    return LeaseRecord(
        holder=holder, duration_s=duration_s, transitions=0, resource_version=version
    )


def test_free_lease_may_be_taken_at_once() -> None:
    observer = LeaseObserver()
    free = _record(None, "1")
    observer.observe(free, now=0.0)
    assert observer.may_take(free, identity="b", now=0.0)


def test_own_lease_may_always_be_renewed() -> None:
    observer = LeaseObserver()
    mine = _record("b", "1")
    observer.observe(mine, now=0.0)
    assert observer.may_take(mine, identity="b", now=0.0)


def test_held_lease_is_taken_only_after_a_full_duration_unchanged() -> None:
    observer = LeaseObserver()
    held = _record("a", "1")
    observer.observe(held, now=100.0)
    assert not observer.may_take(held, identity="b", now=114.9)
    observer.observe(held, now=114.9)
    assert observer.may_take(held, identity="b", now=115.0)


def test_a_renewal_restarts_the_wait() -> None:
    observer = LeaseObserver()
    observer.observe(_record("a", "1"), now=0.0)
    renewed = _record("a", "2")
    observer.observe(renewed, now=14.0)
    assert not observer.may_take(renewed, identity="b", now=20.0)
    assert observer.may_take(renewed, identity="b", now=29.0)


def test_a_version_never_observed_is_not_taken() -> None:
    observer = LeaseObserver()
    observer.observe(_record("a", "1"), now=0.0)
    assert not observer.may_take(_record("a", "2"), identity="b", now=1000.0)
