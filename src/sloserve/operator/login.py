"""Logging in to the API server: one set of credentials for kopf's watches and for the operator's
own requests, from an explicit kubeconfig, the pod's ServiceAccount, or the default kubeconfig."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

import kopf
from kubernetes import client, config

from sloserve.operator.settings import KubernetesSettings

__all__ = ["Login", "LoginError", "connection_info", "log_in", "own_namespace"]

# Bound ServiceAccount tokens are rotated by the kubelet, whether mounted in the standard place or
# named by a kubeconfig's tokenFile; credentials given as tokens are re-read this often.
_TOKEN_RELOAD = datetime.timedelta(minutes=1)
_TOKEN_RELOGIN = datetime.timedelta(minutes=5)


class LoginError(RuntimeError):
    """No usable credentials; the message says where the operator looked."""


@dataclasses.dataclass(frozen=True)
class Login:
    """A client configuration and where it came from (`kubeconfig <path>` or `in-cluster`)."""

    configuration: client.Configuration
    source: str
    in_cluster: bool


def _in_cluster_available(service_account_dir: Path) -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (service_account_dir / "token").is_file()
    )


def log_in(settings: KubernetesSettings) -> Login:
    """Loads credentials: the kubeconfig of the settings if one is named; else the
    ServiceAccount in `settings.service_account_dir` when running in a pod (KUBERNETES_SERVICE_HOST
    is set and a token is mounted); else $KUBECONFIG or ~/.kube/config. Raises LoginError."""
    configuration = client.Configuration()
    try:
        if settings.kubeconfig is None and _in_cluster_available(settings.service_account_dir):
            loader = config.incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
                token_filename=str(settings.service_account_dir / "token"),
                cert_filename=str(settings.service_account_dir / "ca.crt"),
                try_refresh_token=True,
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            return Login(configuration, "in-cluster ServiceAccount", in_cluster=True)
        path = str(settings.kubeconfig) if settings.kubeconfig is not None else None
        _load_kubeconfig(configuration, path=path, context=settings.context)
    except (config.ConfigException, OSError) as error:
        where = (
            f"kubeconfig {settings.kubeconfig}"
            if settings.kubeconfig is not None
            else f"the ServiceAccount in {settings.service_account_dir}, $KUBECONFIG and "
            "~/.kube/config"
        )
        raise LoginError(
            f"cannot log in to Kubernetes from {where}: {error}; set "
            "SLOSERVE_OPERATOR__KUBERNETES__KUBECONFIG or run the operator in a pod with a "
            "ServiceAccount"
        ) from error
    _reload_periodically(configuration, path=path, context=settings.context)
    return Login(configuration, f"kubeconfig {path or '(default)'}", in_cluster=False)


def _load_kubeconfig(
    configuration: client.Configuration, *, path: str | None, context: str | None
) -> None:
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path,
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )


def _reload_periodically(
    configuration: client.Configuration, *, path: str | None, context: str | None
) -> None:
    """Makes the client re-read the kubeconfig before a request once `_TOKEN_RELOAD` has passed,
    so that a token file rotated under it (a pod's ServiceAccount token) keeps working. Between
    reloads the client's own refresh (of expiring exec or OIDC tokens) still runs."""
    next_reload = time.monotonic() + _TOKEN_RELOAD.total_seconds()
    own_refresh: Callable[[client.Configuration], None] | None = getattr(
        configuration, "refresh_api_key_hook", None
    )

    def refresh(target: client.Configuration) -> None:
        nonlocal next_reload, own_refresh
        if time.monotonic() >= next_reload:
            next_reload = time.monotonic() + _TOKEN_RELOAD.total_seconds()
            # On failure the credentials loaded last stay; a request failing with them says why.
            with contextlib.suppress(config.ConfigException, OSError):
                _load_kubeconfig(target, path=path, context=context)
            own_refresh = getattr(target, "refresh_api_key_hook", None)
            # The client's stubs type the hook as always None, though the client calls it.
            target.refresh_api_key_hook = refresh  # type: ignore[assignment]
        elif own_refresh is not None:
            own_refresh(target)
            target.refresh_api_key_hook = refresh  # type: ignore[assignment]

    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]


def connection_info(login: Login) -> kopf.ConnectionInfo:
    """The same credentials in the form kopf's login handler returns."""
    configuration = login.configuration
    header = configuration.get_api_key_with_prefix("BearerToken") or (
        configuration.get_api_key_with_prefix("authorization")
    )
    scheme: str | None = None
    token: str | None = None
    if header:
        parts = header.split(" ", 1)
        scheme, token = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    expiration = datetime.datetime.now(datetime.UTC) + _TOKEN_RELOGIN if token else None
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        expiration=expiration,
    )


def own_namespace(settings: KubernetesSettings) -> str | None:
    """The namespace of the operator's own pod, from its ServiceAccount mount, if it has one."""
    namespace_file = settings.service_account_dir / "namespace"
    try:
        namespace = namespace_file.read_text().strip()
    except OSError:
        return None
    return namespace or None
