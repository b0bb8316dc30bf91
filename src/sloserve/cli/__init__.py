"""The `sloserve` command.

Each subcommand lives in its own module of this package and is imported only when it runs, so that
`sloserve crds` does not pay for importing the gateway, and a missing optional dependency of one
part never breaks the others.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# subcommand name -> "module:attribute" holding a click command or group
_SUBCOMMANDS: dict[str, str] = {
    "crds": "sloserve.cli.crds:crds",
    # the local cluster, in the separate sloserve-dev package (dev-cluster/ of the repository)
    "dev": "sloserve_dev.cli:dev",
    "engine-sim": "sloserve.cli.engine_sim:engine_sim",
    "epp": "sloserve.cli.epp:epp",
    "finetune-worker": "sloserve.cli.finetune_worker:finetune_worker",
    "sim": "sloserve.cli.sim:sim",
    "operator": "sloserve.cli.operator:operator",
    "gateway": "sloserve.cli.gateway:gateway",
    "placement": "sloserve.cli.placement:placement",
    "report": "sloserve.cli.report:report",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing != module_name and not module_name.startswith(f"{missing}."):
                raise
            return None
        command: Any = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="sloserve")
def main() -> None:
    """sloserve: LLM inference on Kubernetes with per-class latency objectives."""
