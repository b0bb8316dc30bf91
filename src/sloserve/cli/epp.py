"""`sloserve epp`: sloserve's admission, deadline queue and SLO routing as the endpoint picker of
an Envoy-based gateway (the Gateway API inference extension's ext_proc protocol).

Options override the `SLOSERVE_EPP__…` environment variables (see docs/epp.md). On SIGTERM or
SIGINT the picker drains: readiness fails and new requests get 503 while admitted ones finish (up
to the grace period); a second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click
import pydantic

from sloserve.epp import app, server, settings
from sloserve.gateway.serving import server as gateway_server


@click.command()
@click.option("--host", default=None, help="Address to bind (default 0.0.0.0).")
@click.option("--port", type=int, default=None, help="gRPC port (default 9002).")
@click.option("--metrics-port", type=int, default=None, help="HTTP metrics port (default 9090).")
@click.option(
    "--secure-serving/--insecure",
    default=None,
    help="gRPC over TLS (the default) or plaintext HTTP/2.",
)
@click.option(
    "--tls-cert-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TLS certificate (PEM); without it a self-signed one is made.",
)
@click.option(
    "--tls-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Private key of --tls-cert-file (PEM).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Static models file: models, their SLO classes and engine URLs (YAML or JSON).",
)
@click.option(
    "--tenants",
    "tenants_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Tenants file with API keys and allowed classes (YAML or JSON); reloaded on change.",
)
@click.option(
    "--kubernetes/--no-kubernetes",
    default=None,
    help="Discover ModelServices, their InferencePools and the pools' pods from Kubernetes.",
)
@click.option("--namespace", default=None, help="Namespace to watch (default: all).")
@click.option(
    "--pool",
    "pools",
    multiple=True,
    help="InferencePool to serve (repeatable; default: every pool naming a ModelService).",
)
@click.option(
    "--policy",
    type=click.Choice(["fcfs", "deadline", "scorpio"]),
    default=None,
    help="Scheduling policy (default scorpio).",
)
@click.option(
    "--trust-fairness-id/--no-trust-fairness-id",
    default=None,
    help="Take the tenant from x-gateway-inference-fairness-id (default: from the API key).",
)
@click.option(
    "--grace-period",
    type=float,
    default=None,
    help="Seconds admitted requests may take to finish on shutdown (default 30).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def epp(
    host: str | None,
    port: int | None,
    metrics_port: int | None,
    secure_serving: bool | None,
    tls_cert_file: Path | None,
    tls_key_file: Path | None,
    config_file: Path | None,
    tenants_file: Path | None,
    kubernetes: bool | None,
    namespace: str | None,
    pools: tuple[str, ...],
    policy: str | None,
    trust_fairness_id: bool | None,
    grace_period: float | None,
    log_level: str,
) -> None:
    """Pick endpoints for an Envoy-based inference gateway, scheduling by SLO class."""
    overrides: dict[str, Any] = {
        "server": _given(
            host=host,
            port=port,
            metrics_port=metrics_port,
            secure_serving=secure_serving,
            cert_file=tls_cert_file,
            key_file=tls_key_file,
        ),
        "sources": _given(
            config_file=config_file,
            tenants_file=tenants_file,
            kubernetes=kubernetes,
            namespace=namespace,
            pools=pools or None,
        ),
        "protocol": _given(trust_fairness_id=trust_fairness_id),
        "scheduling": _given(policy=policy),
        "shutdown": _given(grace_period_s=grace_period),
    }
    try:
        config = settings.EppSettings(**{k: v for k, v in overrides.items() if v})
    except pydantic.ValidationError as error:
        raise click.UsageError(str(error)) from error
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        asyncio.run(_serve(config))
    except ValueError as error:
        raise click.ClickException(str(error)) from error


async def _serve(config: settings.EppSettings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        stop.set()
        if signals > 1:
            raise SystemExit(1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    async with app.running(config) as ctx, server.serving(ctx):
        gateway_server.settle_garbage_collector()
        await stop.wait()
        await server.drain(ctx)


def _given(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}
