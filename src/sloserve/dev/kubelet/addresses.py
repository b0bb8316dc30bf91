"""Pod IP addresses.

Kubernetes refuses loopback addresses in EndpointSlices and Endpoints, so pods cannot live on
127.0.0.0/8 if Services are to work. Instead each node claims a /24 of a private range and the
kernel is told to treat the whole block as local (`ip route add local <block> dev lo`, as it does
for 127.0.0.0/8): any process may then bind any address of the block, and every process on the
machine reaches it. Adding such a route needs CAP_NET_ADMIN (root).

The route is claimed atomically (adding an existing route fails), so clusters running side by
side on one machine never share a block.
"""

from __future__ import annotations

import collections
import ipaddress
import pathlib
import subprocess

from sloserve.dev import layout

DEFAULT_POD_RANGE = "198.19.0.0/16"


class AddressError(RuntimeError):
    """No pod block could be claimed; the message says why and what to do."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise AddressError(
            "the local kubelet needs the `ip` command (package iproute2) to route pod addresses"
        ) from error


def claim_block(pod_range: str = DEFAULT_POD_RANGE) -> ipaddress.IPv4Network:
    """Claims the first /24 of `pod_range` that no one has routed yet."""
    network = ipaddress.IPv4Network(pod_range)
    for block in network.subnets(new_prefix=24):
        added = _ip("route", "add", "local", str(block), "dev", "lo")
        if added.returncode == 0:
            return block
        if "File exists" in added.stderr:
            continue
        raise AddressError(
            f"could not route pod block {block} to the loopback interface: "
            f"{added.stderr.strip()}; the local kubelet needs CAP_NET_ADMIN (run it as root)"
        )
    raise AddressError(f"every /24 of the pod range {pod_range} is taken; stop other clusters")


def release_block(block: str) -> None:
    """Removes a block's route; a route already gone is fine."""
    _ip("route", "del", "local", block, "dev", "lo")


def _record_path(paths: layout.ClusterLayout, block: ipaddress.IPv4Network) -> pathlib.Path:
    return paths.routes_dir / str(block).replace("/", "_")


def record_block(paths: layout.ClusterLayout, block: ipaddress.IPv4Network) -> None:
    """Notes in the cluster's state that `block` is routed, so that stopping the cluster can
    remove the route even if the kubelet that claimed it was killed."""
    paths.routes_dir.mkdir(parents=True, exist_ok=True)
    _record_path(paths, block).touch()


def forget_block(paths: layout.ClusterLayout, block: ipaddress.IPv4Network) -> None:
    _record_path(paths, block).unlink(missing_ok=True)


def release_recorded_blocks(paths: layout.ClusterLayout) -> list[str]:
    """Removes the route of every block recorded in the cluster's state; returns them."""
    released = []
    if paths.routes_dir.is_dir():
        for entry in paths.routes_dir.iterdir():
            block = entry.name.replace("_", "/")
            release_block(block)
            entry.unlink(missing_ok=True)
            released.append(block)
    return released


class BlockAllocator:
    """Hands out a block's addresses: the first is the node's own, the rest go to pods in turn,
    so that an address freed by a deleted pod is the last to be reused."""

    def __init__(self, block: ipaddress.IPv4Network) -> None:
        hosts = [str(host) for host in block.hosts()]
        self.node_address = hosts[0]
        self._free = collections.deque(hosts[1:])

    def allocate(self) -> str:
        if not self._free:
            raise AddressError(f"no pod address left on the node at {self.node_address}")
        return self._free.popleft()

    def release(self, address: str) -> None:
        if address != self.node_address and address not in self._free:
            self._free.append(address)
