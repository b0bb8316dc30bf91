"""Kubeconfig files for the local cluster, with every credential embedded so that one file is all
kubectl, helm, the Python client and kopf need."""

from __future__ import annotations

import base64
import pathlib
from typing import Any

import yaml

CONTEXT_NAME = "sloserve-dev"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(
    path: pathlib.Path,
    *,
    server: str,
    ca_pem: bytes,
    user: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
    token_file: pathlib.Path | None = None,
) -> None:
    """Writes a single-context kubeconfig authenticating with a client certificate, a bearer
    token, or a file holding one (kubectl re-reads it as it is rotated) (exactly one of them),
    readable by its owner only."""
    given = [client_cert_pem is not None, token is not None, token_file is not None]
    if sum(given) != 1:
        raise ValueError(f"kubeconfig {path}: give one of client certificate, token, token file")
    credentials: dict[str, Any] = {}
    if client_cert_pem is not None:
        if client_key_pem is None:
            raise ValueError(f"kubeconfig {path}: a client certificate needs its key")
        credentials["client-certificate-data"] = _b64(client_cert_pem)
        credentials["client-key-data"] = _b64(client_key_pem)
    elif token is not None:
        credentials["token"] = token
    else:
        credentials["tokenFile"] = str(token_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [
            {"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": user}},
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
