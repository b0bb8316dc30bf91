"""Leader election through a coordination.k8s.io/v1 Lease, as Kubernetes' own controllers do it.

Every replica of the operator runs this; only the replica holding the Lease runs the kopf
operator. The holder renews the Lease every `retry_period_s`; if it cannot renew for
`renew_deadline_s` it stops acting (the process exits). A standby takes the Lease over only after
seeing it unchanged for `lease_duration_s`, which is longer than the renew deadline, so the old
leader has stopped before the new one starts. Writes carry the Lease's resourceVersion, so two
standbys racing for a free Lease cannot both win.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import logging
import math
import time
from collections.abc import Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.operator.lease_rules import LeaseObserver, LeaseRecord
from sloserve.operator.settings import LeaderElectionSettings

__all__ = ["LeaseElector", "acquire", "hold"]

logger = logging.getLogger("sloserve.operator.leader")

_CONFLICT = 409
_NOT_FOUND = 404


def _record(lease: client.V1Lease) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    metadata = lease.metadata or client.V1ObjectMeta()
    return LeaseRecord(
        holder=spec.holder_identity,
        duration_s=float(spec.lease_duration_seconds or 0),
        transitions=int(spec.lease_transitions or 0),
        resource_version=str(metadata.resource_version),
    )


class LeaseElector:
    """Acquires, renews and releases one Lease for one identity. Its methods block on the API;
    `acquire` and `hold` run them on the elector's own thread, so that a renewal never waits
    behind the operator's other blocking work (give `api` a client of its own, for the same
    reason: its connections are then the Lease's alone)."""

    def __init__(
        self,
        *,
        api: client.CoordinationV1Api,
        namespace: str,
        identity: str,
        timing: LeaderElectionSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = timing.lease_name
        self.identity = identity
        self.timing = timing
        self._clock = clock
        self._observer = LeaseObserver()
        self.thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sloserve-lease"
        )

    def _lease(self, *, previous: client.V1Lease | None, now: datetime.datetime) -> client.V1Lease:
        record = _record(previous) if previous is not None else None
        taking_over = record is None or record.holder != self.identity
        transitions = record.transitions if record is not None else 0
        if record is not None and record.holder and taking_over:
            transitions += 1
        kept_acquire_time = previous.spec.acquire_time if previous and previous.spec else None
        return client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                resource_version=record.resource_version if record is not None else None,
            ),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=math.ceil(self.timing.lease_duration_s),
                acquire_time=now if taking_over else kept_acquire_time,
                renew_time=now,
                lease_transitions=transitions,
            ),
        )

    def try_acquire_or_renew(self) -> bool:
        """One attempt to become or stay the holder; True when this identity holds the Lease
        now. API errors other than a lost race propagate."""
        now = datetime.datetime.now(datetime.UTC)
        timeout = self.timing.renew_deadline_s
        try:
            lease = self.api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=timeout
            )
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            try:
                created = self.api.create_namespaced_lease(
                    self.namespace, self._lease(previous=None, now=now), _request_timeout=timeout
                )
            except ApiException as create_error:
                if create_error.status == _CONFLICT:
                    return False
                raise
            self._observer.observe(_record(created), now=self._clock())
            return True
        record = _record(lease)
        self._observer.observe(record, now=self._clock())
        if not self._observer.may_take(record, identity=self.identity, now=self._clock()):
            return False
        try:
            replaced = self.api.replace_namespaced_lease(
                self.name,
                self.namespace,
                self._lease(previous=lease, now=now),
                _request_timeout=timeout,
            )
        except ApiException as error:
            if error.status == _CONFLICT:
                return False
            raise
        if record.holder != self.identity:
            logger.info(
                "took Lease %s/%s over from %s",
                self.namespace,
                self.name,
                record.holder or "nobody",
            )
        self._observer.observe(_record(replaced), now=self._clock())
        return True

    def release(self) -> None:
        """Gives the Lease up, if this identity holds it, so that a standby need not wait for it
        to expire."""
        lease = self.api.read_namespaced_lease(self.name, self.namespace)
        record = _record(lease)
        if record.holder != self.identity:
            return
        released = client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace, resource_version=record.resource_version
            ),
            spec=client.V1LeaseSpec(
                lease_duration_seconds=1,
                renew_time=datetime.datetime.now(datetime.UTC),
                lease_transitions=record.transitions,
            ),
        )
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, released)
        except ApiException as error:
            if error.status != _CONFLICT:
                raise
        logger.info("released Lease %s/%s", self.namespace, self.name)


async def _attempt(elector: LeaseElector) -> bool:
    loop = asyncio.get_running_loop()
    deadline_s = elector.timing.renew_deadline_s
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(elector.thread, elector.try_acquire_or_renew),
            timeout=deadline_s,
        )
    except TimeoutError:
        logger.warning(
            "Lease %s/%s: the API server did not answer within %.0f s",
            elector.namespace,
            elector.name,
            deadline_s,
        )
        return False
    # Any other failure (API errors, urllib3's connection errors) is one failed attempt.
    except Exception as error:
        logger.warning(
            "Lease %s/%s: %s: %s", elector.namespace, elector.name, type(error).__name__, error
        )
        return False


async def acquire(elector: LeaseElector, *, stop: asyncio.Event) -> bool:
    """Waits until this replica holds the Lease (True) or `stop` is set (False)."""
    logger.info(
        "waiting to lead: Lease %s/%s, identity %s",
        elector.namespace,
        elector.name,
        elector.identity,
    )
    while not stop.is_set():
        if await _attempt(elector):
            logger.info("leading: holding Lease %s/%s", elector.namespace, elector.name)
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=elector.timing.retry_period_s)
    return False


async def hold(elector: LeaseElector, *, clock: Callable[[], float] = time.monotonic) -> None:
    """Renews the Lease until renewal has failed for `renew_deadline_s`, then returns: from
    then on this replica must not act."""
    renewed_at = clock()
    while True:
        await asyncio.sleep(elector.timing.retry_period_s)
        if await _attempt(elector):
            renewed_at = clock()
        elif clock() - renewed_at >= elector.timing.renew_deadline_s:
            logger.error(
                "lost Lease %s/%s: not renewed for %.1f s",
                elector.namespace,
                elector.name,
                clock() - renewed_at,
            )
            return
