"""`sloserve gateway`: the OpenAI-compatible gateway with SLO classes.

Options override the `SLOSERVE_GATEWAY__…` environment variables (see docs/gateway.md). On SIGTERM
or SIGINT the gateway drains: new requests get 503 and `/readyz` fails while in-flight requests
finish (up to the grace period); a second signal stops it at once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import pydantic

from sloserve.gateway import app as gateway_app
from sloserve.gateway import settings, startup_checks
from sloserve.gateway.serving import server


@click.command()
@click.option("--host", default=None, help="Address to bind (default 0.0.0.0).")
@click.option("--port", type=int, default=None, help="TCP port (default 8080).")
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
    help="Discover ModelServices and their engines from Kubernetes.",
)
@click.option("--namespace", default=None, help="Namespace to watch (default: all).")
@click.option(
    "--policy",
    type=click.Choice(["fcfs", "deadline", "scorpio"]),
    default=None,
    help="Scheduling policy (default scorpio).",
)
@click.option(
    "--admission",
    type=click.Choice(["at-arrival", "hold-then-reject"]),
    default=None,
    help="How the TTFT guard treats full engines (default at-arrival: the wait for a free "
    "slot counts, so what cannot start in time is refused at once).",
)
@click.option(
    "--grace-period",
    type=float,
    default=None,
    help="Seconds in-flight requests may take to finish on shutdown (default 30).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def gateway(
    host: str | None,
    port: int | None,
    config_file: Path | None,
    tenants_file: Path | None,
    kubernetes: bool | None,
    namespace: str | None,
    policy: str | None,
    admission: str | None,
    grace_period: float | None,
    log_level: str,
) -> None:
    """Serve the OpenAI API in front of the engines, scheduling by SLO class."""
    overrides: dict[str, Any] = {
        "server": _given(host=host, port=port),
        "sources": _given(
            config_file=config_file,
            tenants_file=tenants_file,
            kubernetes=kubernetes,
            namespace=namespace,
        ),
        "scheduling": _given(policy=policy, admission=admission),
        "shutdown": _given(grace_period_s=grace_period),
    }
    try:
        config = settings.GatewaySettings(**{k: v for k, v in overrides.items() if v})
    except pydantic.ValidationError as error:
        raise click.UsageError(str(error)) from error
    try:
        startup_checks.check(config)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per scrape of an engine's metrics would drown the gateway's own messages.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    app = gateway_app.create_app(config)
    server.DrainingServer(
        server.uvicorn_config(app, config.server, log_level=log_level),
        app=app,
        grace_period_s=config.shutdown.grace_period_s,
    ).run()


def _given(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}
