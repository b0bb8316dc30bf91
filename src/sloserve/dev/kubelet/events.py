"""Events about pods, as a kubelet records them (visible in `kubectl describe pod`)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sloserve.dev.kubelet import api, timestamps

# The same event within this window is recorded once, so a probe failing every few seconds
# does not flood the API server.
_DEDUPLICATION_WINDOW_S = 60.0

_log = logging.getLogger(__name__)


class EventRecorder:
    """Posts core/v1 Events for one node's pods, best effort: a failure is logged, not raised."""

    def __init__(self, client: api.NodeApi, *, node_name: str) -> None:
        self._client = client
        self._node = node_name
        self._recent: dict[tuple[str, str, str], float] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def record(
        self,
        pod: api.JsonObject,
        *,
        container: str | None,
        kind: str,
        reason: str,
        message: str,
    ) -> None:
        metadata = pod["metadata"]
        key = (metadata["uid"], reason, message)
        now = time.monotonic()
        if now - self._recent.get(key, -_DEDUPLICATION_WINDOW_S) < _DEDUPLICATION_WINDOW_S:
            return
        self._recent[key] = now
        moment = timestamps.rfc3339(timestamps.now())
        involved: api.JsonObject = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": metadata["namespace"],
            "name": metadata["name"],
            "uid": metadata["uid"],
        }
        if container is not None:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": metadata["namespace"],
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self._node},
            "reportingComponent": "kubelet",
            "reportingInstance": self._node,
            "firstTimestamp": moment,
            "lastTimestamp": moment,
            "count": 1,
        }
        task = asyncio.create_task(self._post(metadata["namespace"], event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, namespace: str, event: api.JsonObject) -> None:
        try:
            await self._client.create(f"/api/v1/namespaces/{namespace}/events", event)
        except (api.ApiError, OSError) as error:
            _log.debug("event %s not recorded: %s", event["reason"], error)
