"""The certificates a local cluster is started with."""

from __future__ import annotations

import ipaddress
import pathlib

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sloserve_dev import credentials, layout


def _load(path: pathlib.Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_api_server_certificate_names_loopback_and_the_in_cluster_service(
    tmp_path: pathlib.Path,
) -> None:
    paths = layout.ClusterLayout(tmp_path)
    credentials.write_cluster_credentials(paths, server="https://127.0.0.1:6443")

    serving = _load(paths.pki("apiserver")[0])
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address(credentials.KUBERNETES_SERVICE_IP) in names.get_values_for_type(
        x509.IPAddress
    )
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    serving.verify_directly_issued_by(_load(paths.pki("ca")[0]))


def test_admin_certificate_is_a_client_certificate_in_group_system_masters(
    tmp_path: pathlib.Path,
) -> None:
    paths = layout.ClusterLayout(tmp_path)
    credentials.write_cluster_credentials(paths, server="https://127.0.0.1:6443")

    admin = _load(paths.pki("admin")[0])
    usages = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert paths.pki("admin")[1].stat().st_mode & 0o077 == 0
