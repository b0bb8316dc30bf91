"""How long the operator takes to reconcile many ModelServices, and how much memory it needs.

Starts a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler; no
kubelet, so engine pods stay Pending and no engine process competes for the CPU), the operator as
a subprocess (`sloserve operator`, default settings), creates N ModelServices of one replica each
through the API from 8 threads, and waits until every one has `status.observedGeneration` equal to
its `metadata.generation`: the operator has applied its Deployment, Service and
PodDisruptionBudget and written its status. The clock runs from the first create to the last
reconcile, seen through a watch (so the bench adds no polling load of its own). The API server's
request counts by verb and resource over that time (all clients) say where its work went. Peak
memory is the kernel's high-water mark of the operator's resident set (VmHWM); CPU is the
operator process's user and system time, while reconciling and then while idle with N
ModelServices (status timers only), a settling minute later. The machine's load average is
recorded too: the control plane, the operator and the client share its cores with whatever else
runs there, and the API server's throughput bounds the result.

Where the operator's memory goes: `operator_loaded_onnxruntime` says whether onnxruntime's library
was mapped into the operator when the peak was read (it loads at the first interference
prediction, which no ModelService here asks for); `import_rss_mb` is the resident set of a fresh
interpreter after importing, in turn, what the operator is built on and then the operator, and
what loading the interference predictor (as an operator that predicts does) would add.

Operator settings may be changed through the environment (`SLOSERVE_OPERATOR__...`); the result
records the ones set.

The baseline of the same run: once the operator has stopped, the same writes (N ModelServices,
their three children applied server-side, one status patch each) are made directly from 8
threads; `ratio_to_baseline` is the operator's time over that, what the operator adds to what
the API server on this machine needs anyway.

    python bench/operator/scale.py --count 500 --out bench/results/operator_scale.json
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import workloads
from sloserve.builders.defaults import EngineDefaults
from sloserve.controllers import kube_apply
from sloserve_dev import handle, session

REPO = pathlib.Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "sloserve.io", "v1alpha1", "modelservices"
NAMESPACE = "bench"
FLOOR_NAMESPACE = "bench-floor"
FIELD_MANAGER = "bench-floor"
_TICKS = os.sysconf("SC_CLK_TCK")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def machine() -> dict[str, object]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def modelservice(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "engine": {"kind": "sim", "gpus": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"},
            "replicas": 1,
            "sloClasses": [
                {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
                {"name": "standard", "ttft": "3s", "tpot": "30ms"},
            ],
            "defaultClass": "standard",
        },
    }


def proc_status(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@contextlib.contextmanager
def operator_process(
    kubeconfig: pathlib.Path, log: pathlib.Path
) -> Iterator[subprocess.Popen[bytes]]:
    program = pathlib.Path(sys.executable).parent / "sloserve"
    argv = [str(program) if program.exists() else str(shutil.which("sloserve"))]
    argv += ["operator", "--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE]
    argv += ["--lease-namespace", NAMESPACE]
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


_IMPORT_PROBE = """
import json, sys
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
steps = [('interpreter', None), ('numpy', 'import numpy'),
         ('kubernetes client', 'import kubernetes.client'), ('kopf', 'import kopf'),
         ('sloserve operator', 'import sloserve.operator.app, sloserve.controllers.placement'),
         ('interference predictor loaded',
          'from sloserve.placement.predictors import load_predictor; load_predictor()')]
total = {}
for name, code in steps:
    if code:
        exec(code)
    total[name] = round(rss_mb(), 1)
print(json.dumps(total))
"""


def import_rss() -> dict[str, float]:
    """Cumulative resident MB of a fresh interpreter after each import step (see the docstring)."""
    found = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True
    )
    steps: dict[str, float] = json.loads(found.stdout)
    return steps


def maps_library(pid: int, fragment: str) -> bool:
    """Whether a shared library whose path contains `fragment` is mapped into process `pid`."""
    return fragment in pathlib.Path(f"/proc/{pid}/maps").read_text()


def wait_until(condition: Any, *, what: str, timeout_s: float, interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def crd_established(cluster: handle.ClusterHandle) -> bool:
    # Until the API server writes the first condition, kubectl cannot filter the list: not yet.
    condition = cluster.kubectl(
        "get",
        "crd/modelservices.sloserve.io",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        check=False,
    ).stdout
    return condition.strip() == "True"


class ReconcileWatch:
    """Watches the namespace's ModelServices from a thread and records when each first shows
    `status.observedGeneration` equal to its `metadata.generation`: the moment of the last one is
    the end of the run, exact to the event rather than to a poll (and without listing every
    object again and again, which would load the API server it measures)."""

    def __init__(self, custom: client.CustomObjectsApi, *, count: int) -> None:
        self._custom = custom
        self._count = count
        self._stop = threading.Event()
        self.done = threading.Event()
        self.reconciled_at: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set() and not self.done.is_set():
            try:
                for event in watch.Watch().stream(
                    self._custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    resource_version=version,
                    timeout_seconds=30,
                    allow_watch_bookmarks=True,
                ):
                    body = event["object"]
                    metadata = body.get("metadata") or {}
                    version = metadata.get("resourceVersion", version)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._see(body)
                    if self.done.is_set() or self._stop.is_set():
                        return
            except (ApiException, urllib3.exceptions.HTTPError) as error:
                # An expired version (410) or a broken stream: watch again from now.
                print(f"watch ended ({error}); watching again")
                version = None

    def _see(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        observed = (body.get("status") or {}).get("observedGeneration")
        if name not in self.reconciled_at and observed == body["metadata"].get("generation"):
            self.reconciled_at[name] = time.monotonic()
            if len(self.reconciled_at) >= self._count:
                self.done.set()


def api_requests(cluster: handle.ClusterHandle) -> collections.Counter[str]:
    """Requests the API server has served so far, by verb and resource (all clients), from its
    `apiserver_request_total` counter."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    counts: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(_LABEL.findall(line))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[f"{labels.get('verb')} {resource}"] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def _floor_one(api: client.ApiClient, index: int) -> None:
    """What the operator's writes for one new ModelService come to at the least: the object,
    the three children the builders make for it (owned by it) applied server-side, and one
    status patch."""
    custom = client.CustomObjectsApi(api)
    body = modelservice(f"floor-{index:04d}", FLOOR_NAMESPACE)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, FLOOR_NAMESPACE, PLURAL, body)
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelService",
        "name": created["metadata"]["name"],
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    manifests = workloads.build_children(
        name=created["metadata"]["name"],
        namespace=FLOOR_NAMESPACE,
        spec=ModelServiceSpec.model_validate(body["spec"]),
        defaults=EngineDefaults(sim_image="ghcr.io/sloserve/sloserve:bench"),
    )
    for manifest in manifests:
        manifest["metadata"]["ownerReferences"] = [owner]
        kube_apply.server_side_apply(api, manifest, field_manager=FIELD_MANAGER, timeout_s=60)
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        FLOOR_NAMESPACE,
        PLURAL,
        created["metadata"]["name"],
        {"status": {"observedGeneration": created["metadata"]["generation"]}},
    )


def api_floor(api: client.ApiClient, count: int) -> float:
    """Seconds the API server takes for the same writes as the operator's, made directly from 8
    threads with no operator at all: the baseline of the same run, on the same loaded machine,
    against which the operator's time is a ratio."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda index: _floor_one(api, index), range(count)))
    return time.monotonic() - started


def run(
    count: int,
    work_dir: pathlib.Path,
    *,
    settle_s: float,
    idle_s: float,
    keep_log: pathlib.Path | None = None,
) -> dict[str, Any]:
    with session.local_control_plane(work_dir / "cluster") as cluster:
        cluster.kubectl("apply", "-f", str(REPO / "crds"))
        wait_until(lambda: crd_established(cluster), what="the CRD to be established", timeout_s=60)
        cluster.kubectl("create", "namespace", NAMESPACE)
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(cluster.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = 16
        custom = client.CustomObjectsApi(client.ApiClient(configuration))
        log = work_dir / "operator.log"
        with operator_process(cluster.kubeconfig, log) as operator:
            # Serving, not merely leading: the clock measures reconciling, not start-up.
            wait_until(
                lambda: "serving ModelServices" in log.read_text(),
                what="the operator to serve",
                timeout_s=120,
            )
            rss_before_kb = proc_status(operator.pid, "VmRSS")
            reconciles = ReconcileWatch(custom, count=count)
            reconciles.start()
            requests_before = api_requests(cluster)
            load_before = os.getloadavg()
            cpu_before = cpu_seconds(operator.pid)
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                list(
                    pool.map(
                        lambda index: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NAMESPACE, PLURAL, modelservice(f"msvc-{index:04d}")
                        ),
                        range(count),
                    )
                )
            created_s = time.monotonic() - started
            deadline = time.monotonic() + 1800
            while not reconciles.done.wait(timeout=1.0):
                if operator.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"{len(reconciles.reconciled_at)} of {count} reconciled when the operator "
                        f"exited (status {operator.returncode}) or time ran out; see {log}:\n"
                        + "\n".join(log.read_text().splitlines()[-5:])
                    )
            reconciled_s = max(reconciles.reconciled_at.values()) - started
            reconcile_cpu_s = cpu_seconds(operator.pid) - cpu_before
            load_after = os.getloadavg()
            requests = api_requests(cluster) - requests_before
            reconciles.stop()
            if operator.poll() is not None:
                raise SystemExit(f"the operator exited with {operator.returncode}; see {log}")
            # The controller-manager and scheduler are still creating and placing pods, and the
            # first status refreshes follow: idle is measured once that has settled.
            time.sleep(settle_s)
            cpu_at_start = cpu_seconds(operator.pid)
            time.sleep(idle_s)
            idle_cpu_percent = 100 * (cpu_seconds(operator.pid) - cpu_at_start) / idle_s
            peak_rss_kb = proc_status(operator.pid, "VmHWM")
            rss_after_kb = proc_status(operator.pid, "VmRSS")
            onnxruntime_loaded = maps_library(operator.pid, "onnxruntime")
        if keep_log is not None:
            shutil.copyfile(log, keep_log)
        # With the operator gone, so that it competes with nothing; its own objects and their
        # children stay, so the API server holds as much as it did during the run.
        cluster.kubectl("create", "namespace", FLOOR_NAMESPACE)
        floor_s = api_floor(client.ApiClient(configuration), count)
    ordered = sorted(reconciles.reconciled_at.values())
    return {
        "modelservices": count,
        "seconds_to_reconciled": round(reconciled_s, 1),
        "seconds_to_half_reconciled": round(ordered[len(ordered) // 2] - started, 1),
        "baseline_seconds_same_writes_without_operator": round(floor_s, 1),
        "ratio_to_baseline": round(reconciled_s / floor_s, 2),
        "peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "seconds_creating": round(created_s, 1),
        "operator_cpu_seconds_to_reconciled": round(reconcile_cpu_s, 1),
        "rss_mb_before": round(rss_before_kb / 1024, 1),
        "rss_mb_after": round(rss_after_kb / 1024, 1),
        "operator_loaded_onnxruntime": onnxruntime_loaded,
        "import_rss_mb": import_rss(),
        "idle_cpu_percent": round(idle_cpu_percent, 1),
        "idle_window_s": idle_s,
        "idle_after_s": settle_s,
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "api_requests_to_reconciled": dict(sorted(requests.items(), key=lambda kv: -kv[1])[:20]),
        "operator_settings": {
            name: value
            for name, value in os.environ.items()
            if name.startswith("SLOSERVE_OPERATOR__")
        },
        "setup": "local control plane without kubelet (engine pods stay Pending); operator with "
        "default settings unless operator_settings says otherwise; ModelServices created from 8 "
        "client threads; reconciles seen through a watch",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500, help="ModelServices to create (500)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds before idle (60)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the results here")
    parser.add_argument(
        "--operator-log", type=pathlib.Path, default=None, help="keep the operator's log here"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sloserve-bench-operator-") as work:
        results = run(
            arguments.count,
            pathlib.Path(work),
            settle_s=arguments.settle,
            idle_s=arguments.idle,
            keep_log=arguments.operator_log,
        )
    results["command"] = "python bench/operator/scale.py " + " ".join(sys.argv[1:])
    results["machine"] = machine()
    text = json.dumps(results, indent=1)
    print(text)
    if arguments.out is not None:
        arguments.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
