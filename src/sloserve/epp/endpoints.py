"""Engines as the scheduler knows them (base URLs, `http://10.0.0.7:8000`) and as the data plane
names them (`10.0.0.7:8000`; IPv6 as `[fd00::7]:8000`)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def endpoint_of(engine_url: str) -> str:
    """`host:port` of an engine's base URL (the port its scheme implies when it names none)."""
    parts = urlsplit(engine_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def _host(endpoint: str) -> str:
    """The address part of `ip:port`, `[v6]:port`, or of a bare address."""
    if endpoint.startswith("["):
        return endpoint[1 : endpoint.find("]")] if "]" in endpoint else endpoint
    if endpoint.count(":") == 1:
        return endpoint.split(":", 1)[0]
    return endpoint


def allowed(engine_urls: Iterable[str], hint: Iterable[str]) -> frozenset[str]:
    """The engines a subset hint allows: those whose `ip:port` it lists, and every port of an
    address it lists bare."""
    listed = {entry.strip() for entry in hint if entry.strip()}
    bare = {_host(entry) for entry in listed if _host(entry) == entry.strip("[]")}
    chosen = set()
    for url in engine_urls:
        endpoint = endpoint_of(url)
        if endpoint in listed or _host(endpoint) in bare:
            chosen.add(url)
    return frozenset(chosen)
