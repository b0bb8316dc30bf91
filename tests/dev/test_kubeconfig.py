"""Kubeconfig files the local cluster writes are read by the Kubernetes Python client."""

from __future__ import annotations

import pathlib

import pytest
from kubernetes import client, config

from sloserve_dev import kubeconfig, pki

SERVER = "https://127.0.0.1:6443"


def _load(path: pathlib.Path) -> client.Configuration:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return configuration


def test_client_certificate_kubeconfig_is_loaded_with_its_server_and_ca(
    tmp_path: pathlib.Path,
) -> None:
    ca = pki.CertificateAuthority.create("test-ca")
    user = ca.issue(common_name="someone", client=True)
    path = tmp_path / "kubeconfig"
    kubeconfig.write_kubeconfig(
        path,
        server=SERVER,
        ca_pem=ca.cert_pem,
        user="someone",
        client_cert_pem=user.cert,
        client_key_pem=user.key,
    )

    loaded = _load(path)

    assert loaded.host == SERVER
    assert pathlib.Path(loaded.ssl_ca_cert).read_bytes() == ca.cert_pem
    assert pathlib.Path(loaded.cert_file).read_bytes() == user.cert
    assert path.stat().st_mode & 0o077 == 0


def test_token_file_kubeconfig_reads_the_token_from_the_file(tmp_path: pathlib.Path) -> None:
    # For a pod whose ServiceAccount token is mounted somewhere other than the standard place.
    token_file = tmp_path / "token"
    token_file.write_text("the-token")
    path = tmp_path / "kubeconfig"
    kubeconfig.write_kubeconfig(
        path,
        server=SERVER,
        ca_pem=pki.CertificateAuthority.create("test-ca").cert_pem,
        user="system:serviceaccount:ns:sa",
        token_file=token_file,
    )

    loaded = _load(path)

    assert loaded.api_key["BearerToken"] == "Bearer the-token"


def test_kubeconfig_needs_exactly_one_credential(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="give one of"):
        kubeconfig.write_kubeconfig(
            tmp_path / "kubeconfig",
            server=SERVER,
            ca_pem=b"",
            user="u",
            token="a",
            token_file=tmp_path / "token",
        )
