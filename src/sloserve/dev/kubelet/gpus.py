"""Which of a node's GPUs each pod holds, as a device plugin would assign them."""

from __future__ import annotations

from sloserve.dev.kubelet import api, nodes


class GpuAllocationError(Exception):
    """The node has fewer free GPUs than the pod asks for."""


def requested_gpus(pod: api.JsonObject) -> int:
    """GPUs a pod needs: the sum over its containers' limits (extended resources are set by
    limit; a request alone counts too), or the largest init container's."""

    def amount(container: api.JsonObject) -> int:
        resources = container.get("resources") or {}
        for section in ("limits", "requests"):
            value = (resources.get(section) or {}).get(nodes.GPU_RESOURCE)
            if value is not None:
                return int(value)
        return 0

    spec = pod.get("spec", {})
    regular = sum(amount(container) for container in spec.get("containers") or [])
    init = max((amount(container) for container in spec.get("initContainers") or []), default=0)
    return max(regular, init)


class GpuAllocator:
    """Hands out GPU indices 0..count-1."""

    def __init__(self, count: int) -> None:
        self._free = list(range(count))
        self._held: dict[str, list[int]] = {}

    def allocate(self, owner: str, count: int) -> list[int]:
        """Gives `owner` `count` GPUs (the lowest free indices); the same owner asking again
        gets what it holds."""
        if owner in self._held:
            return self._held[owner]
        if count > len(self._free):
            raise GpuAllocationError(
                f"the pod needs {count} {nodes.GPU_RESOURCE} and {len(self._free)} are free"
            )
        taken, self._free = self._free[:count], self._free[count:]
        self._held[owner] = taken
        return taken

    def release(self, owner: str) -> None:
        self._free = sorted(self._free + self._held.pop(owner, []))
