"""`sloserve dev`: the local Kubernetes cluster for development, tests and the demo."""

from __future__ import annotations

import pathlib

import click

from sloserve.dev import background, build, layout, paths
from sloserve.dev.kubelet import config

_STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Where the cluster keeps its certificates, kubeconfig, logs and record "
    "[default: $SLOSERVE_STATE_DIR, else $XDG_STATE_HOME/sloserve/dev].",
)


def _layout(state_dir: pathlib.Path | None) -> layout.ClusterLayout:
    return layout.ClusterLayout(state_dir if state_dir is not None else paths.default_state_dir())


class _DevGroup(click.Group):
    """`demo` is loaded only when it runs: it brings in the chart, load and report machinery,
    which `up`, `down` and `status` do without; so are the real-vLLM commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "demo", "vllm-env", "vllm-serve"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "demo":
            from sloserve.dev import demo

            return demo.command
        if cmd_name in ("vllm-env", "vllm-serve"):
            from sloserve.dev.real_vllm import cli as real_vllm_cli

            return real_vllm_cli.vllm_env if cmd_name == "vllm-env" else real_vllm_cli.vllm_serve
        return super().get_command(ctx, cmd_name)


@click.group(cls=_DevGroup)
def dev() -> None:
    """The local cluster: a real control plane on loopback, simulated GPU nodes, the demo."""


@dev.command("build")
@click.option("--force", is_flag=True, help="Run the build script even if every binary exists.")
def build_command(force: bool) -> None:
    """Build etcd, the Kubernetes control plane, kubectl and helm into the cache (once)."""
    try:
        bin_dir = build.build(force=force)
    except build.BuildError as error:
        raise click.ClickException(str(error)) from error
    click.echo(bin_dir)


@dev.command()
@_STATE_DIR_OPTION
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=180.0,
    show_default=True,
    help="Seconds each component may take to become ready.",
)
@click.option(
    "--gpu-nodes",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Simulated GPU nodes run by the local kubelet (0: control plane only).",
)
@click.option(
    "--gpu-product",
    default=config.DEFAULT_GPU_PRODUCT,
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
def up(
    state_dir: pathlib.Path | None,
    timeout_s: float,
    gpu_nodes: int,
    gpu_product: str,
    gpus_per_node: int,
) -> None:
    """Start the cluster in the background (or find it running) and print the line that
    points kubectl at it: eval "$(sloserve dev up)"."""
    cluster_paths = _layout(state_dir)
    kubelet = (
        config.KubeletOptions(nodes=gpu_nodes, gpu_product=gpu_product, gpus_per_node=gpus_per_node)
        if gpu_nodes
        else None
    )
    try:
        bin_dir = build.build()
        result = background.up(cluster_paths, bin_dir=bin_dir, kubelet=kubelet, timeout_s=timeout_s)
    except (build.BuildError, RuntimeError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    for process in result.cleared:
        click.echo(
            f"replaced the recorded cluster, whose {process.name} had exited (log: {process.log})",
            err=True,
        )
    requested = tuple(kubelet.node_names()) if kubelet is not None else ()
    if result.reused and requested != result.record.nodes:
        click.echo(
            f"note: the running cluster has nodes {list(result.record.nodes)}, not "
            f"{list(requested)}; run `sloserve dev down` first to change them",
            err=True,
        )
    verb = "already running" if result.reused else "started"
    nodes = ", ".join(result.record.nodes) or "no nodes"
    click.echo(f"local cluster {verb} at {result.record.server} ({nodes})", err=True)
    click.echo(f"export KUBECONFIG={result.record.kubeconfig}")


@dev.command()
@_STATE_DIR_OPTION
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)
def down(state_dir: pathlib.Path | None, grace_s: float) -> None:
    """Stop the background cluster and delete its etcd data. Does nothing when none runs."""
    cluster_paths = _layout(state_dir)
    try:
        record = background.down(cluster_paths, grace_s=grace_s)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error
    if record is None:
        click.echo(f"no local cluster recorded in {cluster_paths.state_dir}")
    else:
        click.echo(f"stopped the local cluster at {record.server}")


@dev.command()
@_STATE_DIR_OPTION
def status(state_dir: pathlib.Path | None) -> None:
    """Show the background cluster's processes and readiness; exit 1 unless it is healthy."""
    cluster_paths = _layout(state_dir)
    current = background.inspect(cluster_paths)
    if current is None:
        click.echo(f"no local cluster recorded in {cluster_paths.state_dir}")
        raise click.exceptions.Exit(1)
    click.echo(f"server:     {current.record.server}")
    click.echo(f"kubeconfig: {current.record.kubeconfig}")
    click.echo(f"API ready:  {'yes' if current.api_ready else 'no'}")
    click.echo(f"nodes:      {', '.join(current.record.nodes) or 'none'}")
    for process in current.processes:
        condition = "running" if process.running else f"exited (log: {process.log})"
        click.echo(f"  {process.name:<24} pid {process.pid:<8} {condition}")
    if not current.healthy:
        raise click.exceptions.Exit(1)
