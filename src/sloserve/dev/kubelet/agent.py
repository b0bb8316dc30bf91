"""One simulated node: registers it, keeps it alive, and runs the pods bound to it."""

from __future__ import annotations

import asyncio
import functools
import logging
import pathlib

from sloserve.dev.kubelet import addresses, api, context, nodes, pod

# A watch is re-opened at least this often, as client-go's reflectors do.
_WATCH_TIMEOUT_S = 300
_RELIST_DELAY_S = 1.0

_log = logging.getLogger(__name__)


class NodeAgent:
    """The kubelet of one node."""

    def __init__(self, node: context.NodeContext, *, pod_cidr: str) -> None:
        self._node = node
        self._pod_cidr = pod_cidr
        self._workers: dict[str, pod.PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()

    @property
    def name(self) -> str:
        return self._node.spec.name

    @property
    def address(self) -> str:
        return self._node.spec.address

    async def register(self) -> None:
        """Creates (or takes over) the Node object."""
        self._started = await nodes.register(
            self._node.client, self._node.spec, pod_cidr=self._pod_cidr
        )

    async def run(self) -> None:
        """Heartbeats and runs pods until cancelled. Call `register` first."""
        heartbeat = asyncio.create_task(
            nodes.heartbeat(self._node.client, self._node.spec, started=self._started)
        )
        try:
            while True:
                try:
                    await self._list_and_watch()
                except api.ApiError as error:
                    if error.status != 410:
                        _log.warning("node %s: pod watch failed: %s", self.name, error)
                except OSError as error:
                    _log.warning("node %s: pod watch failed: %s", self.name, error)
                except Exception:
                    # A bug must not leave the node deaf to its pods: log it and list again.
                    _log.exception("node %s: pod handling failed", self.name)
                await asyncio.sleep(_RELIST_DELAY_S)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _list_and_watch(self) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self.name}"}
        listing = await self._node.client.get("/api/v1/pods", params=selector)
        present = set()
        for item in listing.get("items") or []:
            present.add(item["metadata"]["uid"])
            self._observe(item)
        for uid in set(self._workers) - present:
            self._workers[uid].vanish()
        version = listing["metadata"]["resourceVersion"]
        while True:
            params = {
                **selector,
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(_WATCH_TIMEOUT_S),
            }
            async for event in self._node.client.watch("/api/v1/pods", params=params):
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._observe(obj)
                elif event["type"] == "DELETED":
                    worker = self._workers.get(obj["metadata"]["uid"])
                    if worker is not None:
                        worker.vanish()

    def _observe(self, manifest: api.JsonObject) -> None:
        uid = manifest["metadata"]["uid"]
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(manifest)
            return
        if uid in self._finished:
            return
        if manifest.get("status", {}).get("phase") in ("Succeeded", "Failed") and not manifest[
            "metadata"
        ].get("deletionTimestamp"):
            # A terminal pod from before this kubelet started: nothing to run.
            return
        try:
            worker = pod.PodWorker(self._node, manifest)
        except addresses.AddressError as error:
            self._node.events.record(
                manifest,
                container=None,
                kind="Warning",
                reason="FailedCreatePodSandBox",
                message=str(error),
            )
            return
        worker.update(manifest)
        self._workers[uid] = worker
        task = asyncio.create_task(worker.run(), name=f"pod {uid}")
        self._tasks[uid] = task
        task.add_done_callback(functools.partial(self._forget, uid))

    def _forget(self, uid: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("pod %s: worker failed", uid, exc_info=task.exception())
        self._workers.pop(uid, None)
        self._tasks.pop(uid, None)
        self._finished.add(uid)

    def locate_log(
        self, namespace: str, name: str, container: str, previous: bool
    ) -> pathlib.Path | None:
        """The log file of a container of a pod running here (logs_server.LogLocator)."""
        for worker in self._workers.values():
            if worker.key == (namespace, name):
                return worker.log_path(container, previous=previous)
        return None

    async def shutdown(self) -> None:
        """Stops every pod's containers (quickly, within the node's shutdown grace) without
        touching the pods in the API, as a kubelet that stops does."""
        for worker in list(self._workers.values()):
            worker.shutdown()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
