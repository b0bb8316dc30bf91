"""Finding containers that listen on all addresses.

Pods of the local kubelet share the machine's network namespace, so a server bound to 0.0.0.0
(or ::) answers on every pod's address and keeps other pods from binding that port: a pod must
bind its own address. This finds the offenders so that the kubelet can say so.
"""

from __future__ import annotations

import contextlib
import os
import pathlib

from sloserve.dev import processes

_LISTEN = "0A"
_WILDCARDS = ("00000000", "00000000000000000000000000000000")


def _wildcard_listening_inodes() -> dict[str, int]:
    """Socket inode -> port, for TCP sockets listening on all addresses."""
    found: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in pathlib.Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, port = fields[1].split(":")
                if fields[3] == _LISTEN and address in _WILDCARDS:
                    found[fields[9]] = int(port, 16)
    return found


def wildcard_ports(pgid: int) -> list[int]:
    """Ports on which a process of group `pgid` listens on all addresses."""
    listening = _wildcard_listening_inodes()
    if not listening:
        return []
    ports = set()
    for pid in processes.group_members(pgid):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        port = listening.get(target[len("socket:[") : -1])
                        if port is not None:
                            ports.add(port)
    return sorted(ports)
