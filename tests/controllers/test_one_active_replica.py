"""Two operator replicas: only the Lease holder acts; when it dies, the other takes over."""

from __future__ import annotations

import pathlib

from kubernetes import client
from operator_harness import (
    ABSENT_GPU,
    Kube,
    OperatorProcess,
    api_client,
    engine_with,
    eventually,
    sample,
    start_operator,
    unique,
)

from sloserve_dev import handle

LEADING = "leading: holding Lease"


def _leader_and_standby(
    first: OperatorProcess, second: OperatorProcess
) -> tuple[OperatorProcess, OperatorProcess]:
    eventually(
        lambda: LEADING in first.log() or LEADING in second.log(),
        what="one replica to take the Lease",
        diagnose=lambda: first.log_tail(10) + "\n" + second.log_tail(10),
    )
    return (first, second) if LEADING in first.log() else (second, first)


def test_only_the_lease_holder_acts_and_the_standby_takes_over(
    kube_cluster: handle.ClusterHandle, module_namespace: str, tmp_path: pathlib.Path
) -> None:
    kube = Kube(kube_cluster, module_namespace)
    lease = unique("lease")
    replicas = [
        start_operator(
            kube_cluster,
            namespaces=[module_namespace],
            lease_name=lease,
            log_path=tmp_path / f"replica-{index}.log",
        )
        for index in range(2)
    ]
    try:
        leader, standby = _leader_and_standby(*replicas)
        before = unique("before")
        kube.apply(engine_with(sample(before, replicas=1), gpuProduct=ABSENT_GPU))
        eventually(lambda: kube.reconciled(before), what="the leader to reconcile")
        assert f"Deployment and PodDisruptionBudget {before}" in leader.log()
        assert LEADING not in standby.log()
        assert "serving ModelServices" not in standby.log()

        leader.kill()
        eventually(
            lambda: LEADING in standby.log(),
            what="the standby to take the Lease over",
            timeout_s=60,
            diagnose=standby.log_tail,
        )
        after = unique("after")
        kube.apply(engine_with(sample(after, replicas=1), gpuProduct=ABSENT_GPU))
        eventually(
            lambda: kube.reconciled(after),
            what="the new leader to reconcile",
            diagnose=standby.log_tail,
        )
        assert f"Deployment and PodDisruptionBudget {after}" in standby.log()
        coordination = client.CoordinationV1Api(api_client(kube_cluster))
        spec = coordination.read_namespaced_lease(lease, module_namespace).spec
        assert spec is not None
        assert spec.lease_transitions == 1
        assert spec.holder_identity is not None
        assert spec.holder_identity in standby.log()
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                replica.stop()


def test_a_replica_stopped_gracefully_releases_the_lease(
    kube_cluster: handle.ClusterHandle, module_namespace: str, tmp_path: pathlib.Path
) -> None:
    lease = unique("lease")
    only = start_operator(
        kube_cluster, namespaces=[module_namespace], lease_name=lease, log_path=tmp_path / "a.log"
    )
    eventually(lambda: LEADING in only.log(), what="the replica to lead")
    assert only.stop() == 0
    coordination = client.CoordinationV1Api(api_client(kube_cluster))
    spec = coordination.read_namespaced_lease(lease, module_namespace).spec
    assert spec is not None
    assert spec.holder_identity is None
