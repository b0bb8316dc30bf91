"""`sloserve dev`: the local kind cluster for development, tests and the demo."""

from __future__ import annotations

import pathlib

import click

from sloserve_dev import build, paths
from sloserve_dev.kind import cluster, images, lifecycle, tools

_STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Where the cluster's record and kubeconfig are kept "
    "[default: $SLOSERVE_STATE_DIR, else $XDG_STATE_HOME/sloserve/dev].",
)
_FAILURES = (
    build.BuildError,
    tools.ToolsError,
    images.ImageBuildError,
    cluster.KindError,
    RuntimeError,
    FileNotFoundError,
)


def _state_dir(state_dir: pathlib.Path | None) -> pathlib.Path:
    return state_dir if state_dir is not None else paths.default_state_dir()


class _DevGroup(click.Group):
    """`demo` is loaded only when it runs: it brings in the chart, load and report machinery,
    which `up`, `down` and `status` do without; so are the real-vLLM commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "demo", "vllm-env", "vllm-serve"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "demo":
            from sloserve_dev import demo

            return demo.command
        if cmd_name in ("vllm-env", "vllm-serve"):
            from sloserve_dev.real_vllm import cli as real_vllm_cli

            return real_vllm_cli.vllm_env if cmd_name == "vllm-env" else real_vllm_cli.vllm_serve
        return super().get_command(ctx, cmd_name)


def _with_vllm_engine(options: cluster.KindOptions) -> cluster.KindOptions:
    from sloserve_dev.real_vllm import engine_image, environment, tiny_model

    try:
        tiny_model.ensure(environment.ensure())
    except (environment.BuildError, tiny_model.ModelError) as error:
        raise click.ClickException(str(error)) from error
    return engine_image.with_vllm_engine(options)


@click.group(cls=_DevGroup)
def dev() -> None:
    """The local cluster: kind on an engine of our own, built offline, with simulated GPUs."""


@dev.command("build")
@click.option("--force", is_flag=True, help="Run the binaries' build script even if all exist.")
def build_command(force: bool) -> None:
    """Build everything the local cluster needs, once: the Kubernetes binaries, kubectl and
    helm, kind, CoreDNS, the node image, the sloserve image and the vLLM engine image (cached;
    rebuilt when their sources change)."""
    try:
        bin_dir = build.build(force=force)
        from sloserve_dev.real_vllm import engine_image  # noqa: F401  (registers its image)

        for tag, fresh in lifecycle.build_images():
            click.echo(f"{'built' if fresh else 'cached'}: {tag}", err=True)
    except _FAILURES as error:
        raise click.ClickException(str(error)) from error
    click.echo(bin_dir)


@dev.command()
@_STATE_DIR_OPTION
@click.option("--name", default="sloserve", show_default=True, help="The kind cluster's name.")
@click.option(
    "--nodes",
    type=click.IntRange(min=1, max=4),
    default=2,
    show_default=True,
    help="Nodes: a control plane and NODES-1 workers, all with simulated GPUs.",
)
@click.option(
    "--gpu-product",
    default=cluster.DEFAULT_GPU_PRODUCT,
    show_default=True,
    help="The nodes' nvidia.com/gpu.product label.",
)
@click.option(
    "--gpus-per-node",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="The nodes' nvidia.com/gpu capacity.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=10),
    default=300.0,
    show_default=True,
    help="Seconds the nodes and add-ons may take to become ready.",
)
@click.option(
    "--vllm-engine",
    is_flag=True,
    help="Also run real vLLM engines: build the vLLM virtualenv and tiny model if missing, "
    "mount them into the nodes and load the vLLM engine image (see docs/real-vllm.md).",
)
def up(
    state_dir: pathlib.Path | None,
    name: str,
    nodes: int,
    gpu_product: str,
    gpus_per_node: int,
    timeout_s: float,
    vllm_engine: bool,
) -> None:
    """Create the cluster (or find it running) and print the line that points kubectl at it:
    eval "$(sloserve dev up)"."""
    options = cluster.KindOptions(
        name=name, nodes=nodes, gpu_product=gpu_product, gpus_per_node=gpus_per_node
    )
    try:
        if vllm_engine:
            options = _with_vllm_engine(options)
        record, reused = lifecycle.up(_state_dir(state_dir), options, timeout_s=timeout_s)
    except _FAILURES as error:
        raise click.ClickException(str(error)) from error
    verb = "already running" if reused else "created"
    click.echo(f"kind cluster {record.name} {verb} ({', '.join(record.nodes)})", err=True)
    click.echo(f"export KUBECONFIG={record.kubeconfig}")


@dev.command()
@_STATE_DIR_OPTION
def down(state_dir: pathlib.Path | None) -> None:
    """Delete the cluster, its network and fence, and stop the Docker Engine that `up`
    started. Does nothing when no cluster is recorded."""
    directory = _state_dir(state_dir)
    try:
        record = lifecycle.down(directory)
    except _FAILURES as error:
        raise click.ClickException(str(error)) from error
    if record is None:
        click.echo(f"no local cluster recorded in {directory}")
    else:
        click.echo(f"deleted kind cluster {record.name}")


@dev.command()
@_STATE_DIR_OPTION
def status(state_dir: pathlib.Path | None) -> None:
    """Show the recorded cluster's nodes; exit 1 unless every node is Ready."""
    directory = _state_dir(state_dir)
    record = lifecycle.load(directory)
    if record is None:
        click.echo(f"no local cluster recorded in {directory}")
        raise click.exceptions.Exit(1)
    running = lifecycle.handle_of(directory, record)
    listed = running.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product", check=False)
    click.echo(f"cluster:    {record.name}")
    click.echo(f"kubeconfig: {record.kubeconfig}")
    click.echo(listed.stdout or listed.stderr)
    ready = running.kubectl(
        "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=1s", check=False
    )
    if ready.returncode != 0:
        raise click.exceptions.Exit(1)
