"""Starting the local kubelet next to a running control plane, and waiting for its nodes."""

from __future__ import annotations

import functools
import sys

import httpx

from sloserve.dev import layout, processes, readiness, state
from sloserve.dev.kubelet import config

KUBELET = "kubelet"


def start_kubelet(
    record: state.ClusterState,
    *,
    options: config.KubeletOptions,
    tie_to_parent: bool,
    timeout_s: float = 120.0,
) -> state.ClusterState:
    """Starts `python -m sloserve.dev.kubelet` for the cluster of `record`, saves it in the
    record, and returns once every node reports Ready. The caller holds the cluster's lock.
    Raises readiness.ComponentFailedError naming the kubelet, with its log, on failure."""
    paths = layout.ClusterLayout(record.state_dir)
    argv = [
        sys.executable,
        "-m",
        "sloserve.dev.kubelet",
        "--state-dir",
        str(paths.state_dir),
        *options.to_args(),
    ]
    log = paths.log_file(KUBELET)
    popen = processes.spawn(argv=argv, log_path=log, tie_to_parent=tie_to_parent)
    kubelet = state.ComponentProcess(name=KUBELET, pid=popen.pid, log=log)
    names = tuple(options.node_names())
    record = record.with_process(kubelet).model_copy(update={"nodes": names})
    state.save(record)
    with readiness.admin_client(paths, server=record.server) as api:
        for name in names:
            readiness.wait_for(
                functools.partial(_node_ready, api, name),
                what=f"register node {name} as Ready",
                blame=kubelet,
                watched=list(record.processes),
                timeout_s=timeout_s,
            )
    return record


def _node_ready(api: httpx.Client, name: str) -> bool:
    try:
        response = api.get(f"/api/v1/nodes/{name}")
    except httpx.TransportError:
        return False
    if response.status_code != 200:
        return False
    conditions = response.json().get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
