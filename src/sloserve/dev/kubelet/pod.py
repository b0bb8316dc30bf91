"""One pod on one node, from binding to deletion: address, volumes, containers, status."""

from __future__ import annotations

import asyncio
import enum
import logging
import pathlib
import shutil

from sloserve.dev.kubelet import (
    api,
    container,
    context,
    downward,
    gpus,
    launch,
    objects,
    status,
    timestamps,
    volumes,
)

# Secrets, ConfigMaps and tokens in volumes are re-read this often, as a kubelet syncs them.
_VOLUME_SYNC_INTERVAL_S = 30.0
_VOLUME_RETRY_S = 5.0
# Bursts of container changes are reported in one status update.
_STATUS_COALESCE_S = 0.05
_STATUS_RETRY_S = 1.0

_log = logging.getLogger(__name__)


class _Stop(enum.Enum):
    DELETED = "deleted"  # deletion requested through the API: honour the grace period
    VANISHED = "vanished"  # the object is gone already: stop at once
    SHUTDOWN = "shutdown"  # the kubelet stops: stop quickly, leave the object alone


class PodWorker:
    """Runs a pod bound to this node. `update` feeds it newer versions of the object,
    `vanish` tells it the object is gone, `shutdown` stops it without touching the API."""

    def __init__(self, node: context.NodeContext, pod: api.JsonObject) -> None:
        self._node = node
        self._pod = pod
        metadata = pod["metadata"]
        self.uid: str = metadata["uid"]
        self._namespace: str = metadata["namespace"]
        self._name: str = metadata["name"]
        self._label = f"{self._namespace}/{self._name}"
        self._changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stop: _Stop | None = None
        self._initialized = not (pod["spec"].get("initContainers") or [])
        self._init_runners: list[container.ContainerRunner] = []
        self._runners: list[container.ContainerRunner] = []
        self._conditions = status.ConditionClock()
        self._reported: api.JsonObject | None = None
        self._start_time = timestamps.now()
        self._rejection: str | None = None
        self._terminating = False
        host_network = bool(pod["spec"].get("hostNetwork"))
        self._pod_ip = node.addresses.node_address if host_network else node.addresses.allocate()
        self._owns_ip = not host_network
        self._pod_dir = node.paths.pods_dir / f"{self._namespace}_{self._name}_{self.uid}"
        self._log_dir = node.paths.pod_log_dir(
            namespace=self._namespace, name=self._name, uid=self.uid
        )

    @property
    def key(self) -> tuple[str, str]:
        return self._namespace, self._name

    def log_path(self, container_name: str, *, previous: bool) -> pathlib.Path | None:
        """The log file of one of the pod's containers (see ContainerRunner.log_path)."""
        for runner in [*self._init_runners, *self._runners]:
            if runner.name == container_name:
                return runner.log_path(previous=previous)
        return None

    def update(self, pod: api.JsonObject) -> None:
        self._pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self._request_stop(_Stop.DELETED)
        self._changed.set()

    def vanish(self) -> None:
        self._request_stop(_Stop.VANISHED)

    def shutdown(self) -> None:
        self._request_stop(_Stop.SHUTDOWN)

    def _request_stop(self, reason: _Stop) -> None:
        # A later, more urgent reason wins: a pod being deleted may vanish before it stopped.
        if self._stop is None or reason is not _Stop.DELETED:
            self._stop = reason
        self._stop_requested.set()

    def _record(self, kind: str, reason: str, message: str, name: str | None = None) -> None:
        self._node.events.record(
            self._pod, container=name, kind=kind, reason=reason, message=message
        )

    async def run(self) -> None:
        """Runs the pod until it is stopped, then finishes its deletion if that was asked."""
        reporter = asyncio.create_task(self._report_status())
        lifecycle = asyncio.create_task(self._lifecycle())
        stop_waiter = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({lifecycle, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
            if lifecycle.done() and not lifecycle.cancelled() and lifecycle.exception():
                error = lifecycle.exception()
                _log.error("pod %s: the local kubelet failed: %r", self._label, error)
                self._record("Warning", "Failed", f"local kubelet error: {error!r}")
            await stop_waiter
            await self._stop_containers()
            lifecycle.cancel()
            await asyncio.gather(lifecycle, return_exceptions=True)
            if self._stop is _Stop.DELETED:
                self._terminating = True
                await self._push_status()
                await self._finish_deletion()
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            self._release()

    def _grace_s(self) -> float:
        metadata, spec = self._pod["metadata"], self._pod["spec"]
        if self._stop is _Stop.VANISHED:
            return 0.0
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        if self._stop is _Stop.SHUTDOWN:
            return min(float(grace), self._node.shutdown_grace_s)
        return float(grace)

    async def _stop_containers(self) -> None:
        grace = self._grace_s()
        await asyncio.gather(
            *(runner.stop(grace_s=grace) for runner in [*self._init_runners, *self._runners])
        )

    async def _finish_deletion(self) -> None:
        path = f"/api/v1/namespaces/{self._namespace}/pods/{self._name}"
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        try:
            await self._node.client.delete(path, body)
        except api.ApiError as error:
            if error.status not in (404, 409):
                _log.warning("pod %s: final deletion failed: %s", self._label, error)

    def _release(self) -> None:
        if self._owns_ip:
            self._node.addresses.release(self._pod_ip)
        self._node.gpus.release(self.uid)
        shutil.rmtree(self._pod_dir, ignore_errors=True)

    def _container_events(self, name: str) -> container.EventSink:
        def record(kind: str, reason: str, message: str) -> None:
            self._record(kind, reason, message, name)

        return record

    def _new_runner(
        self,
        manifest: api.JsonObject,
        *,
        policy: str,
        launcher: launch.PodLauncher,
        waiting: str,
    ) -> container.ContainerRunner:
        runner = container.ContainerRunner(
            container=manifest,
            launcher=launcher,
            restart_policy=policy,
            backoff=self._node.backoff,
            grace_s=float(self._pod["spec"].get("terminationGracePeriodSeconds", 30)),
            pids=self._node.pids,
            on_change=self._changed.set,
            record_event=self._container_events(manifest["name"]),
        )
        runner.state = {"waiting": {"reason": waiting}}
        return runner

    async def _lifecycle(self) -> None:
        spec = self._pod["spec"]
        try:
            gpu_indices = self._node.gpus.allocate(self.uid, gpus.requested_gpus(self._pod))
        except gpus.GpuAllocationError as error:
            self._rejection = str(error)
            self._record("Warning", "UnexpectedAdmissionError", str(error))
            self._changed.set()
            return
        facts = downward.PodFacts(
            pod=self._pod, pod_ip=self._pod_ip, host_ip=self._node.addresses.node_address
        )
        pod_objects = objects.PodObjects(self._node.client, namespace=self._namespace)
        # Filled once the volumes exist; the launcher reads it when a container starts.
        volume_paths: dict[str, pathlib.Path] = {}
        launcher = launch.PodLauncher(
            node=self._node,
            facts=facts,
            pod_dir=self._pod_dir,
            log_dir=self._log_dir,
            pod_objects=pod_objects,
            volume_paths=volume_paths,
            gpu_indices=gpu_indices,
        )
        policy = str(spec.get("restartPolicy", "Always"))
        init_policy = "Never" if policy == "Never" else "OnFailure"
        first_wait = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
        self._init_runners = [
            self._new_runner(c, policy=init_policy, launcher=launcher, waiting="PodInitializing")
            for c in spec.get("initContainers") or []
        ]
        self._runners = [
            self._new_runner(c, policy=policy, launcher=launcher, waiting=first_wait)
            for c in spec.get("containers") or []
        ]
        self._changed.set()
        pod_volumes = volumes.PodVolumes(
            client=self._node.client,
            facts=facts,
            volumes_dir=self._pod_dir / "volumes",
            pod_objects=pod_objects,
            node_allocatable=self._node.spec.capacity(),
        )
        volume_paths.update(await self._mount_volumes(pod_volumes))
        syncer = asyncio.create_task(self._keep_volumes_current(pod_volumes))
        try:
            for runner in self._init_runners:
                if await runner.run() != 0:
                    return
            self._initialized = True
            self._changed.set()
            await asyncio.gather(*(runner.run() for runner in self._runners))
        finally:
            syncer.cancel()

    async def _mount_volumes(self, pod_volumes: volumes.PodVolumes) -> dict[str, pathlib.Path]:
        while True:
            try:
                return await pod_volumes.sync()
            except (objects.ConfigError, api.ApiError) as error:
                self._record("Warning", "FailedMount", f"MountVolume failed: {error}")
            await asyncio.sleep(_VOLUME_RETRY_S)

    async def _keep_volumes_current(self, pod_volumes: volumes.PodVolumes) -> None:
        while True:
            await asyncio.sleep(_VOLUME_SYNC_INTERVAL_S)
            try:
                await pod_volumes.sync()
            except (objects.ConfigError, api.ApiError, OSError) as error:
                _log.warning("pod %s: volume refresh failed: %s", self._label, error)

    def _status(self) -> api.JsonObject:
        moment = timestamps.now()
        if self._rejection is not None:
            return {
                "phase": "Failed",
                "reason": "UnexpectedAdmissionError",
                "message": f"Pod was rejected: {self._rejection}",
            }
        view = status.PodView(
            pod=self._pod,
            pod_ip=self._pod_ip,
            host_ip=self._node.addresses.node_address,
            start_time=self._start_time,
            init_statuses=[runner.status() for runner in self._init_runners],
            container_statuses=[runner.status() for runner in self._runners],
            initialized=self._initialized,
            terminating=self._terminating,
        )
        return status.pod_status(view, clock=self._conditions, moment=moment)

    async def _report_status(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await asyncio.sleep(_STATUS_COALESCE_S)
            await self._push_status()

    async def _push_status(self) -> None:
        if self._stop is _Stop.VANISHED:
            return
        current = self._status()
        if current == self._reported:
            return
        path = f"/api/v1/namespaces/{self._namespace}/pods/{self._name}/status"
        try:
            await self._node.client.patch(path, {"status": current})
            self._reported = current
        except api.ApiError as error:
            if error.status == 404:
                self.vanish()
                return
            _log.warning("pod %s: status update failed: %s", self._label, error)
            asyncio.get_running_loop().call_later(_STATUS_RETRY_S, self._changed.set)
        except OSError as error:
            _log.warning("pod %s: status update failed: %s", self._label, error)
            asyncio.get_running_loop().call_later(_STATUS_RETRY_S, self._changed.set)
