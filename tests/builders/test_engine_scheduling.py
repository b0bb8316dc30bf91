"""Where engine pods may run: tolerations, node selector, affinity, topology spread, and the
pod-level fields a ModelService sets."""

from __future__ import annotations

from builder_specs import DEFAULTS, make_spec, pod_spec, vllm_spec

from sloserve.builders import engine_pod, labels

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
H100_TERM = {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]}


def test_gpu_engines_tolerate_the_gpu_taint_and_the_users_taints() -> None:
    spec = vllm_spec(
        pod={
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"},
                GPU_TOLERATION,
            ]
        }
    )
    assert pod_spec(spec)["tolerations"] == [
        GPU_TOLERATION,
        {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"},
    ]


def test_a_sim_engine_tolerates_only_what_it_is_told() -> None:
    assert "tolerations" not in pod_spec(make_spec())
    spec = make_spec(engine={"pod": {"tolerations": [{"operator": "Exists"}]}})
    assert pod_spec(spec)["tolerations"] == [{"operator": "Exists"}]


def test_the_node_selector_is_the_users() -> None:
    spec = vllm_spec(pod={"nodeSelector": {"node-pool": "h100-serving"}})
    assert pod_spec(spec)["nodeSelector"] == {"node-pool": "h100-serving"}
    assert "nodeSelector" not in pod_spec(vllm_spec())


def test_the_gpu_product_is_anded_into_every_required_node_term() -> None:
    spec = vllm_spec(
        pod={
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["a"]}
                                ]
                            },
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                                ]
                            },
                        ]
                    }
                }
            }
        }
    )
    terms = pod_spec(spec)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, H100_TERM]},
        {
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}],
            "matchExpressions": [H100_TERM],
        },
    ]


def test_pod_anti_affinity_and_preferred_terms_are_kept_beside_placements() -> None:
    anti = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"app": "training"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
    preferred = [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}
    ]
    spec = vllm_spec(
        pod={
            "affinity": {
                "podAntiAffinity": anti,
                "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred},
            }
        }
    )
    placed = [
        {
            "weight": 50,
            "preference": {
                "matchExpressions": [{"key": "node", "operator": "In", "values": ["b"]}]
            },
        }
    ]
    template = engine_pod.engine_pod_template(
        name="llama",
        spec=spec,
        defaults=DEFAULTS,
        placement=engine_pod.PlacementTemplate(
            preferred_affinity={"preferredDuringSchedulingIgnoredDuringExecution": placed}
        ),
    )
    affinity = template["spec"]["affinity"]
    assert affinity["podAntiAffinity"] == anti
    assert affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [
        *preferred,
        *placed,
    ]
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [H100_TERM]}]
    }


def test_replicas_spread_across_nodes_by_default_without_blocking_scheduling() -> None:
    assert pod_spec(make_spec())["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels.selector_labels("llama")},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def test_spread_constraints_of_the_spec_replace_the_default_and_count_its_engines() -> None:
    spec = make_spec(
        engine={
            "pod": {
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 2,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "minDomains": 3,
                    }
                ]
            }
        }
    )
    assert pod_spec(spec)["topologySpreadConstraints"] == [
        {
            "maxSkew": 2,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": labels.selector_labels("llama")},
            "minDomains": 3,
        }
    ]


def test_pod_identity_priority_runtime_and_pull_secrets_come_from_the_spec() -> None:
    spec = vllm_spec(
        pod={
            "serviceAccountName": "weights-reader",
            "automountServiceAccountToken": True,
            "priorityClassName": "llm-serving",
            "runtimeClassName": "nvidia",
            "imagePullSecrets": [{"name": "registry"}],
            "securityContext": {"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"},
        }
    )
    pod = pod_spec(spec)
    assert pod["serviceAccountName"] == "weights-reader"
    assert pod["automountServiceAccountToken"] is True
    assert pod["priorityClassName"] == "llm-serving"
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["securityContext"] == {"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}


def test_engines_mount_no_api_token_and_name_no_account_by_default() -> None:
    pod = pod_spec(vllm_spec())
    assert pod["automountServiceAccountToken"] is False
    for field in (
        "serviceAccountName",
        "priorityClassName",
        "runtimeClassName",
        "imagePullSecrets",
    ):
        assert field not in pod


def test_pod_labels_and_annotations_are_added_to_the_operators() -> None:
    spec = vllm_spec(pod={"labels": {"team": "inference"}, "annotations": {"mesh/inject": "false"}})
    template = engine_pod.engine_pod_template(name="llama", spec=spec, defaults=DEFAULTS)
    assert template["metadata"]["labels"] == {
        "team": "inference",
        **labels.engine_labels("llama", engine_kind="vllm"),
    }
    assert template["metadata"]["annotations"]["mesh/inject"] == "false"
    assert template["metadata"]["annotations"][labels.MODEL_ANNOTATION] == spec.model
