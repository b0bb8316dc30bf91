"""Command lines of the control plane's components: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler, all listening on loopback only."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import socket

from sloserve_dev import credentials, layout

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
# The issuer named in ServiceAccount tokens; also their default audience.
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclasses.dataclass(frozen=True)
class Ports:
    """Loopback ports of one cluster, chosen free at start so that clusters can run side by side
    (a developer's `sloserve dev up` and a test session, say)."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def pick_free(cls) -> Ports:
        """Asks the kernel for five distinct free ports; they stay free until a component binds
        them unless another program races for them, which a start-up failure would report."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(5):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind(("127.0.0.1", 0))
                ports.append(int(sock.getsockname()[1]))
        return cls(*ports)


def etcd_argv(*, bin_dir: pathlib.Path, data_dir: pathlib.Path, ports: Ports) -> list[str]:
    client_url = f"http://127.0.0.1:{ports.etcd_client}"
    peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(bin_dir / ETCD),
        "--name=sloserve-dev",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=sloserve-dev={peer_url}",
        "--initial-cluster-state=new",
        # The data is thrown away when the cluster stops; fsync would only slow every write.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_argv(
    *, bin_dir: pathlib.Path, paths: layout.ClusterLayout, ports: Ports
) -> list[str]:
    ca_cert, _ = paths.pki("ca")
    serving_cert, serving_key = paths.pki("apiserver")
    kubelet_cert, kubelet_key = paths.pki("apiserver-kubelet-client")
    sa_public, sa_private = paths.service_account_keys
    front_proxy_ca, _ = paths.pki("front-proxy-ca")
    front_proxy_cert, front_proxy_key = paths.pki("front-proxy-client")
    return [
        str(bin_dir / APISERVER),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        # Endpoints may not hold loopback addresses, so the `kubernetes` Service keeps none (this
        # control plane has no nodes, and so no pods that would use it).
        "--endpoint-reconciler-type=none",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={paths.pki_dir}",
        f"--tls-cert-file={serving_cert}",
        f"--tls-private-key-file={serving_key}",
        f"--client-ca-file={ca_cert}",
        "--authorization-mode=Node,RBAC",
        # Added to the default admission plugins, as on kubeadm clusters: nodes may then only
        # modify themselves and the pods bound to them.
        "--enable-admission-plugins=NodeRestriction",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={sa_public}",
        f"--service-account-signing-key-file={sa_private}",
        f"--service-cluster-ip-range={credentials.SERVICE_CLUSTER_IP_RANGE}",
        f"--kubelet-client-certificate={kubelet_cert}",
        f"--kubelet-client-key={kubelet_key}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--requestheader-client-ca-file={front_proxy_ca}",
        f"--requestheader-allowed-names={credentials.FRONT_PROXY_USER}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={front_proxy_cert}",
        f"--proxy-client-key-file={front_proxy_key}",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def controller_manager_argv(
    *, bin_dir: pathlib.Path, paths: layout.ClusterLayout, ports: Ports
) -> list[str]:
    kubeconfig = paths.component_kubeconfig(CONTROLLER_MANAGER)
    ca_cert, ca_key = paths.pki("ca")
    _, sa_private = paths.service_account_keys
    return [
        str(bin_dir / CONTROLLER_MANAGER),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={paths.pki_dir / CONTROLLER_MANAGER}",
        "--controllers=*",
        # Each controller acts as its own ServiceAccount, so RBAC applies to them as in production.
        "--use-service-account-credentials=true",
        f"--root-ca-file={ca_cert}",
        f"--service-account-private-key-file={sa_private}",
        f"--cluster-signing-cert-file={ca_cert}",
        f"--cluster-signing-key-file={ca_key}",
        # One instance per cluster: leader election would only delay the start.
        "--leader-elect=false",
        # Starting every controller under its own ServiceAccount takes hundreds of requests;
        # the default client rate limit (20/s) makes that seconds of a cluster's start.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--profiling=false",
    ]


def scheduler_argv(
    *, bin_dir: pathlib.Path, paths: layout.ClusterLayout, ports: Ports
) -> list[str]:
    kubeconfig = paths.component_kubeconfig(SCHEDULER)
    return [
        str(bin_dir / SCHEDULER),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        f"--cert-dir={paths.pki_dir / SCHEDULER}",
        "--leader-elect=false",
        "--profiling=false",
    ]
