"""Finding a container's servers that listen on all addresses."""

from __future__ import annotations

import pathlib
import time

import pytest

from sloserve.dev import processes
from sloserve.dev.kubelet import sockets

_SERVE = (
    "import socket, sys, time\n"
    "server = socket.socket()\n"
    "server.bind((sys.argv[1], 0))\n"
    "server.listen()\n"
    "print(server.getsockname()[1], flush=True)\n"
    "time.sleep(60)\n"
)


def _serve(address: str, tmp_path: pathlib.Path) -> tuple[int, int]:
    """Starts a listener on `address`; returns (process group, port)."""
    log = tmp_path / f"{address}.log"
    leader = processes.spawn(argv=["python3", "-c", _SERVE, address], log_path=log)
    deadline = time.monotonic() + 10
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.02)
    return leader.pid, int(log.read_text())


@pytest.mark.parametrize(("address", "flagged"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_only_listeners_on_all_addresses_are_reported(
    address: str, flagged: bool, tmp_path: pathlib.Path
) -> None:
    pgid, port = _serve(address, tmp_path)
    try:
        found = sockets.wildcard_ports(pgid)
    finally:
        processes.stop_groups([pgid], grace_s=1)

    assert (port in found) is flagged
