"""Logging in from a kubeconfig or from a pod's ServiceAccount."""

from __future__ import annotations

import pathlib
import time

import pytest
import yaml

from sloserve.operator import login
from sloserve.operator.settings import KubernetesSettings

# A self-signed certificate is not needed: the client only records where the CA file is.
_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _kubeconfig(path: pathlib.Path, *, server: str, token: str) -> pathlib.Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_kubeconfig_login_gives_kopf_the_same_server_and_token(tmp_path: pathlib.Path) -> None:
    path = _kubeconfig(tmp_path / "config", server="https://10.0.0.1:6443", token="abc")
    credentials = login.log_in(KubernetesSettings(kubeconfig=path))
    info = login.connection_info(credentials)
    assert not credentials.in_cluster
    assert info.server == "https://10.0.0.1:6443"
    assert (info.scheme, info.token) == ("Bearer", "abc")
    assert info.expiration is not None


def test_service_account_login_reads_the_mounted_token(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text(_CA)
    (tmp_path / "namespace").write_text("sloserve-system\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    settings = KubernetesSettings(service_account_dir=tmp_path)
    credentials = login.log_in(settings)
    info = login.connection_info(credentials)
    assert credentials.in_cluster
    assert info.server == "https://10.96.0.1:443"
    assert info.token == "sa-token"
    assert info.ca_path == str(tmp_path / "ca.crt")
    assert login.own_namespace(settings) == "sloserve-system"


def test_missing_kubeconfig_fails_naming_where_it_looked(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(login.LoginError, match="nowhere"):
        login.log_in(KubernetesSettings(kubeconfig=missing))


def test_rotated_token_file_is_picked_up(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first")
    config = tmp_path / "config"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1"}}],
                "users": [{"name": "u", "user": {"tokenFile": str(token_file)}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    credentials = login.log_in(KubernetesSettings(kubeconfig=config))
    assert login.connection_info(credentials).token == "first"
    token_file.write_text("second")
    clock[0] += 61.0
    assert login.connection_info(credentials).token == "second"
