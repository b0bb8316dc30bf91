"""A local kind cluster built offline: our Docker Engine, the node image and sloserve's images
built here, a Docker network of our own fenced off from the rest of the world, kind's nodes on
it, our CNI agent and CoreDNS, and simulated GPUs on every node.

GPUs are simulated the Kubernetes way: each node advertises `nvidia.com/gpu` capacity (a node
status patch, as NVIDIA's device plugin would) and the GPU-product labels (as GPU feature
discovery would), so the real kube-scheduler, the placement extender and the second scheduler
profile schedule onto real kubelets."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import pathlib
import string
import subprocess
import time

import yaml

from sloserve_dev import handle
from sloserve_dev.kind import builtin_images, docker_engine, egress, images, tools

NETWORK = "sloserve-kind"
BRIDGE = "sloserve-kind0"
SUBNET = "172.30.0.0/24"
GATEWAY = "172.30.0.1"
POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/16"
DNS_SERVICE_IP = "10.96.0.10"
DEFAULT_GPU_PRODUCT = "NVIDIA-H100-80GB-HBM3"
#: Marks the nodes whose GPUs are simulated (what `kubectl get nodes -l` finds them by).
SIMULATED_GPUS_LABEL = "sloserve.io/simulated-gpus"
FENCE = egress.Fence(bridge=BRIDGE, internal=(SUBNET, POD_SUBNET))


class KindError(RuntimeError):
    """A step of creating or deleting the cluster failed; the message has its output."""


@dataclasses.dataclass(frozen=True)
class PortMapping:
    """127.0.0.1:`host_port` on this machine reaches `container_port` of the control-plane node
    (a NodePort, say)."""

    container_port: int
    host_port: int


@dataclasses.dataclass(frozen=True)
class HostMount:
    """A directory of this machine that every node has at `node_path` (kind's `extraMounts`),
    for pods to mount as a hostPath volume."""

    host_path: str
    node_path: str
    read_only: bool = True


@dataclasses.dataclass(frozen=True)
class KindOptions:
    name: str = "sloserve"
    #: a control-plane node and `nodes - 1` workers; every node carries simulated GPUs
    nodes: int = 2
    gpu_product: str = DEFAULT_GPU_PRODUCT
    gpus_per_node: int = 8
    port_mappings: tuple[PortMapping, ...] = ()
    host_mounts: tuple[HostMount, ...] = ()
    #: registered images that are not loaded into every cluster (`load=False`) to load into
    #: this one, e.g. the vLLM engine image
    extra_images: tuple[str, ...] = ()

    def node_names(self) -> list[str]:
        workers = [f"{self.name}-worker{'' if i == 1 else i}" for i in range(1, self.nodes)]
        return [f"{self.name}-control-plane", *workers]


def kind_config(options: KindOptions, *, node_image: str) -> dict[str, object]:
    """kind's cluster configuration: IPv4, the API server on 127.0.0.1, no default CNI and no
    kubeadm CoreDNS (ours replace them), simulated-GPU labels on every node."""
    labels = {
        "nvidia.com/gpu.product": options.gpu_product,
        "nvidia.com/gpu.count": str(options.gpus_per_node),
        SIMULATED_GPUS_LABEL: "true",
    }
    control_plane: dict[str, object] = {
        "role": "control-plane",
        "image": node_image,
        "labels": labels,
        # kind's own configuration skips preflight (its images are preloaded); the list is
        # replaced as a whole, so it is named again.
        "kubeadmConfigPatches": [
            "kind: InitConfiguration\nskipPhases:\n  - preflight\n  - addon/coredns\n"
        ],
    }
    if options.port_mappings:
        control_plane["extraPortMappings"] = [
            {
                "containerPort": mapping.container_port,
                "hostPort": mapping.host_port,
                "listenAddress": "127.0.0.1",
                "protocol": "TCP",
            }
            for mapping in options.port_mappings
        ]
    workers: list[dict[str, object]] = [
        {"role": "worker", "image": node_image, "labels": labels} for _ in range(options.nodes - 1)
    ]
    if options.host_mounts:
        mounts = [
            {
                "hostPath": mount.host_path,
                "containerPath": mount.node_path,
                "readOnly": mount.read_only,
            }
            for mount in options.host_mounts
        ]
        for node in (control_plane, *workers):
            node["extraMounts"] = mounts
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": options.name,
        "networking": {
            "ipFamily": "ipv4",
            "apiServerAddress": "127.0.0.1",
            "disableDefaultCNI": True,
            "kubeProxyMode": "iptables",
            "podSubnet": POD_SUBNET,
            "serviceSubnet": SERVICE_SUBNET,
        },
        "nodes": [control_plane, *workers],
    }


@dataclasses.dataclass
class Session:
    """Runs kind, docker and kubectl against our engine and one cluster."""

    built: tools.Tools
    engine: docker_engine.EngineLayout
    kubeconfig: pathlib.Path

    def env(self) -> dict[str, str]:
        return {
            **docker_engine.environment(self.engine),
            "KIND_EXPERIMENTAL_DOCKER_NETWORK": NETWORK,
            "KUBECONFIG": str(self.kubeconfig),
        }

    def run(self, argv: list[str], *, input: str | None = None, check: bool = True) -> str:
        completed = subprocess.run(
            argv, env=self.env(), input=input, capture_output=True, text=True, check=False
        )
        if check and completed.returncode != 0:
            raise KindError(
                f"{' '.join(argv[:3])} failed (exit {completed.returncode}):\n"
                f"{completed.stdout[-4000:]}{completed.stderr[-4000:]}"
            )
        return completed.stdout

    def kind(self, *args: str, check: bool = True) -> str:
        return self.run([str(self.built.kind), *args], check=check)

    def docker(self, *args: str, check: bool = True) -> str:
        return self.run([docker_engine.DOCKER, *args], check=check)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.run([str(self.built.kube_bin / "kubectl"), *args], input=input, check=check)


def ensure_network(session: Session) -> None:
    """Our Docker network: a bridge of a known name and range, with no masquerading (nothing
    on it is translated to this machine's address on the way out), fenced (see egress)."""
    if not session.docker("network", "ls", "-q", "--filter", f"name=^{NETWORK}$").strip():
        session.docker(
            "network",
            "create",
            "--driver=bridge",
            f"--subnet={SUBNET}",
            f"--gateway={GATEWAY}",
            f"--opt=com.docker.network.bridge.name={BRIDGE}",
            "--opt=com.docker.network.bridge.enable_ip_masquerade=false",
            "--opt=com.docker.network.driver.mtu=1500",
            NETWORK,
        )
    if not FENCE.installed():
        FENCE.install()


def remove_network(session: Session) -> None:
    FENCE.remove()
    session.docker("network", "rm", NETWORK, check=False)


def _manifest(name: str, **values: str) -> str:
    text = importlib.resources.files("sloserve_dev.kind").joinpath("manifests", name).read_text()
    return string.Template(text).substitute(values)


def _node_address(session: Session, node: str) -> str:
    return session.docker(
        "inspect",
        "--format",
        '{{(index .NetworkSettings.Networks "' + NETWORK + '").IPAddress}}',
        node,
    ).strip()


def simulate_gpus(session: Session, options: KindOptions) -> None:
    """Advertises `gpus_per_node` nvidia.com/gpu on every node, and lets the control-plane node
    run pods like the others."""
    patch = json.dumps(
        [
            {
                "op": "add",
                "path": "/status/capacity/nvidia.com~1gpu",
                "value": str(options.gpus_per_node),
            }
        ]
    )
    for node in options.node_names():
        session.kubectl("patch", "node", node, "--subresource=status", "--type=json", "-p", patch)
    session.kubectl(
        "taint",
        "nodes",
        options.node_names()[0],
        "node-role.kubernetes.io/control-plane:NoSchedule-",
        check=False,
    )


def install_addons(session: Session, options: KindOptions) -> None:
    api_host = _node_address(session, options.node_names()[0])
    session.kubectl(
        "apply",
        "-f",
        "-",
        input=_manifest("cni.yaml", cni_image=builtin_images.cni_image_tag(), api_host=api_host),
    )
    session.kubectl(
        "apply",
        "-f",
        "-",
        input=_manifest(
            "coredns.yaml",
            coredns_image=f"registry.k8s.io/coredns/coredns:{tools.coredns_version()}",
            dns_ip=DNS_SERVICE_IP,
        ),
    )


def wait_ready(session: Session, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for what in (
        ["wait", "--for=condition=Ready", "nodes", "--all"],
        ["-n", "kube-system", "rollout", "status", "deployment/coredns"],
    ):
        remaining = max(1, int(deadline - time.monotonic()))
        session.kubectl(*what, f"--timeout={remaining}s")


def create(session: Session, options: KindOptions, *, timeout_s: float = 300.0) -> list[str]:
    """Creates the cluster with every loadable registered image in its nodes; returns the
    loaded tags. The caller has started the engine and recorded what it started."""
    context = images.default_context(builtin_images.REPOSITORY)
    node_image, _ = images.ensure(context, builtin_images.NODE)
    wanted = [image for image in images.registered() if image.load]
    wanted += [images.get(name) for name in options.extra_images]
    loaded = [tag for image in wanted for tag in images.ensure_tags(context, image)]
    ensure_network(session)
    config = session.kubeconfig.with_name("kind-config.yaml")
    config.write_text(yaml.safe_dump(kind_config(options, node_image=node_image)))
    session.kind(
        "create",
        "cluster",
        f"--name={options.name}",
        f"--config={config}",
        f"--kubeconfig={session.kubeconfig}",
    )
    simulate_gpus(session, options)
    install_addons(session, options)
    if loaded:
        session.kind("load", "docker-image", f"--name={options.name}", *loaded)
    wait_ready(session, timeout_s=timeout_s)
    return loaded


def delete(session: Session, name: str) -> None:
    session.kind(
        "delete", "cluster", f"--name={name}", f"--kubeconfig={session.kubeconfig}", check=False
    )


def clusters(session: Session) -> list[str]:
    return session.kind("get", "clusters", check=False).split()


def handle_for(
    session: Session, nodes: tuple[str, ...], kubeconfig: pathlib.Path
) -> handle.ClusterHandle:
    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    return handle.ClusterHandle(
        kubeconfig=kubeconfig, bin_dir=session.built.kube_bin, server=str(server), nodes=nodes
    )
