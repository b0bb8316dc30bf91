from __future__ import annotations

import pytest

from sloserve.api.spec import ModelServiceSpec
from sloserve.placement import pod_template, workloads
from sloserve.placement.scoring import NodeAssessment

KINDS = ("decode_b8_c1024", "decode_b32_c1024", "decode_b128_c1024", "prefill_2048", "idle")


def _spec(*, aware: bool, args: tuple[str, ...] = ()) -> ModelServiceSpec:
    return ModelServiceSpec.model_validate(
        {
            "model": "m",
            "engine": {"kind": "sim", "args": list(args), "gpus": 1},
            "replicas": 1,
            "sloClasses": [{"name": "standard", "ttft": "1s", "tpot": "50ms"}],
            "defaultClass": "standard",
            "placement": {"interferenceAware": aware, "maxPredictedSlowdown": 1.5},
        }
    )


def test_interference_aware_engines_carry_kind_and_limit() -> None:
    annotations = pod_template.engine_annotations(
        spec=_spec(aware=True), annotations={}, known_kinds=KINDS
    )
    assert annotations == {
        workloads.KIND_ANNOTATION: workloads.DEFAULT_DECODE_KIND,
        workloads.MAX_SLOWDOWN_ANNOTATION: "1.5",
    }


def test_other_engines_still_declare_their_kind_for_their_neighbours() -> None:
    annotations = pod_template.engine_annotations(
        spec=_spec(aware=False, args=("--max-num-seqs", "24")), annotations={}, known_kinds=KINDS
    )
    assert annotations == {workloads.KIND_ANNOTATION: "decode_b32_c1024"}


def test_a_declared_kind_wins_and_an_unknown_one_is_refused() -> None:
    declared = {workloads.KIND_ANNOTATION: "prefill_2048"}
    kind = workloads.workload_kind_for(annotations=declared, engine_args=(), known_kinds=KINDS)
    assert kind == "prefill_2048"
    with pytest.raises(ValueError, match="prefill_9"):
        workloads.workload_kind_for(
            annotations={workloads.KIND_ANNOTATION: "prefill_9"}, engine_args=(), known_kinds=KINDS
        )


def test_batch_limit_picks_the_nearest_measured_decode_kind() -> None:
    def kind(flag: str) -> str:
        return workloads.workload_kind_for(annotations={}, engine_args=(flag,), known_kinds=KINDS)

    assert kind("--max-num-seqs=4") == "decode_b8_c1024"
    assert kind("--max-num-seqs=1024") == "decode_b128_c1024"


def _assessed(node: str, worst: float) -> NodeAssessment:
    return NodeAssessment(
        node=node, mode="timeslice", candidate_slowdown=worst, resident_slowdowns=()
    )


def test_preferred_affinity_weighs_nodes_by_score_and_skips_those_over_the_limit() -> None:
    affinity = pod_template.preferred_affinity(
        [_assessed("b", 2.0), _assessed("a", 1.0), _assessed("c", 3.0)], limit=2.5
    )
    assert affinity is not None
    terms = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    chosen = [(t["preference"]["matchFields"][0]["values"][0], t["weight"]) for t in terms]
    assert chosen == [("a", 100), ("b", 50)]


def test_no_acceptable_node_gives_no_affinity() -> None:
    assert pod_template.preferred_affinity([_assessed("a", 3.0)], limit=2.0) is None


def test_a_bad_slowdown_annotation_is_named() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "namespace": "n",
            "annotations": {workloads.MAX_SLOWDOWN_ANNOTATION: "0.5"},
        }
    }
    with pytest.raises(ValueError, match="max-predicted-slowdown"):
        workloads.max_predicted_slowdown(pod)


def test_only_pods_requesting_a_gpu_count() -> None:
    gpu = {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
    cpu = {"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}
    assert workloads.requests_gpu(gpu)
    assert not workloads.requests_gpu(cpu)


def test_mps_label_selects_mps_else_time_slicing() -> None:
    mps = {"metadata": {"labels": {workloads.SHARING_LABEL: "mps"}}}
    assert workloads.sharing_mode(mps) == "mps"
    assert workloads.sharing_mode({"metadata": {}}) == "timeslice"
