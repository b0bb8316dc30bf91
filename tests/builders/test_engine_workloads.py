"""The Deployment, Service and PodDisruptionBudget built for a ModelService."""

from __future__ import annotations

import copy
from typing import Any

from builder_specs import DEFAULTS, make_spec, vllm_spec

from sloserve.builders import labels, workloads
from sloserve.builders.defaults import EngineDefaults


def _deployment(spec: Any, defaults: EngineDefaults = DEFAULTS) -> dict[str, Any]:
    return workloads.build_deployment(
        name="llama", namespace="team-a", spec=spec, defaults=defaults
    )


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_gpus_are_requested_and_limited_equally() -> None:
    resources = _container(_deployment(vllm_spec(gpus=2)))["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert resources["limits"]["nvidia.com/gpu"] == "2"


def test_engine_without_gpus_requests_none_and_tolerates_no_gpu_taint() -> None:
    deployment = _deployment(make_spec())
    assert "resources" not in _container(deployment)
    assert "tolerations" not in deployment["spec"]["template"]["spec"]


def test_gpu_engines_tolerate_the_gpu_taint() -> None:
    pod = _deployment(vllm_spec())["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_gpu_product_becomes_a_required_node_affinity() -> None:
    affinity = _deployment(vllm_spec())["spec"]["template"]["spec"]["affinity"]
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {
                    "key": "nvidia.com/gpu.product",
                    "operator": "In",
                    "values": ["NVIDIA-H100-80GB-HBM3"],
                }
            ]
        }
    ]


def test_no_gpu_product_means_no_affinity() -> None:
    assert "affinity" not in _deployment(make_spec())["spec"]["template"]["spec"]


def test_probes_check_health_on_the_engine_port() -> None:
    container = _container(_deployment(vllm_spec(port=9000)))
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_startup_probe_allows_the_configured_start_time() -> None:
    defaults = EngineDefaults(sim_image="x", startup_timeout_s=600)
    probe = _container(_deployment(make_spec(), defaults))["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] == 600


def test_rollout_surges_without_taking_engines_down_by_default() -> None:
    deployment = _deployment(make_spec())
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def test_replicas_and_image_come_from_the_spec() -> None:
    deployment = _deployment(vllm_spec(image="vllm/vllm-openai:v0.12.0"))
    assert deployment["spec"]["replicas"] == 2
    assert _container(deployment)["image"] == "vllm/vllm-openai:v0.12.0"


def test_sim_engine_without_image_runs_the_operator_image() -> None:
    container = _container(_deployment(make_spec()))
    assert container["image"] == "ghcr.io/sloserve/sloserve:test"
    assert container["command"] == ["sloserve", "engine-sim"]


def test_selector_matches_the_pod_labels_and_the_gateway_labels_are_there() -> None:
    deployment = _deployment(make_spec())
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/name"] == "sloserve-engine"
    assert pod_labels["app.kubernetes.io/instance"] == "llama"
    assert pod_labels["app.kubernetes.io/component"] == "engine"
    assert pod_labels["app.kubernetes.io/managed-by"] == "sloserve"
    assert pod_labels["sloserve.io/modelservice"] == "llama"


def test_selector_does_not_change_with_the_engine_kind() -> None:
    sim = _deployment(make_spec())["spec"]["selector"]
    vllm = _deployment(vllm_spec())["spec"]["selector"]
    assert sim == vllm


def test_env_comes_from_the_spec_and_is_absent_without_it() -> None:
    spec = make_spec(engine={"env": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}]})
    assert _container(_deployment(spec))["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": ""},
    ]
    assert "env" not in _container(_deployment(make_spec()))


def test_pods_are_annotated_with_model_and_profile() -> None:
    spec = make_spec(engine={"profile": "a100-small"})
    annotations = _deployment(spec)["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "sloserve.io/model": "meta-llama/Llama-3.1-8B-Instruct",
        "sloserve.io/profile": "a100-small",
    }


def test_interference_aware_placement_selects_the_sloserve_scheduler() -> None:
    spec = make_spec(placement={"interferenceAware": True})
    assert _deployment(spec)["spec"]["template"]["spec"]["schedulerName"] == "sloserve-scheduler"


def test_named_scheduler_wins_and_default_placement_names_none() -> None:
    named = make_spec(placement={"interferenceAware": True, "schedulerName": "other"})
    assert _deployment(named)["spec"]["template"]["spec"]["schedulerName"] == "other"
    assert "schedulerName" not in _deployment(make_spec())["spec"]["template"]["spec"]


def test_removing_resources_from_the_spec_removes_them_from_the_manifest() -> None:
    with_limits = make_spec(
        engine={"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}
    )
    without = make_spec(engine={"resources": {"requests": {"cpu": "1"}}})
    assert _container(_deployment(with_limits))["resources"]["limits"] == {"memory": "1Gi"}
    assert _container(_deployment(without))["resources"] == {"requests": {"cpu": "1"}}


def test_building_is_deterministic_and_leaves_the_spec_alone() -> None:
    spec = vllm_spec()
    before = copy.deepcopy(spec.model_dump())
    assert _deployment(spec) == _deployment(spec)
    assert spec.model_dump() == before


def test_a_failed_engine_leaves_the_end_of_its_log_as_termination_message() -> None:
    for spec in (vllm_spec(), make_spec()):
        assert _container(_deployment(spec))["terminationMessagePolicy"] == (
            "FallbackToLogsOnError"
        )


def test_service_selects_the_engines_on_the_engine_port() -> None:
    service = workloads.build_service(name="llama", namespace="team-a", spec=vllm_spec(port=9000))
    assert service["metadata"]["name"] == "llama"
    assert service["metadata"]["namespace"] == "team-a"
    assert service["spec"]["selector"] == labels.selector_labels("llama")
    assert service["spec"]["ports"] == [
        {
            "name": "http",
            "port": 9000,
            "targetPort": "http",
            "protocol": "TCP",
            "appProtocol": "http",
        }
    ]


def test_service_carries_the_model_id_for_the_gateway() -> None:
    service = workloads.build_service(name="llama", namespace="team-a", spec=vllm_spec())
    assert service["metadata"]["annotations"]["sloserve.io/model"] == (
        "meta-llama/Llama-3.1-8B-Instruct"
    )
    assert service["metadata"]["labels"]["sloserve.io/modelservice"] == "llama"


def test_disruption_budget_limits_evictions_and_lets_unhealthy_pods_go() -> None:
    budget = workloads.build_disruption_budget(
        name="llama", namespace="team-a", spec=make_spec(), defaults=DEFAULTS
    )
    assert budget["spec"] == {
        "selector": {"matchLabels": labels.selector_labels("llama")},
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_children_are_the_service_the_deployment_and_the_budget_named_after_the_owner() -> None:
    children = workloads.build_children(
        name="llama", namespace="team-a", spec=make_spec(), defaults=DEFAULTS
    )
    assert [(c["kind"], c["metadata"]["name"]) for c in children] == [
        ("Service", "llama"),
        ("Deployment", "llama"),
        ("PodDisruptionBudget", "llama"),
    ]
    assert all(
        c["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sloserve" for c in children
    )


def test_selector_text_is_sorted_and_comma_separated() -> None:
    assert labels.selector_text({"b": "2", "a": "1"}) == "a=1,b=2"
