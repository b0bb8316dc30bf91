"""Waiting for the control plane to serve, while watching that none of its processes died."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence

import httpx

from sloserve_dev import layout, processes, state

_POLL_INTERVAL_S = 0.25


class ComponentFailedError(RuntimeError):
    """A component exited or did not become ready; the message names it and shows its log."""


def admin_client(paths: layout.ClusterLayout, *, server: str) -> httpx.Client:
    """An HTTP client authenticated as the cluster administrator."""
    ca_cert, _ = paths.pki("ca")
    admin_cert, admin_key = paths.pki("admin")
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.load_cert_chain(str(admin_cert), str(admin_key))
    return httpx.Client(base_url=server, verify=context, timeout=5.0)


def probe(client: httpx.Client, url: str) -> bool:
    """Whether `url` answers 200; a connection failure counts as not yet."""
    try:
        return client.get(url).status_code == 200
    except httpx.TransportError:
        return False


def failure_report(component: state.ComponentProcess, problem: str) -> str:
    tail = processes.log_tail(component.log)
    return f"{component.name} {problem}; its log is {component.log}, ending with:\n{tail}"


def wait_for(
    check: Callable[[], bool],
    *,
    what: str,
    blame: state.ComponentProcess,
    watched: Sequence[state.ComponentProcess],
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Polls `check` until it holds. Raises ComponentFailedError naming the first watched process
    that exited, or `blame` (with `what` it failed to do) when `timeout_s` passes."""
    deadline = clock() + timeout_s
    while not check():
        for component in watched:
            if not processes.is_running(component.pid):
                raise ComponentFailedError(failure_report(component, "exited during start-up"))
        if clock() >= deadline:
            raise ComponentFailedError(
                failure_report(blame, f"did not {what} within {timeout_s:.0f} s")
            )
        time.sleep(_POLL_INTERVAL_S)
