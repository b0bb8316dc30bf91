"""Readiness, liveness and startup probes: one check, and the thresholds over repeated checks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import httpx

from sloserve.dev.kubelet import api


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """A probe of a container manifest, with Kubernetes' defaults filled in."""

    handler: api.JsonObject
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_manifest(cls, probe: api.JsonObject) -> ProbeSpec:
        return cls(
            handler=probe,
            initial_delay_s=float(probe.get("initialDelaySeconds", 0)),
            period_s=float(probe.get("periodSeconds", 10)),
            timeout_s=float(probe.get("timeoutSeconds", 1)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
        )


@dataclasses.dataclass(frozen=True)
class ProbeTarget:
    """Where a container's probes go: its pod's address and its named ports; `exec_prefix` is
    prepended to an exec probe's command (to enter the container's mount namespace)."""

    pod_ip: str
    ports: dict[str, int]
    exec_prefix: tuple[str, ...] = ()


class ProbeError(Exception):
    """The probe cannot be run as written (an unknown named port, an unsupported kind)."""


def _port(value: int | str, target: ProbeTarget) -> int:
    if isinstance(value, int) or value.isdigit():
        return int(value)
    if value not in target.ports:
        raise ProbeError(f"probe names port {value!r}, which the container does not declare")
    return target.ports[value]


async def check(spec: ProbeSpec, target: ProbeTarget) -> tuple[bool, str]:
    """Runs the probe once: (succeeded, what went wrong)."""
    handler = spec.handler
    try:
        if "httpGet" in handler:
            return await _http_get(handler["httpGet"], target, timeout_s=spec.timeout_s)
        if "tcpSocket" in handler:
            return await _tcp_socket(handler["tcpSocket"], target, timeout_s=spec.timeout_s)
        if "exec" in handler:
            return await _exec(handler["exec"]["command"], target, timeout_s=spec.timeout_s)
    except ProbeError as error:
        return False, str(error)
    kinds = sorted(set(handler) - {"initialDelaySeconds", "periodSeconds", "timeoutSeconds"})
    return False, f"probe kind {kinds} is not supported by the local kubelet"


async def _http_get(
    get: api.JsonObject, target: ProbeTarget, *, timeout_s: float
) -> tuple[bool, str]:
    scheme = str(get.get("scheme", "HTTP")).lower()
    host = get.get("host") or target.pod_ip
    port = _port(get["port"], target)
    path = get.get("path", "/")
    url = f"{scheme}://{host}:{port}{path}"
    headers = {header["name"]: header["value"] for header in get.get("httpHeaders") or []}
    try:
        async with httpx.AsyncClient(verify=False, timeout=timeout_s) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as error:
        return False, f"Get {url!r}: {type(error).__name__}: {error}"
    if 200 <= response.status_code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status_code}"


async def _tcp_socket(
    tcp: api.JsonObject, target: ProbeTarget, *, timeout_s: float
) -> tuple[bool, str]:
    host = tcp.get("host") or target.pod_ip
    port = _port(tcp["port"], target)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as error:
        return False, f"dial tcp {host}:{port}: {error or 'timeout'}"
    writer.close()
    return True, ""


async def _exec(
    command: Sequence[str], target: ProbeTarget, *, timeout_s: float
) -> tuple[bool, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            *target.exec_prefix,
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as error:
        return False, f"exec {list(command)!r}: {error}"
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False, f"command {list(command)!r} timed out after {timeout_s:.0f}s"
    if process.returncode == 0:
        return True, ""
    return False, f"command {list(command)!r} exited {process.returncode}: {output.decode()[-200:]}"


class ProbeVerdict:
    """Turns single results into a verdict with the probe's thresholds: it flips to success
    after `success_threshold` successes in a row, to failure after `failure_threshold`
    failures in a row, and starts as `initial`."""

    def __init__(self, spec: ProbeSpec, *, initial: bool) -> None:
        self._spec = spec
        self.passing = initial
        self._streak = 0
        self._streak_ok = initial

    def record(self, ok: bool) -> bool:
        """Adds a result; returns whether the verdict changed."""
        if ok != self._streak_ok:
            self._streak_ok = ok
            self._streak = 0
        self._streak += 1
        threshold = self._spec.success_threshold if ok else self._spec.failure_threshold
        if ok != self.passing and self._streak >= threshold:
            self.passing = ok
            return True
        return False
