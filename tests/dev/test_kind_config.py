"""The kind cluster's configuration: what the offline set-up replaces and what it simulates."""

from __future__ import annotations

from typing import Any, cast

from sloserve_dev.kind import cluster


def _config(**options: Any) -> dict[str, Any]:
    made = cluster.kind_config(cluster.KindOptions(**options), node_image="node:test")
    return cast(dict[str, Any], made)


def test_the_default_cni_and_kubeadms_coredns_are_replaced_by_ours() -> None:
    config = _config()
    assert config["networking"]["disableDefaultCNI"] is True
    control_plane = config["nodes"][0]
    assert "addon/coredns" in control_plane["kubeadmConfigPatches"][0]


def test_the_api_server_listens_on_loopback_only() -> None:
    assert _config()["networking"]["apiServerAddress"] == "127.0.0.1"


def test_every_node_carries_the_simulated_gpu_labels() -> None:
    config = _config(nodes=3, gpu_product="NVIDIA-A100-SXM4-80GB", gpus_per_node=4)
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    for node in config["nodes"]:
        assert node["image"] == "node:test"
        assert node["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        assert node["labels"]["nvidia.com/gpu.count"] == "4"
        assert node["labels"][cluster.SIMULATED_GPUS_LABEL] == "true"


def test_port_mappings_bind_loopback() -> None:
    mapping = cluster.PortMapping(container_port=30080, host_port=18080)
    (entry,) = _config(port_mappings=(mapping,))["nodes"][0]["extraPortMappings"]
    assert entry == {
        "containerPort": 30080,
        "hostPort": 18080,
        "listenAddress": "127.0.0.1",
        "protocol": "TCP",
    }


def test_node_names_are_kinds() -> None:
    names = cluster.KindOptions(name="demo", nodes=3).node_names()
    assert names == ["demo-control-plane", "demo-worker", "demo-worker2"]


def test_the_service_range_is_the_one_the_node_guard_rejects() -> None:
    # The node image's guard rejects this range unless kube-proxy rewrote the packet.
    from importlib import resources

    guard = (
        resources.files("sloserve_dev.kind")
        .joinpath("node-files", "etc", "default", "sloserve-service-guard")
        .read_text()
    )
    assert guard.strip() == f"SERVICE_CIDR={cluster.SERVICE_SUBNET}"
    assert _config()["networking"]["serviceSubnet"] == cluster.SERVICE_SUBNET


def test_host_mounts_reach_every_node_read_only_as_asked() -> None:
    mount = cluster.HostMount(host_path="/cache/vllm", node_path="/var/lib/vllm")
    config = _config(nodes=2, host_mounts=(mount,))
    for node in config["nodes"]:
        assert node["extraMounts"] == [
            {"hostPath": "/cache/vllm", "containerPath": "/var/lib/vllm", "readOnly": True}
        ]


def test_a_cluster_without_host_mounts_mounts_nothing() -> None:
    assert all("extraMounts" not in node for node in _config(nodes=2)["nodes"])
