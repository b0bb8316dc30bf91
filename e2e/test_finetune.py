"""A FineTuneJob beside a ModelService, as its owner sees it: the operator places the simulated
LoRA worker next to the engine where the interference predictor says the engine keeps its
headroom, ramps it up while the inference class meets its objectives, throttles it when a burst
of long prompts makes the class miss them (in the job's status and the worker's metrics), and a
job paused and then moved to a new worker pod resumes from its checkpoint without losing a step.

The session's release runs the FineTuneJob controller with short time constants (conftest.py:
decisions every second, a 10 s SLO window) so that each phase takes seconds. The tests run in
this order and share one ModelService and one job."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from e2e import gateway_access, kube, providers, tenants, traffic, waiting
from e2e.chart_release import ChartRelease
from sloserve_dev import handle

SERVICE = "ft-llama"
# its own model: the gateway routes a model to one ModelService at a time, so one that another
# module serves (or still deletes) would be refused here, and this one there
MODEL = "e2e/finetune-model"
JOB = "ft-adapter"
WORKER = f"{JOB}-ft-worker"
WORKER_PORT = 8010
CLAIM = "ft-checkpoints"
MAX_SHARE = 0.5
#: A class that one request at a time meets and a burst of long prompts misses.
SLO_CLASS = "interactive"
#: Words of each burst prompt (the simulated engine counts a word as a token): 40 of them hold
#: the engine's prefill for seconds, past the class's 1 s TTFT.
BURST_WORDS = 3000
BURST_REQUESTS = 40
READY_TIMEOUT_S = 180.0
PHASE_TIMEOUT_S = 90.0

Json = dict[str, Any]


@pytest.fixture(scope="module")
def namespace(provider: providers.Provider, release: ChartRelease) -> Iterator[str]:
    name = f"e2e-finetune-{uuid.uuid4().hex[:6]}"
    provider.cluster.kubectl("create", "namespace", name)
    yield name
    # gone before the next module starts: its engine and worker pods would hold the nodes' room
    provider.cluster.kubectl(
        "delete", "namespace", name, "--wait=true", "--timeout=180s", check=False
    )


def _apply(cluster: handle.ClusterHandle, namespace: str, *objects: Json) -> None:
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects)
    )


def _modelservice() -> Json:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": SERVICE},
        "spec": {
            "model": MODEL,
            "engine": {
                "kind": "sim",
                "profile": "h100-llama3-8b",
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
            },
            "replicas": 1,
            "sloClasses": [{"name": SLO_CLASS, "ttft": "1s", "tpot": "100ms"}],
            "defaultClass": SLO_CLASS,
        },
    }


def _job() -> Json:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "FineTuneJob",
        "metadata": {"name": JOB},
        "spec": {
            "modelService": {"name": SERVICE},
            "adapter": {"rank": 16},
            "dataset": {"configMap": {"name": "tickets", "key": "train.jsonl"}},
            # more steps than the test lasts: it never finishes on its own
            "training": {"steps": 1_000_000, "microBatchSize": 4, "sequenceLength": 512},
            "gpuBudget": {"maxShare": MAX_SHARE},
            "checkpoints": {"claimName": CLAIM, "everySteps": 5},
            "worker": {"kind": "sim"},
        },
    }


def _tickets() -> Json:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "tickets"},
        "data": {"train.jsonl": '{"text": "my order never arrived"}\n'},
    }


def _ftj(cluster: handle.ClusterHandle, namespace: str) -> Json:
    return kube.get(cluster, "ftj", JOB, "-n", namespace)


def _status(cluster: handle.ClusterHandle, namespace: str) -> Json:
    status: Json = _ftj(cluster, namespace).get("status") or {}
    return status


def _describe(cluster: handle.ClusterHandle, namespace: str) -> Any:
    """The job's status and its worker pod's, for a wait that timed out."""

    def describe() -> str:
        pod: Json = {}
        if kube.exists(cluster, "pod", WORKER, namespace):
            found = kube.get(cluster, "pod", WORKER, "-n", namespace).get("status") or {}
            pod = {key: found.get(key) for key in ("phase", "conditions", "containerStatuses")}
        return yaml.safe_dump({"job status": _status(cluster, namespace), "worker pod": pod})

    return describe


def _completed_steps(cluster: handle.ClusterHandle, namespace: str) -> int:
    """Steps the job's status counts (0 until the operator has read the worker)."""
    return int((_status(cluster, namespace).get("progress") or {}).get("completedSteps", 0))


def _worker(cluster: handle.ClusterHandle, namespace: str, path: str) -> str | None:
    """The worker's `path` (`status`, `metrics`) through the API server's pod proxy, or None
    while it does not answer."""
    answer = cluster.kubectl(
        "get",
        "--raw",
        f"/api/v1/namespaces/{namespace}/pods/{WORKER}:{WORKER_PORT}/proxy/{path}",
        check=False,
    )
    return answer.stdout if answer.returncode == 0 else None


def _worker_status(cluster: handle.ClusterHandle, namespace: str) -> Json | None:
    text = _worker(cluster, namespace, "status")
    return None if text is None else dict(json.loads(text))


def _gauge(metrics: str, name: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(f"sloserve_finetune_{name}{{") and f'job="{JOB}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


class _Load:
    """Requests in the class from a thread until stopped: one short one at a time (which the
    class meets), or bursts of long ones (which it does not)."""

    def __init__(self, urls: list[str], *, burst: bool) -> None:
        self._urls = urls
        self._burst = burst
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        while not self._stop.is_set():
            count = BURST_REQUESTS if self._burst else 1
            traffic.drive(
                base_urls=lambda: self._urls,
                api_key=tenants.ALL_CLASSES_KEY,
                model=MODEL,
                requests_per_class={SLO_CLASS: count},
                concurrency=count,
                max_tokens=16 if self._burst else 4,
                prompt=" ".join(["word"] * BURST_WORDS) if self._burst else None,
            )
            self.sent += count
            self._stop.wait(0.0 if self._burst else 0.5)


@pytest.fixture(scope="module")
def gateway_urls(gateway: gateway_access.GatewayAccess) -> list[str]:
    def serves_model() -> list[str] | None:
        urls = gateway.urls()
        for url in urls:
            models = httpx.get(f"{url}/v1/models", timeout=10).json()
            if MODEL not in {entry["id"] for entry in models.get("data", [])}:
                return None
        return urls or None

    return waiting.until(serves_model, what=f"see every gateway pod list {MODEL}", timeout_s=120)


@pytest.fixture(scope="module")
def served(provider: providers.Provider, namespace: str) -> str:
    """The ModelService, Ready with its one engine; the name of the engine's node."""
    cluster = provider.cluster
    _apply(cluster, namespace, _modelservice())

    def engine_node() -> str | None:
        body = kube.get(cluster, "modelservice", SERVICE, "-n", namespace)
        ready = [
            c
            for c in (body.get("status") or {}).get("conditions") or []
            if c["type"] == "Ready" and c["status"] == "True"
        ]
        pods = kube.get(
            cluster, "pods", "-n", namespace, "-l", f"sloserve.io/modelservice={SERVICE}"
        )["items"]
        nodes = {p["spec"].get("nodeName") for p in pods if p["status"].get("phase") == "Running"}
        return nodes.pop() if ready and len(nodes) == 1 else None

    return waiting.until(
        engine_node,
        what=f"see ModelService {SERVICE} Ready with its engine on a node",
        timeout_s=READY_TIMEOUT_S,
        interval_s=1.0,
    )


@pytest.fixture(scope="module")
def checkpoint_claim(
    provider: providers.Provider, release: ChartRelease, namespace: str, served: str
) -> Iterator[str]:
    """A claim for the job's checkpoints, bound to a hostPath volume on the engine's node (the
    local nodes have no provisioner), made writable for the image's user by a pod running as
    root once, as a cluster administrator would prepare a node-local volume."""
    cluster = provider.cluster
    volume = f"{namespace}-{CLAIM}"
    image = kube.get(cluster, "deployment", release.operator, "-n", release.namespace)["spec"][
        "template"
    ]["spec"]["containers"][0]["image"]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "persistentVolumeReclaimPolicy": "Delete",
                    "claimRef": {"namespace": namespace, "name": CLAIM},
                    "hostPath": {
                        "path": f"/var/lib/sloserve-e2e/{volume}",
                        "type": "DirectoryOrCreate",
                    },
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": [served],
                                        }
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        ),
    )
    _apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "ft-checkpoints-owner"},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsUser": 0},
                "containers": [
                    {
                        "name": "chown",
                        "image": image,
                        "command": ["python3", "-c", "import os; os.chown('/volume', 10001, 0)"],
                        "volumeMounts": [{"name": "volume", "mountPath": "/volume"}],
                    }
                ],
                "volumes": [{"name": "volume", "persistentVolumeClaim": {"claimName": CLAIM}}],
            },
        },
    )
    waiting.until(
        lambda: (
            kube.get(cluster, "pod", "ft-checkpoints-owner", "-n", namespace)["status"].get("phase")
            == "Succeeded"
        ),
        what="see the checkpoint volume made writable for the worker's user",
        timeout_s=90,
        describe=lambda: yaml.safe_dump(
            kube.get(cluster, "pod", "ft-checkpoints-owner", "-n", namespace)["status"]
        ),
    )
    yield CLAIM
    cluster.kubectl("delete", "pv", volume, "--wait=false", check=False)


def test_the_job_runs_beside_the_engine_where_the_predictor_placed_it(
    provider: providers.Provider,
    namespace: str,
    served: str,
    checkpoint_claim: str,
    gateway_urls: list[str],
) -> None:
    cluster = provider.cluster
    _apply(cluster, namespace, _tickets(), _job())
    describe = _describe(cluster, namespace)
    with _Load(gateway_urls, burst=False):
        # no figures yet: the worker waits at share 0; a window of met requests ramps it up
        waiting.until(
            lambda: (
                (_status(cluster, namespace).get("throttle") or {}).get("share") == MAX_SHARE
                and _completed_steps(cluster, namespace) > 0
            ),
            what=f"see the job ramped up to its maxShare {MAX_SHARE} and stepping",
            timeout_s=PHASE_TIMEOUT_S,
            describe=describe,
        )
    status = _status(cluster, namespace)
    assert status["phase"] == "Running"
    assert status["node"] == served
    conditions = {c["type"]: c for c in status["conditions"]}
    assert {kind: c["status"] for kind, c in conditions.items()} == {
        "BaseModelResolved": "True",
        "DatasetResolved": "True",
        "Placed": "True",
    }
    # the operator asked the interference predictor, as the scheduler extender does
    assert conditions["Placed"]["reason"] == "Predicted"
    assert served in conditions["Placed"]["message"]
    pod = kube.get(cluster, "pod", WORKER, "-n", namespace)
    assert pod["metadata"]["annotations"]["placement.sloserve.io/workload-kind"].startswith(
        "peft_1b_"
    )
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["sloserve"]
    assert container["args"][0] == "finetune-worker"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {
        "/var/lib/sloserve/checkpoints",
        "/var/lib/sloserve/dataset",
    }
    metrics = waiting.until(
        lambda: _worker(cluster, namespace, "metrics"), what="read the worker's metrics",
        timeout_s=30,
    )  # fmt: skip
    assert _gauge(metrics, "share") == MAX_SHARE
    assert (_gauge(metrics, "steps") or 0) > 0


def test_rising_load_throttles_it_in_its_status_and_metrics(
    provider: providers.Provider, namespace: str, gateway_urls: list[str]
) -> None:
    cluster = provider.cluster
    describe = _describe(cluster, namespace)

    def throttled() -> Json | None:
        status = _status(cluster, namespace)
        throttle = status.get("throttle") or {}
        return status if throttle.get("share", MAX_SHARE) < MAX_SHARE else None

    with _Load(gateway_urls, burst=True), _Load(gateway_urls, burst=False):
        status = waiting.until(
            throttled,
            what=f"see the burst of long prompts throttle the job below {MAX_SHARE}",
            timeout_s=PHASE_TIMEOUT_S,
            describe=describe,
        )
        metrics = waiting.until(
            lambda: _worker(cluster, namespace, "metrics"), what="read the worker's metrics",
            timeout_s=30,
        )  # fmt: skip
    throttle = status["throttle"]
    assert f"{SLO_CLASS} headroom" in throttle["reason"]
    assert "below" in throttle["reason"]
    assert throttle["headroom"] < 0.2
    assert status["phase"] in ("Throttled", "Paused")
    share = _gauge(metrics, "share")
    paused = _gauge(metrics, "paused")
    assert share is not None
    assert paused is not None
    assert share < MAX_SHARE or paused == 1.0, metrics
    reasons = {
        event["reason"]
        for event in kube.get(
            cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={JOB}"
        )["items"]
    }
    assert reasons & {"Throttled", "Paused"}, reasons


def test_a_paused_job_moved_to_a_new_worker_resumes_from_its_checkpoint(
    provider: providers.Provider, namespace: str, gateway_urls: list[str]
) -> None:
    cluster = provider.cluster
    describe = _describe(cluster, namespace)
    cluster.kubectl(
        "patch", "ftj", JOB, "-n", namespace, "--type=merge", "-p", '{"spec": {"paused": true}}'
    )

    def paused_worker() -> Json | None:
        found = _worker_status(cluster, namespace)
        return found if found is not None and found["state"] == "paused" else None

    at_pause = waiting.until(paused_worker, what="see the worker paused", timeout_s=30)
    steps = at_pause["completedSteps"]
    # pausing checkpoints: every completed step is in the checkpoint
    assert at_pause["checkpointStep"] == steps
    assert steps > 0
    waiting.until(
        lambda: _status(cluster, namespace).get("phase") == "Paused",
        what="see the job Paused in its status",
        timeout_s=30,
        describe=describe,
    )
    old_uid = kube.get(cluster, "pod", WORKER, "-n", namespace)["metadata"]["uid"]
    # the worker pod goes (a drained node, an eviction); the operator makes a new one, which
    # starts from the checkpoint on the same volume
    cluster.kubectl("delete", "pod", WORKER, "-n", namespace, "--wait=true")

    def new_worker() -> Json | None:
        if not kube.exists(cluster, "pod", WORKER, namespace):
            return None
        pod = kube.get(cluster, "pod", WORKER, "-n", namespace)
        if pod["metadata"]["uid"] == old_uid:
            return None
        return _worker_status(cluster, namespace)

    resumed = waiting.until(
        new_worker, what="see a new worker pod answer", timeout_s=PHASE_TIMEOUT_S,
        describe=describe,
    )  # fmt: skip
    assert resumed["state"] == "paused"
    assert (resumed["completedSteps"], resumed["checkpointStep"]) == (steps, steps)

    cluster.kubectl(
        "patch", "ftj", JOB, "-n", namespace, "--type=merge", "-p", '{"spec": {"paused": false}}'
    )
    with _Load(gateway_urls, burst=False):
        # the burst is over: a window of met requests lets the throttle ramp the job up again
        later = waiting.until(
            lambda: (
                found
                if (found := _worker_status(cluster, namespace)) is not None
                and found["completedSteps"] > steps
                else None
            ),
            what=f"see the resumed worker step past step {steps}",
            timeout_s=PHASE_TIMEOUT_S,
            describe=describe,
        )
    assert later["state"] == "running"
    waiting.until(
        lambda: _completed_steps(cluster, namespace) > steps,
        what="see the job's status count the steps after the resume",
        timeout_s=30,
        describe=describe,
    )
    assert _status(cluster, namespace)["progress"]["checkpointStep"] >= steps
