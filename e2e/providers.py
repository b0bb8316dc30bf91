"""Where the suite runs: the cluster of `SLOSERVE_E2E_KUBECONFIG` (kind, or any cluster that can
pull or already holds the sloserve image), else the local provider, a local control plane with
the local kubelet's simulated GPU nodes, started for the session."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from collections.abc import Iterator

from sloserve.dev import build, handle, session
from sloserve.dev.kubelet import config

KUBECONFIG_ENV = "SLOSERVE_E2E_KUBECONFIG"
#: A directory holding the kubectl and helm to use with an external cluster; without it, those
#: the local cluster's build provides.
BIN_DIR_ENV = "SLOSERVE_E2E_BIN_DIR"
#: Two GPU nodes, as the rest of the test suite uses; crashed containers restart after 1 s, 2 s...
LOCAL_KUBELET = config.KubeletOptions(nodes=2, backoff_initial_s=1.0, backoff_max_s=10.0)


@dataclasses.dataclass(frozen=True)
class Provider:
    """A cluster to run the suite on, and what the chart and the tests need to know of it.

    Attributes:
        name: `local` or `external`.
        cluster: kubectl and helm against it.
        chart_values: `--set` values the chart needs there.
        pods_reachable: whether this process reaches pod IPs directly (the local provider's pods
            listen on addresses of this machine); otherwise the suite port-forwards.
    """

    name: str
    cluster: handle.ClusterHandle
    chart_values: tuple[str, ...]
    pods_reachable: bool


@contextlib.contextmanager
def provide(state_dir: pathlib.Path) -> Iterator[Provider]:
    """The external cluster when `SLOSERVE_E2E_KUBECONFIG` names one, else a local cluster kept
    in `state_dir` for the span of the `with` block."""
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        tools = os.environ.get(BIN_DIR_ENV)
        bin_dir = pathlib.Path(tools) if tools else build.build()
        cluster = handle.ClusterHandle.from_kubeconfig(pathlib.Path(external), bin_dir=bin_dir)
        yield Provider(name="external", cluster=cluster, chart_values=(), pods_reachable=False)
        return
    with session.local_cluster(state_dir, kubelet=LOCAL_KUBELET) as cluster:
        # Local pods share this machine's network: each must bind its own pod IP.
        yield Provider(
            name="local",
            cluster=cluster,
            chart_values=("listenAddress=$(POD_IP)",),
            pods_reachable=True,
        )
