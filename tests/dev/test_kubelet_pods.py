"""The local kubelet runs pods as processes: address, readiness, restarts, deletion."""

from __future__ import annotations

import ipaddress
import os
import socket

import httpx
import pytest

from dev.helpers import SLOSERVE_IMAGE, apply, get_object, is_ready, python_pod, wait_for_pod
from sloserve.dev import handle

pytestmark = pytest.mark.usefixtures("local_only")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


# Pods share this machine's network: a port no other process listens on, even on 0.0.0.0.
_PORT = _free_port()
_HTTP_SERVER = ["-m", "http.server", "--bind", "$(POD_IP)", str(_PORT)]


def _container_pid(pod: dict[str, object]) -> int:
    statuses = pod["status"]["containerStatuses"]  # type: ignore[index]
    return int(statuses[0]["containerID"].removeprefix("sloserve-local://"))


def test_pod_gets_its_own_address_and_becomes_ready_through_its_probe(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod(
        "web",
        namespace,
        args=_HTTP_SERVER,
        ports=[{"name": "http", "containerPort": _PORT}],
        readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    )
    apply(kube_cluster, manifest)

    pod = wait_for_pod(kube_cluster, namespace, "web", is_ready, what="Ready")

    status = pod["status"]
    address = ipaddress.ip_address(status["podIP"])
    assert not address.is_loopback
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["ready"] is True
    assert pod["spec"]["nodeName"] in kube_cluster.nodes
    node = get_object(kube_cluster, "node", pod["spec"]["nodeName"], namespace)
    assert node is not None
    assert status["hostIP"] == node["status"]["addresses"][0]["address"]
    # The server bound the address it was given through $(POD_IP): reachable there.
    assert httpx.get(f"http://{status['podIP']}:{_PORT}/", timeout=5).status_code == 200


def test_two_pods_listen_on_the_same_port_at_different_addresses(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    for name in ("left", "right"):
        manifest = python_pod(
            name,
            namespace,
            args=_HTTP_SERVER,
            readinessProbe={"tcpSocket": {"port": _PORT}, "periodSeconds": 1},
        )
        apply(kube_cluster, manifest)
    ips = [
        wait_for_pod(kube_cluster, namespace, name, is_ready, what="Ready")["status"]["podIP"]
        for name in ("left", "right")
    ]

    assert ips[0] != ips[1]
    for ip in ips:
        assert httpx.get(f"http://{ip}:{_PORT}/", timeout=5).status_code == 200


def test_crashing_container_is_restarted_with_back_off(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    apply(kube_cluster, python_pod("crasher", namespace, args=["-c", "raise SystemExit(3)"]))

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "crasher",
        lambda pod: pod["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 2,
        what="two restarts",
    )

    container = pod["status"]["containerStatuses"][0]
    assert container["lastState"]["terminated"]["exitCode"] == 3
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert pod["status"]["phase"] == "Running"
    wait_for_pod(
        kube_cluster,
        namespace,
        "crasher",
        lambda pod: (
            pod["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        ),
        what="CrashLoopBackOff",
    )


@pytest.mark.parametrize(
    ("policy", "code", "phase"),
    [("Never", 3, "Failed"), ("OnFailure", 0, "Succeeded"), ("Never", 0, "Succeeded")],
)
def test_container_that_exits_for_good_ends_the_pod_in_a_terminal_phase(
    kube_cluster: handle.ClusterHandle, namespace: str, policy: str, code: int, phase: str
) -> None:
    manifest = python_pod(
        "once", namespace, args=["-c", f"raise SystemExit({code})"], restart_policy=policy
    )
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster, namespace, "once", lambda pod: pod["status"].get("phase") == phase, what=phase
    )

    container = pod["status"]["containerStatuses"][0]
    assert container["restartCount"] == 0
    assert container["state"]["terminated"]["exitCode"] == code


def test_failing_liveness_probe_restarts_the_container(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod(
        "unhealthy",
        namespace,
        args=_HTTP_SERVER,
        livenessProbe={"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2},
    )
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "unhealthy",
        lambda pod: pod["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1,
        what="a restart after the liveness probe failed",
    )

    assert "terminated" in pod["status"]["containerStatuses"][0]["lastState"]


def test_deleted_pod_is_stopped_with_sigterm_and_removed(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    apply(kube_cluster, python_pod("server", namespace, args=_HTTP_SERVER))
    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "server",
        lambda pod: "running" in pod["status"].get("containerStatuses", [{}])[0].get("state", {}),
        what="running",
    )
    pid = _container_pid(pod)

    kube_cluster.kubectl("delete", "pod", "server", "-n", namespace, "--timeout=30s")

    assert get_object(kube_cluster, "pod", "server", namespace) is None
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def test_deleted_pod_ignoring_sigterm_is_killed_after_its_grace_period(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    manifest = python_pod("stubborn", namespace, args=["-c", stubborn])
    manifest["spec"]["terminationGracePeriodSeconds"] = 1
    apply(kube_cluster, manifest)
    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "stubborn",
        lambda pod: "running" in pod["status"].get("containerStatuses", [{}])[0].get("state", {}),
        what="running",
    )
    pid = _container_pid(pod)

    kube_cluster.kubectl("delete", "pod", "stubborn", "-n", namespace, "--timeout=30s")

    assert get_object(kube_cluster, "pod", "stubborn", namespace) is None
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def test_image_without_a_local_stand_in_waits_with_err_image_pull(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod("nginx", namespace, args=[])
    manifest["spec"]["containers"][0]["image"] = "nginx:1.27"

    apply(kube_cluster, manifest)
    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "nginx",
        lambda pod: (
            pod["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "ErrImagePull"
        ),
        what="ErrImagePull",
    )

    message = pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert "nginx:1.27" in message
    assert "sloserve" in message
    assert pod["status"]["phase"] == "Pending"
    assert SLOSERVE_IMAGE not in message


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kubectl_logs_shows_the_container_output_and_the_previous_run(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    apply(
        kube_cluster,
        python_pod(
            "talker", namespace, args=["-c", "print('hello from the pod'); raise SystemExit(1)"]
        ),
    )
    wait_for_pod(
        kube_cluster,
        namespace,
        "talker",
        lambda pod: pod["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1,
        what="a restart",
    )

    current = kube_cluster.kubectl("logs", "talker", "-n", namespace)
    previous = kube_cluster.kubectl("logs", "talker", "-n", namespace, "--previous")
    missing = kube_cluster.kubectl("logs", "talker", "-n", namespace, "-c", "other", check=False)

    assert "hello from the pod" in previous.stdout
    assert current.returncode == 0
    assert missing.returncode != 0


def test_vllm_image_runs_the_engine_simulator_which_becomes_ready(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    # A port of its own: every pod shares this machine's network, and a process elsewhere that
    # listens on 0.0.0.0:8000 would answer on every pod address.
    port = _free_port()
    manifest = python_pod(
        "engine",
        namespace,
        args=[
            "--model",
            "test-model",
            "--profile",
            "synthetic",
            "--host",
            "$(POD_IP)",
            "--port",
            str(port),
        ],
        ports=[{"name": "http", "containerPort": port}],
        readinessProbe={"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 1},
    )
    engine = manifest["spec"]["containers"][0]
    engine["image"] = "vllm/vllm-openai:v0.10.0"
    del engine["command"]
    apply(kube_cluster, manifest)

    pod = wait_for_pod(kube_cluster, namespace, "engine", is_ready, what="Ready")

    models = httpx.get(f"http://{pod['status']['podIP']}:{port}/v1/models", timeout=5).json()
    assert [model["id"] for model in models["data"]] == ["test-model"]


def test_init_containers_run_first_and_probes_gate_the_main_container(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod(
        "staged",
        namespace,
        args=_HTTP_SERVER,
        ports=[{"name": "http", "containerPort": _PORT}],
        startupProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 30},
        readinessProbe={
            "exec": {"command": ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"]},
            "periodSeconds": 1,
        },
    )
    manifest["spec"]["initContainers"] = [
        {
            "name": "prepare",
            "image": SLOSERVE_IMAGE,
            "command": ["python", "-c", "print('prepared')"],
        }
    ]
    apply(kube_cluster, manifest)

    pod = wait_for_pod(kube_cluster, namespace, "staged", is_ready, what="Ready")

    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    main = pod["status"]["containerStatuses"][0]
    assert main["started"] is True
    assert main["ready"] is True
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "True"


def test_failing_init_container_of_a_never_restarting_pod_fails_it(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod("blocked", namespace, args=_HTTP_SERVER, restart_policy="Never")
    manifest["spec"]["initContainers"] = [
        {"name": "prepare", "image": SLOSERVE_IMAGE, "command": ["python", "-c", "exit(4)"]}
    ]
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "blocked",
        lambda pod: pod["status"].get("phase") == "Failed",
        what="phase Failed",
    )

    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    assert "running" not in pod["status"]["containerStatuses"][0]["state"]
