"""`sloserve operator`: run the ModelService operator."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import sys
from typing import Any

import click
import pydantic

from sloserve.operator import app, login
from sloserve.operator.settings import OperatorSettings

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _settings(overrides: dict[str, dict[str, Any]]) -> OperatorSettings:
    """Settings from the environment, with the command line's options on top."""
    from_environment = OperatorSettings()
    merged = from_environment.model_dump()
    for group, values in overrides.items():
        merged[group].update({key: value for key, value in values.items() if value is not None})
    return OperatorSettings.model_validate(merged)


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=pathlib.Path),
    default=None,
    help="Kubeconfig to log in with [default: the pod's ServiceAccount in a cluster, else "
    "$KUBECONFIG or ~/.kube/config].",
)
@click.option("--context", default=None, help="Kubeconfig context [default: the current one].")
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="Serve ModelServices of this namespace only; repeat for several [default: all].",
)
@click.option(
    "--leader-election/--no-leader-election",
    default=None,
    help="Act only while holding the Lease [default: on]. Turn off only when a single replica "
    "can ever run.",
)
@click.option("--lease-namespace", default=None, help="Namespace of the leader-election Lease.")
@click.option(
    "--status-interval",
    "status_interval_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between status refreshes of each ModelService [default: 10].",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve GET /healthz on this port [default: none].",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="Level of the operator's log lines [default: INFO].",
)
def operator(
    kubeconfig: pathlib.Path | None,
    context: str | None,
    namespaces: tuple[str, ...],
    leader_election: bool | None,
    lease_namespace: str | None,
    status_interval_s: float | None,
    health_port: int | None,
    log_level: str | None,
) -> None:
    """Run the operator that turns ModelServices into engine Deployments, Services and
    PodDisruptionBudgets and keeps their status current. Every setting can also be given in the
    environment (SLOSERVE_OPERATOR__<GROUP>__<FIELD>); options win."""
    try:
        settings = _settings(
            {
                "kubernetes": {
                    "kubeconfig": kubeconfig,
                    "context": context,
                    "namespaces": namespaces or None,
                },
                "leader_election": {
                    "enabled": leader_election,
                    "lease_namespace": lease_namespace,
                },
                "status": {"refresh_interval_s": status_interval_s},
                "health": {"port": health_port},
                "logging": {"level": log_level.upper() if log_level else None},
            }
        )
    except pydantic.ValidationError as error:
        raise click.ClickException(f"invalid operator settings:\n{error}") from error
    logging.basicConfig(level=settings.logging.level, format=_LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("kopf").setLevel(settings.logging.kopf_level)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    try:
        code = asyncio.run(app.run(settings))
    except (login.LoginError, app.CrdMissingError) as error:
        raise click.ClickException(str(error)) from error
    sys.exit(code)
