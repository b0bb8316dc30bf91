"""The second scheduler's configuration: a kube-scheduler profile named for sloserve that asks
the placement extender to filter and prioritize nodes.

Run it as its own kube-scheduler process beside the default one (`--config=FILE`); pods whose
`schedulerName` is the profile's go to it, every other pod to the default scheduler.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["SCHEDULER_NAME", "kube_scheduler_configuration", "render"]

SCHEDULER_NAME = "sloserve-scheduler"


def kube_scheduler_configuration(
    *,
    extender_url: str,
    scheduler_name: str = SCHEDULER_NAME,
    kubeconfig: str | None = None,
    leader_elect: bool = True,
    lease_namespace: str = "kube-system",
    weight: int = 5,
    http_timeout_s: float = 5.0,
) -> dict[str, Any]:
    """A `kubescheduler.config.k8s.io/v1` KubeSchedulerConfiguration.

    Args:
        extender_url: base URL of the extender (`http://HOST:PORT`); the scheduler POSTs to
            `/filter` and `/prioritize` under it.
        scheduler_name: the profile's name: engine pods set it as `spec.schedulerName`.
        kubeconfig: the scheduler's kubeconfig; None in a pod (its service account is used).
        leader_elect: elect one leader among replicas, under a lease named `scheduler_name`
            (never the default scheduler's lease); False for a single local process.
        lease_namespace: namespace of that lease.
        weight: multiplier of the extender's 0..10 scores against the built-in plugins' scores.
        http_timeout_s: how long the scheduler waits for the extender.
    """
    if not extender_url.startswith(("http://", "https://")):
        raise ValueError(f"extender_url {extender_url!r} must start with http:// or https://")
    if weight < 1:
        raise ValueError(f"weight must be at least 1, got {weight}")
    leader_election: dict[str, Any] = {"leaderElect": leader_elect}
    if leader_elect:
        leader_election |= {
            "resourceName": scheduler_name,
            "resourceNamespace": lease_namespace,
        }
    client_connection: dict[str, Any] = {}
    if kubeconfig is not None:
        client_connection["kubeconfig"] = kubeconfig
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": client_connection,
        "leaderElection": leader_election,
        "profiles": [{"schedulerName": scheduler_name}],
        "extenders": [
            {
                "urlPrefix": extender_url.rstrip("/"),
                "filterVerb": "filter",
                "prioritizeVerb": "prioritize",
                "weight": weight,
                "enableHTTPS": extender_url.startswith("https://"),
                # Nodes are sent whole: the extender reads their sharing-strategy label.
                "nodeCacheCapable": False,
                "httpTimeout": f"{http_timeout_s:g}s",
                # Without the extender a pod would be placed blind; it waits instead.
                "ignorable": False,
            }
        ],
    }


def render(configuration: dict[str, Any]) -> str:
    """The configuration as the YAML file kube-scheduler's `--config` reads."""
    return yaml.safe_dump(configuration, sort_keys=False)
