"""`python -m sloserve.dev.kubelet`: the local kubelet process, started by `sloserve dev up`
and by the test fixture next to a local control plane."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
from typing import Any

import click

from sloserve.dev import layout
from sloserve.dev.kubelet import config, runtime


def _options(function: click.decorators.FC) -> click.decorators.FC:
    for field in reversed(dataclasses.fields(config.KubeletOptions)):
        flag = "--" + field.name.replace("_", "-")
        function = click.option(flag, field.name, type=type(field.default), default=field.default)(
            function
        )
    return function


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    required=True,
    help="The state directory of the running local cluster.",
)
@_options
def main(state_dir: pathlib.Path, **fields: Any) -> None:
    """Run simulated GPU nodes for the local cluster in STATE_DIR until SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per API request would bury what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = config.KubeletOptions(**fields)
    asyncio.run(runtime.run(layout.ClusterLayout(state_dir), options))


if __name__ == "__main__":
    main()
