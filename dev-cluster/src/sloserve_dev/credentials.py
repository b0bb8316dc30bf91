"""Writes a new cluster's PKI and the kubeconfigs of its administrator and components."""

from __future__ import annotations

import pathlib

from sloserve_dev import kubeconfig, layout, pki

# The first address of the service range: the API server's own `kubernetes` Service.
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
# Names by which in-cluster clients may reach the API server; all resolve to loopback here.
_APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
ADMIN_USER = "sloserve-admin"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
SCHEDULER_USER = "system:kube-scheduler"
FRONT_PROXY_USER = "front-proxy-client"


def write_cluster_credentials(paths: layout.ClusterLayout, *, server: str) -> None:
    """Creates the CA, the API server's serving and kubelet-client certificates, the
    ServiceAccount key pair, and kubeconfigs for the administrator (group system:masters), the
    controller-manager and the scheduler (their built-in RBAC users)."""
    paths.pki_dir.mkdir(parents=True, exist_ok=True)
    ca = pki.CertificateAuthority.create("sloserve-dev-ca")
    ca_cert, ca_key = paths.pki("ca")
    ca.pem_pair().write(cert_path=ca_cert, key_path=ca_key)

    serving = ca.issue(
        common_name="kube-apiserver",
        dns_names=_APISERVER_DNS_NAMES,
        ip_addresses=("127.0.0.1", "::1", KUBERNETES_SERVICE_IP),
        server=True,
    )
    cert_path, key_path = paths.pki("apiserver")
    serving.write(cert_path=cert_path, key_path=key_path)

    kubelet_client = ca.issue(
        common_name="kube-apiserver-kubelet-client",
        organizations=("system:masters",),
        client=True,
    )
    cert_path, key_path = paths.pki("apiserver-kubelet-client")
    kubelet_client.write(cert_path=cert_path, key_path=key_path)

    # The aggregation layer's own CA: the API server proxies to extension API servers (such as a
    # metrics server) with this client certificate, and they trust the user it names only then.
    front_proxy_ca = pki.CertificateAuthority.create("sloserve-dev-front-proxy-ca")
    cert_path, key_path = paths.pki("front-proxy-ca")
    front_proxy_ca.pem_pair().write(cert_path=cert_path, key_path=key_path)
    front_proxy_client = front_proxy_ca.issue(common_name=FRONT_PROXY_USER, client=True)
    cert_path, key_path = paths.pki("front-proxy-client")
    front_proxy_client.write(cert_path=cert_path, key_path=key_path)

    public_path, private_path = paths.service_account_keys
    pki.service_account_key_pair().write(cert_path=public_path, key_path=private_path)

    # (PKI name, user, groups, kubeconfig); the administrator's certificate is also kept as files
    # for the start-up health checks.
    users: list[tuple[str, str, tuple[str, ...], pathlib.Path]] = [
        ("admin", ADMIN_USER, ("system:masters",), paths.kubeconfig),
        (
            "controller-manager",
            CONTROLLER_MANAGER_USER,
            (),
            paths.component_kubeconfig("kube-controller-manager"),
        ),
        ("scheduler", SCHEDULER_USER, (), paths.component_kubeconfig("kube-scheduler")),
    ]
    for pki_name, user, groups, config_path in users:
        client = ca.issue(common_name=user, organizations=groups, client=True)
        cert_path, key_path = paths.pki(pki_name)
        client.write(cert_path=cert_path, key_path=key_path)
        kubeconfig.write_kubeconfig(
            config_path,
            server=server,
            ca_pem=ca.cert_pem,
            user=user,
            client_cert_pem=client.cert,
            client_key_pem=client.key,
        )
