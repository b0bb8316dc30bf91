"""The operator killed (SIGKILL) in the middle of reconciling 50 ModelServices, then restarted:
everything converges, nothing is duplicated, nothing is orphaned."""

from __future__ import annotations

import pathlib
from collections import Counter

from operator_harness import (
    ABSENT_GPU,
    Kube,
    engine_with,
    eventually,
    sample,
    start_operator,
    unique,
)

from sloserve_dev import handle

COUNT = 50
CHILD_KINDS = ("deployments", "services", "poddisruptionbudgets")


def _reconciled(kube: Kube) -> int:
    return sum(
        1
        for body in kube.modelservices()
        if (body.get("status") or {}).get("observedGeneration") == body["metadata"]["generation"]
    )


def test_killed_mid_reconcile_then_restarted_converges_without_duplicates(
    kube_cluster: handle.ClusterHandle, module_namespace: str, tmp_path: pathlib.Path
) -> None:
    kube = Kube(kube_cluster, module_namespace)
    lease = unique("lease")
    # One API worker slows reconciling down enough to kill the operator part-way through.
    slow = {"SLOSERVE_OPERATOR__KUBERNETES__API_WORKERS": "1"}
    names = [f"many-{index:02d}" for index in range(COUNT)]
    # Engines ask for a GPU no node has: the pods exist but start no processes.
    kube.apply(*(engine_with(sample(name, replicas=1), gpuProduct=ABSENT_GPU) for name in names))

    first = start_operator(
        kube_cluster,
        namespaces=[module_namespace],
        lease_name=lease,
        log_path=tmp_path / "first.log",
        env=slow,
    )
    eventually(
        lambda: _reconciled(kube) >= 5,
        what="the first ModelServices to be reconciled",
        diagnose=first.log_tail,
    )
    first.kill()
    done_at_kill = _reconciled(kube)
    assert done_at_kill < COUNT, "the operator finished before it could be killed mid-way"

    second = start_operator(
        kube_cluster,
        namespaces=[module_namespace],
        lease_name=lease,
        log_path=tmp_path / "second.log",
    )
    try:
        eventually(
            lambda: _reconciled(kube) == COUNT,
            what=f"all {COUNT} ModelServices reconciled after the restart",
            timeout_s=180,
            diagnose=second.log_tail,
        )
        owners = {
            body["metadata"]["uid"]: body["metadata"]["name"] for body in kube.modelservices()
        }
        selector = "app.kubernetes.io/managed-by=sloserve"
        for kind in CHILD_KINDS:
            children = kube.list_json(kind, selector)
            names_seen = Counter(child["metadata"]["name"] for child in children)
            assert sorted(names_seen) == sorted(names), f"{kind}: {names_seen}"
            assert set(names_seen.values()) == {1}
            for child in children:
                (reference,) = child["metadata"]["ownerReferences"]
                assert owners[reference["uid"]] == child["metadata"]["name"]

        def one_replica_set_and_pod_each() -> bool:
            replica_sets = Counter(
                rs["metadata"]["labels"]["sloserve.io/modelservice"]
                for rs in kube.list_json("replicasets", selector)
            )
            pods = Counter(
                pod["metadata"]["labels"]["sloserve.io/modelservice"]
                for pod in kube.list_json("pods", selector)
            )
            return replica_sets == pods == Counter(names)

        eventually(
            one_replica_set_and_pod_each,
            what="exactly one ReplicaSet and one pod per ModelService (no spurious rollout)",
            timeout_s=90,
        )
        for body in kube.modelservices():
            kinds = {condition["type"] for condition in body["status"]["conditions"]}
            assert kinds == {"Ready", "Progressing", "Degraded", "ProfileResolved", "SLOAttainable"}
    finally:
        second.stop()
