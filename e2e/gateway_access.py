"""Reaching the gateway's pods from the test process, the way a Service would: through the ready
endpoints of the gateway Service's EndpointSlices, resolved afresh for every request.

Each ready pod gets its own `kubectl port-forward` on loopback (kind's pod addresses live inside
its nodes, and no route to them is made); `connections()` counts what went through them."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import threading

from sloserve_dev import handle

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A ready gateway pod."""

    pod: str
    address: str
    port: int


class GatewayAccess:
    """Base URLs of the gateway pods that are ready now."""

    def __init__(
        self,
        cluster: handle.ClusterHandle,
        *,
        namespace: str,
        service: str,
        pods_reachable: bool,
    ) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._service = service
        self._pods_reachable = pods_reachable
        self._forwards: dict[str, tuple[subprocess.Popen[str], str]] = {}
        self._lock = threading.Lock()
        self._connections = 0

    def endpoints(self) -> list[Endpoint]:
        """The ready endpoints of the Service, from its EndpointSlices."""
        listing = self._cluster.kubectl(
            "get",
            "endpointslices",
            "-n",
            self._namespace,
            "-l",
            f"kubernetes.io/service-name={self._service}",
            "-o",
            "json",
        )
        found = []
        for item in json.loads(listing.stdout)["items"]:
            ports = [port["port"] for port in item.get("ports") or [] if "port" in port]
            if not ports:
                continue
            for endpoint in item.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                pod = (endpoint.get("targetRef") or {}).get("name", "")
                found.append(Endpoint(pod=pod, address=endpoint["addresses"][0], port=ports[0]))
        return sorted(found, key=lambda endpoint: endpoint.pod)

    def urls(self) -> list[str]:
        """A base URL (no trailing slash) per ready gateway pod."""
        endpoints = self.endpoints()
        if self._pods_reachable:
            return [f"http://{endpoint.address}:{endpoint.port}" for endpoint in endpoints]
        with self._lock:
            live = {endpoint.pod for endpoint in endpoints}
            for pod in set(self._forwards) - live:
                self._stop_forward(pod)
            return [self._forward(endpoint) for endpoint in endpoints]

    def describe(self) -> str:
        """The gateway pods as a reader of a failed wait needs them: phase, readiness, restarts,
        and each one's last log lines (why a pod is not ready is usually there)."""
        cluster = self._cluster
        service = json.loads(
            cluster.kubectl(
                "get", "service", self._service, "-n", self._namespace, "-o", "json"
            ).stdout
        )
        selector = ",".join(f"{k}={v}" for k, v in (service["spec"].get("selector") or {}).items())
        pods = json.loads(
            cluster.kubectl(
                "get", "pods", "-n", self._namespace, "-l", selector, "-o", "json"
            ).stdout
        )["items"]
        lines = [f"endpoints: {self.endpoints()}"]
        for pod in pods:
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
            restarts = [c.get("restartCount", 0) for c in status.get("containerStatuses") or []]
            lines.append(
                f"pod {name}: phase={status.get('phase')} ready={conditions.get('Ready')} "
                f"restarts={restarts}"
            )
            logs = cluster.kubectl(
                "logs", "-n", self._namespace, name, "--tail=15", check=False
            ).stdout
            lines.extend(f"  | {line}" for line in logs.splitlines())
        return "\n".join(lines)

    def close(self) -> None:
        with self._lock:
            for pod in list(self._forwards):
                self._stop_forward(pod)

    def _forward(self, endpoint: Endpoint) -> str:
        known = self._forwards.get(endpoint.pod)
        if known is not None and known[0].poll() is None:
            return known[1]
        process = subprocess.Popen(
            [
                str(self._cluster.bin_dir / "kubectl"),
                "port-forward",
                "-n",
                self._namespace,
                f"pod/{endpoint.pod}",
                f":{endpoint.port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self._cluster.env(),
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = _FORWARDING.search(line)
        if match is None:
            process.kill()
            raise RuntimeError(f"kubectl port-forward to pod {endpoint.pod} failed: {line!r}")
        # kubectl prints a line per connection: count them (and a full pipe would stall it).
        threading.Thread(target=self._count_connections, args=(process,), daemon=True).start()
        url = f"http://127.0.0.1:{match.group(1)}"
        self._forwards[endpoint.pod] = (process, url)
        return url

    def connections(self) -> int:
        """Connections made through the port-forwards so far (anyone's: the tests', a report's
        scrapes)."""
        with self._lock:
            return self._connections

    def _count_connections(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Handling connection"):
                with self._lock:
                    self._connections += 1

    def _stop_forward(self, pod: str) -> None:
        process, _ = self._forwards.pop(pod)
        process.terminate()
        process.wait(timeout=10)
