"""`sloserve dev demo`: the whole system on this machine in one command.

Starts the local cluster with simulated GPU nodes (or finds it running), installs the Helm chart,
applies the sample ModelService with simulated engines, waits until it is Ready, sends a short
mixed-class load through the gateway with the OpenAI SDK while a local Prometheus scrapes the
gateway and the engines, prints the SLO report, and says how to reach the gateway. The cluster
stays up; `sloserve dev down` removes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
import yaml

from sloserve.dev import background, build, handle, layout, paths, prometheus
from sloserve.dev.kubelet import config

if TYPE_CHECKING:
    import openai

RELEASE = "sloserve"
RELEASE_NAMESPACE = "sloserve-system"
DEMO_NAMESPACE = "sloserve-demo"
#: Share of the load in each of the sample's classes.
CLASS_MIX = {"interactive": 0.5, "standard": 0.3, "batch": 0.2}
_SCRAPE_INTERVAL_S = 1.0
_READY_TIMEOUT = "300s"

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the step and what to look at."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """What the demo runs.

    Attributes:
        state_dir: the background cluster's state directory (as `sloserve dev up`).
        repository: the checkout holding `charts/sloserve` and `config/samples`.
        load_seconds: how long the load runs.
        rate_rps: mean request rate of the load (Poisson arrivals).
        seed: seeds the arrivals, classes and lengths, so that runs are comparable.
    """

    state_dir: pathlib.Path
    repository: pathlib.Path
    load_seconds: float = 40.0
    rate_rps: float = 4.0
    seed: int = 7

    @property
    def chart(self) -> pathlib.Path:
        return self.repository / "charts" / "sloserve"

    @property
    def sample(self) -> pathlib.Path:
        return self.repository / "config" / "samples" / "modelservice-sim.yaml"


@dataclasses.dataclass(frozen=True)
class RequestResult:
    """One request of the load: its class, `served`, `rejected` or `failed (…)`, and the time to
    its first token as the client saw it."""

    slo_class: str
    status: str
    ttft_s: float | None


def find_repository() -> pathlib.Path:
    """The checkout this package runs from, else the current directory; either must hold the
    chart. Raises DemoError saying where it looked."""
    candidates = [pathlib.Path(__file__).resolve().parents[3], pathlib.Path.cwd()]
    for candidate in candidates:
        if (candidate / "charts" / "sloserve" / "Chart.yaml").is_file():
            return candidate
    raise DemoError(
        f"no charts/sloserve in {' or '.join(map(str, candidates))}: run the demo from a "
        "checkout of the repository"
    )


def _run(cluster: handle.ClusterHandle, tool: str, *args: str, step: str) -> str:
    run = cluster.kubectl if tool == "kubectl" else cluster.helm
    completed = run(*args, check=False)
    if completed.returncode != 0:
        raise DemoError(f"{step} failed:\n{completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout


def start_cluster(settings: DemoSettings, say: Say) -> handle.ClusterHandle:
    """The background cluster with two simulated 8-GPU nodes, started unless it runs."""
    bin_dir = build.build()
    result = background.up(
        layout.ClusterLayout(settings.state_dir),
        bin_dir=bin_dir,
        kubelet=config.KubeletOptions(),
        timeout_s=180.0,
    )
    verb = "found running" if result.reused else "started"
    say(f"local cluster {verb} at {result.record.server} ({', '.join(result.record.nodes)})")
    return handle.ClusterHandle(
        kubeconfig=result.record.kubeconfig,
        bin_dir=bin_dir,
        server=result.record.server,
        nodes=result.record.nodes,
    )


def install_chart(
    cluster: handle.ClusterHandle, settings: DemoSettings, *, classes: list[str]
) -> None:
    """`helm upgrade --install` of the chart. Local pods share this machine's network, so each
    listens on its own pod IP; requests without an API key may use every class of the sample."""
    anonymous = {"tenants": [], "anonymous": {"allowedClasses": classes}}
    _run(
        cluster,
        "helm",
        "upgrade",
        "--install",
        RELEASE,
        str(settings.chart),
        f"--namespace={RELEASE_NAMESPACE}",
        "--create-namespace",
        "--set=listenAddress=$(POD_IP)",
        f"--set-json=gateway.tenants.config={json.dumps(anonymous)}",
        "--wait",
        f"--timeout={_READY_TIMEOUT}",
        step="installing the Helm chart",
    )


def deploy_sample(cluster: handle.ClusterHandle, settings: DemoSettings, *, name: str) -> None:
    """Applies the sample ModelService and waits until it is Ready."""
    applied = cluster.kubectl("get", "namespace", DEMO_NAMESPACE, "--ignore-not-found", "-o=name")
    if not applied.stdout.strip():
        _run(cluster, "kubectl", "create", "namespace", DEMO_NAMESPACE, step="creating a namespace")
    _run(
        cluster,
        "kubectl",
        "apply",
        f"--namespace={DEMO_NAMESPACE}",
        f"--filename={settings.sample}",
        step="applying the sample ModelService",
    )
    _run(
        cluster,
        "kubectl",
        "wait",
        f"--namespace={DEMO_NAMESPACE}",
        "--for=condition=Ready",
        f"--timeout={_READY_TIMEOUT}",
        f"modelservice/{name}",
        step=f"waiting for ModelService {name} to be Ready",
    )


def _pods(cluster: handle.ClusterHandle) -> dict[str, Any]:
    listing: dict[str, Any] = json.loads(
        _run(cluster, "kubectl", "get", "pods", "-A", "-o", "json", step="listing pods")
    )
    return listing


def gateway_url(cluster: handle.ClusterHandle) -> str:
    """A ready gateway pod's address: local pod IPs are addresses of this machine."""
    listing = json.loads(
        _run(
            cluster,
            "kubectl",
            "get",
            "endpointslices",
            f"--namespace={RELEASE_NAMESPACE}",
            f"--selector=kubernetes.io/service-name={RELEASE}-gateway",
            "-o",
            "json",
            step="finding the gateway",
        )
    )
    for item in listing["items"]:
        for endpoint in item.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is not False:
                return f"http://{endpoint['addresses'][0]}:{item['ports'][0]['port']}"
    raise DemoError(f"no ready gateway pod in namespace {RELEASE_NAMESPACE}")


def scrape_targets(pods: dict[str, Any]) -> list[prometheus.ScrapeTarget]:
    """The annotated pods (the gateways), and every engine pod at its `http` port."""
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


async def _request(
    client: openai.AsyncOpenAI, *, model: str, slo_class: str, prompt_words: int, max_tokens: int
) -> RequestResult:
    import openai  # a development dependency: `sloserve dev` must load without it

    started = time.monotonic()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": " ".join(["token"] * prompt_words)}],
            max_tokens=max_tokens,
            stream=True,
            extra_headers={"x-slo-class": slo_class},
        )
        first: float | None = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
        return RequestResult(slo_class, "served", first)
    except openai.RateLimitError:
        return RequestResult(slo_class, "rejected", None)
    except openai.APIError as error:
        return RequestResult(slo_class, f"failed ({type(error).__name__})", None)


async def _load(base_url: str, *, model: str, settings: DemoSettings) -> list[RequestResult]:
    import openai  # a development dependency: `sloserve dev` must load without it

    rng = random.Random(settings.seed)
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="demo", max_retries=0)
    tasks: list[asyncio.Task[RequestResult]] = []
    deadline = time.monotonic() + settings.load_seconds
    try:
        while time.monotonic() < deadline:
            slo_class = rng.choices(list(CLASS_MIX), weights=list(CLASS_MIX.values()))[0]
            request = _request(
                client,
                model=model,
                slo_class=slo_class,
                prompt_words=rng.randint(50, 800),
                max_tokens=rng.randint(16, 160),
            )
            tasks.append(asyncio.create_task(request))
            await asyncio.sleep(rng.expovariate(settings.rate_rps))
        return list(await asyncio.gather(*tasks))
    finally:
        await client.close()


def client_summary(results: list[RequestResult]) -> str:
    """Per class, as the client saw it: requests, served, rejected, failed, TTFT p50 and max."""
    lines = [f"{'class':<12} {'sent':>5} {'served':>7} {'rejected':>9} {'failed':>7} ttft p50/max"]
    for slo_class in CLASS_MIX:
        mine = [result for result in results if result.slo_class == slo_class]
        ttfts = [r.ttft_s for r in mine if r.ttft_s is not None]
        latency = (
            f"{statistics.median(ttfts) * 1000:.0f} / {max(ttfts) * 1000:.0f} ms" if ttfts else "-"
        )
        served = sum(r.status == "served" for r in mine)
        rejected = sum(r.status == "rejected" for r in mine)
        failed = len(mine) - served - rejected
        lines.append(
            f"{slo_class:<12} {len(mine):>5} {served:>7} {rejected:>9} {failed:>7} {latency}"
        )
    return "\n".join(lines)


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


def how_to_reach(
    cluster: handle.ClusterHandle, base_url: str, *, name: str, model: str, down: str
) -> str:
    request = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}
    )
    return f"""
The cluster is still up. Point kubectl at it:
  export KUBECONFIG={cluster.kubeconfig} PATH={cluster.bin_dir}:$PATH
  kubectl get modelservices -A
  kubectl -n {RELEASE_NAMESPACE} get pods
  kubectl -n {DEMO_NAMESPACE} scale modelservice/{name} --replicas=3

The gateway (a pod address on this machine; in a real cluster, the Service {RELEASE}-gateway):
  curl -s {base_url}/v1/models
  curl -s {base_url}/v1/chat/completions -H 'content-type: application/json' \\
    -H 'x-slo-class: interactive' -d '{request}'

With the OpenAI SDK:
  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="unused")
  client.chat.completions.create(model="{model}", max_tokens=32,
      messages=[{{"role": "user", "content": "Hello"}}], extra_headers={{"x-slo-class": "batch"}})

A report over the gateway's live metrics:  sloserve report --gateway {base_url} --window 1m
Tear everything down:                      {down}
"""


def run(settings: DemoSettings, *, say: Say) -> float:
    """Runs the demo; returns its wall time in seconds. Raises DemoError naming a failed step."""
    started = time.monotonic()
    sample: dict[str, Any] = yaml.safe_load(settings.sample.read_text())
    model = str(sample["spec"]["model"])
    classes = [str(slo_class["name"]) for slo_class in sample["spec"]["sloClasses"]]
    cluster = start_cluster(settings, say)
    say(f"installing the chart as release {RELEASE} in namespace {RELEASE_NAMESPACE}...")
    install_chart(cluster, settings, classes=classes)
    say(f"applying {settings.sample.name} in namespace {DEMO_NAMESPACE}, waiting for Ready...")
    name = str(sample["metadata"]["name"])
    deploy_sample(cluster, settings, name=name)
    base_url = gateway_url(cluster)
    say(f"ready after {time.monotonic() - started:.0f} s; gateway at {base_url}")
    monitor: prometheus.LocalPrometheus | None = None
    try:
        monitor = prometheus.start_prometheus(
            targets=scrape_targets(_pods(cluster)), scrape_interval_s=_SCRAPE_INTERVAL_S
        )
    except prometheus.PrometheusUnavailableError as error:
        say(f"no SLO report from Prometheus: {error}")
    try:
        say(
            f"sending {settings.load_seconds:.0f} s of load at {settings.rate_rps:g} req/s, "
            f"classes {', '.join(f'{c} {share:.0%}' for c, share in CLASS_MIX.items())}..."
        )
        load_started = time.monotonic()
        results = asyncio.run(_load(base_url, model=model, settings=settings))
        say("\nWhat the client saw:\n" + client_summary(results))
        if monitor is not None:
            # Two scrapes after the last request, so that the report sees all of it.
            time.sleep(3 * _SCRAPE_INTERVAL_S)
            say("\nThe SLO report (sloserve report, from the local Prometheus):")
            print_report(monitor.url, window_s=time.monotonic() - load_started + 5, say=say)
    finally:
        if monitor is not None:
            monitor.stop()
    down = "sloserve dev down"
    if settings.state_dir != paths.default_state_dir():
        down += f" --state-dir {settings.state_dir}"
    say(how_to_reach(cluster, base_url, name=name, model=model, down=down))
    elapsed = time.monotonic() - started
    say(f"demo finished in {elapsed:.0f} s")
    return elapsed


@click.command("demo")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="The background cluster's state directory [default: as `sloserve dev up`].",
)
@click.option(
    "--duration",
    "load_seconds",
    type=click.FloatRange(min=5, max=600),
    default=40.0,
    show_default=True,
    help="Seconds of load.",
)
@click.option(
    "--rate",
    "rate_rps",
    type=click.FloatRange(min=0.1, max=50),
    default=4.0,
    show_default=True,
    help="Mean requests per second (Poisson arrivals).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the load.")
def command(
    state_dir: pathlib.Path | None, load_seconds: float, rate_rps: float, seed: int
) -> None:
    """Bring up the local cluster, install the chart, deploy the sample ModelService with
    simulated engines, send a short mixed-class load and print the SLO report. The cluster
    stays up; `sloserve dev down` removes it."""
    try:
        settings = DemoSettings(
            state_dir=state_dir if state_dir is not None else paths.default_state_dir(),
            repository=find_repository(),
            load_seconds=load_seconds,
            rate_rps=rate_rps,
            seed=seed,
        )
        run(settings, say=click.echo)
    except (DemoError, build.BuildError, RuntimeError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
