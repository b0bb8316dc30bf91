"""InferencePools and pods read into the engines of a ModelService."""

from __future__ import annotations

from typing import Any

import pytest

from sloserve.epp import pools

SELECTOR = {"app": "llama"}


def pool_object(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "team",
            "name": "llama",
            "labels": {"sloserve.io/modelservice": "llama-ms"},
        },
        "spec": {"selector": {"matchLabels": SELECTOR}, "targetPorts": [{"number": 8000}], **spec},
    }


def pod_object(
    name: str,
    ip: str | None,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "team", "name": name, "labels": labels or SELECTOR, **meta},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_a_pool_names_its_modelservice_selector_and_ports() -> None:
    pool = pools.read_pool(pool_object(targetPorts=[{"number": 8000}, {"number": 8001}]))
    assert pool.modelservice == "llama-ms"
    assert pool.selector == SELECTOR
    assert pool.ports == (8000, 8001)


def test_a_pool_without_labels_to_select_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"InferencePool team/llama: spec\.selector"):
        pools.read_pool(pool_object(selector={"matchLabels": {}}))
    with pytest.raises(ValueError, match=r"spec\.targetPorts"):
        pools.read_pool(pool_object(targetPorts=[]))


def test_every_ready_selected_pod_at_every_port_is_an_engine() -> None:
    pool = pools.read_pool(pool_object(targetPorts=[{"number": 8000}, {"number": 8001}]))
    pods = [
        pools.read_pod(pod_object("a", "10.0.0.1")),
        pools.read_pod(pod_object("b", "fd00::2")),
        pools.read_pod(pod_object("unready", "10.0.0.3", ready=False)),
        pools.read_pod(pod_object("no-ip", None)),
        pools.read_pod(pod_object("other", "10.0.0.4", labels={"app": "other"})),
        pools.read_pod(pod_object("leaving", "10.0.0.5", deletionTimestamp="2025-01-01T00:00:00Z")),
    ]
    assert pools.engine_urls(pool, pods) == (
        "http://10.0.0.1:8000",
        "http://10.0.0.1:8001",
        "http://[fd00::2]:8000",
        "http://[fd00::2]:8001",
    )


def test_pods_of_another_namespace_are_not_members() -> None:
    pool = pools.read_pool(pool_object())
    stranger = pod_object("a", "10.0.0.1")
    stranger["metadata"]["namespace"] = "elsewhere"
    assert pools.engine_urls(pool, [pools.read_pod(stranger)]) == ()
