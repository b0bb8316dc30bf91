"""`kubectl port-forward` to a pod or Service, on a free port of 127.0.0.1: how the demo and
the tools reach what runs inside the local cluster without routing anything to it."""

from __future__ import annotations

import re
import select
import subprocess
import threading
import time
from types import TracebackType

from sloserve_dev import handle

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


class PortForwardError(RuntimeError):
    """kubectl did not set up the forward; the message has what it printed."""


class PortForward:
    """A running `kubectl port-forward TARGET :PORT`; `url` is its loopback address."""

    def __init__(
        self,
        cluster: handle.ClusterHandle,
        target: str,
        port: int,
        *,
        namespace: str,
        timeout_s: float = 30.0,
    ) -> None:
        argv = [
            str(cluster.bin_dir / "kubectl"),
            "port-forward",
            f"--namespace={namespace}",
            "--address=127.0.0.1",
            target,
            f":{port}",
        ]
        self._process = subprocess.Popen(
            argv, env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.local_port = self._wait_for_port(target, timeout_s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def _wait_for_port(self, target: str, timeout_s: float) -> int:
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.5)
            if not ready:
                if self._process.poll() is not None:
                    break
                continue
            line = self._process.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            found = _FORWARDING.search(line)
            if found:
                # kubectl prints a line per connection: keep reading, or it blocks when the
                # pipe fills.
                threading.Thread(target=self._drain, daemon=True).start()
                return int(found.group(1))
        self.close()
        raise PortForwardError(f"kubectl port-forward {target} failed: {' / '.join(seen)}")

    def _drain(self) -> None:
        assert self._process.stdout is not None
        for _ in self._process.stdout:
            pass

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> PortForward:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
