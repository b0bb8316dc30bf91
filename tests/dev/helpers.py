"""Helpers for tests that talk to a cluster's API server."""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Callable

import httpx
import pytest
import yaml

from sloserve.dev import handle


def bearer_client(cluster: handle.ClusterHandle, token: str) -> httpx.Client:
    """An HTTP client that speaks to the cluster's API server as the owner of `token`."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    cluster_entry = config["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster_entry:
        ca = base64.b64decode(cluster_entry["certificate-authority-data"]).decode()
        context = ssl.create_default_context(cadata=ca)
    else:
        context = ssl.create_default_context(cafile=cluster_entry["certificate-authority"])
    return httpx.Client(
        base_url=cluster.server,
        verify=context,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def eventually(
    condition: Callable[[], bool], *, what: str, timeout_s: float = 60.0, interval_s: float = 0.5
) -> None:
    """Polls until `condition` holds; fails the test naming `what` after `timeout_s`. For
    waiting on real controllers, whose timing is theirs, not the test's."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)
