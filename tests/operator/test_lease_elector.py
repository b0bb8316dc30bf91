"""Lease election against an API that behaves as the API server does for one Lease: reads,
creates that conflict when it exists, and replaces guarded by resourceVersion."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.operator import leader
from sloserve.operator.settings import LeaderElectionSettings

TIMING = LeaderElectionSettings(lease_duration_s=15, renew_deadline_s=10, retry_period_s=2)


class FakeLeases:
    """One namespace's Leases, with the API server's optimistic concurrency."""

    def __init__(self) -> None:
        self.stored: dict[str, client.V1Lease] = {}
        self.version = 0
        self.fail_with: int | None = None

    def _check(self) -> None:
        if self.fail_with is not None:
            raise ApiException(status=self.fail_with)

    def _store(self, name: str, lease: client.V1Lease) -> client.V1Lease:
        self.version += 1
        assert lease.metadata is not None
        lease.metadata.resource_version = str(self.version)
        self.stored[name] = lease
        return lease.model_copy(deep=True)

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        self._check()
        if name not in self.stored:
            raise ApiException(status=404)
        return self.stored[name].model_copy(deep=True)

    def create_namespaced_lease(
        self, namespace: str, body: client.V1Lease, **_: Any
    ) -> client.V1Lease:
        self._check()
        assert body.metadata is not None
        name = str(body.metadata.name)
        if name in self.stored:
            raise ApiException(status=409)
        return self._store(name, body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease, **_: Any
    ) -> client.V1Lease:
        self._check()
        current = self.stored[name]
        assert body.metadata is not None
        assert current.metadata is not None
        if body.metadata.resource_version != current.metadata.resource_version:
            raise ApiException(status=409)
        return self._store(name, body)

    def holder(self) -> str | None:
        spec = self.stored["sloserve-operator"].spec
        return spec.holder_identity if spec is not None else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _elector(api: FakeLeases, identity: str, clock: Clock) -> leader.LeaseElector:
    return leader.LeaseElector(
        api=api,  # type: ignore[arg-type]
        namespace="sloserve",
        identity=identity,
        timing=TIMING,
        clock=clock,
    )


def test_first_replica_creates_the_lease_and_keeps_renewing_it() -> None:
    api, clock = FakeLeases(), Clock()
    first = _elector(api, "a", clock)
    assert first.try_acquire_or_renew()
    assert first.try_acquire_or_renew()
    assert api.holder() == "a"


def test_standby_waits_a_full_lease_duration_after_the_last_renewal() -> None:
    api, clock_a, clock_b = FakeLeases(), Clock(), Clock()
    holder, standby = _elector(api, "a", clock_a), _elector(api, "b", clock_b)
    assert holder.try_acquire_or_renew()
    assert not standby.try_acquire_or_renew()
    clock_b.now = 14.0
    assert not standby.try_acquire_or_renew()
    assert holder.try_acquire_or_renew()  # a renewal restarts the standby's wait
    clock_b.now = 20.0
    assert not standby.try_acquire_or_renew()
    clock_b.now = 35.0
    assert standby.try_acquire_or_renew()
    assert api.holder() == "b"
    lease_spec = api.stored["sloserve-operator"].spec
    assert lease_spec is not None
    assert lease_spec.lease_transitions == 1
    assert not holder.try_acquire_or_renew()


class StaleReads:
    """A replica's view of the Leases whose reads lag: it reads `pinned` while writes go
    through, as when another replica wrote between this one's read and its write."""

    def __init__(self, leases: FakeLeases) -> None:
        self.leases = leases
        self.pinned: client.V1Lease | None = None

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        if self.pinned is not None:
            return self.pinned.model_copy(deep=True)
        return self.leases.read_namespaced_lease(name, namespace)

    def create_namespaced_lease(self, *args: Any, **kwargs: Any) -> client.V1Lease:
        return self.leases.create_namespaced_lease(*args, **kwargs)

    def replace_namespaced_lease(self, *args: Any, **kwargs: Any) -> client.V1Lease:
        return self.leases.replace_namespaced_lease(*args, **kwargs)


def test_two_standbys_racing_for_an_expired_lease_cannot_both_win() -> None:
    api = FakeLeases()
    assert _elector(api, "a", Clock()).try_acquire_or_renew()
    clock_b, clock_c = Clock(), Clock()
    lagging = StaleReads(api)
    b = _elector(api, "b", clock_b)
    c = leader.LeaseElector(
        api=lagging,  # type: ignore[arg-type]
        namespace="sloserve",
        identity="c",
        timing=TIMING,
        clock=clock_c,
    )
    assert not b.try_acquire_or_renew()
    assert not c.try_acquire_or_renew()
    lagging.pinned = api.read_namespaced_lease("sloserve-operator", "sloserve")
    clock_b.now = clock_c.now = 16.0
    assert b.try_acquire_or_renew()
    # c still reads the version b replaced: its write carries a stale resourceVersion.
    assert not c.try_acquire_or_renew()
    assert api.holder() == "b"


def test_released_lease_is_free_at_once() -> None:
    api, clock = FakeLeases(), Clock()
    holder = _elector(api, "a", clock)
    assert holder.try_acquire_or_renew()
    holder.release()
    assert api.holder() is None
    assert _elector(api, "b", Clock()).try_acquire_or_renew()


def test_api_errors_other_than_conflicts_propagate() -> None:
    api = FakeLeases()
    api.fail_with = 500
    with pytest.raises(ApiException):
        _elector(api, "a", Clock()).try_acquire_or_renew()


async def test_holding_ends_once_renewal_fails_past_the_deadline() -> None:
    api = FakeLeases()
    fast = LeaderElectionSettings(lease_duration_s=0.3, renew_deadline_s=0.2, retry_period_s=0.05)
    holder = leader.LeaseElector(
        api=api,  # type: ignore[arg-type]
        namespace="sloserve",
        identity="a",
        timing=fast,
    )
    assert holder.try_acquire_or_renew()
    api.fail_with = 503
    await asyncio.wait_for(leader.hold(holder), timeout=5)
    assert api.holder() == "a"


async def test_acquire_gives_up_when_asked_to_stop() -> None:
    api, clock = FakeLeases(), Clock()
    assert _elector(api, "a", clock).try_acquire_or_renew()
    stop = asyncio.Event()
    waiting = asyncio.create_task(leader.acquire(_elector(api, "b", Clock()), stop=stop))
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(waiting, timeout=5) is False
