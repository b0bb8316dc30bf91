"""ModelServices and EndpointSlices as the Kubernetes API returns them, read for routing."""

from __future__ import annotations

import pytest

from sloserve.gateway import kube_objects

MODELSERVICE = {
    "metadata": {"name": "llama", "namespace": "team-a"},
    "spec": {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": {"kind": "sim", "profile": "synthetic", "args": ["--max-num-seqs", "64"]},
        "sloClasses": [
            {"name": "interactive", "ttft": "500ms", "tpot": "50ms", "priority": 2},
            {"name": "batch", "ttft": "15s", "tpot": "50ms"},
        ],
        "defaultClass": "batch",
    },
}


def test_a_modelservice_defines_its_model_classes_profile_and_batch_limit() -> None:
    definition = kube_objects.modelservice_definition(MODELSERVICE)
    assert definition.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert definition.classes.default_class == "batch"
    interactive = definition.classes.classes["interactive"]
    assert (interactive.ttft_s, interactive.tpot_s, interactive.priority) == (0.5, 0.05, -2)
    assert (definition.profile, definition.max_num_seqs) == ("synthetic", 64)


def test_the_replicas_asked_for_and_the_measured_start_come_with_the_definition() -> None:
    measured = {
        **MODELSERVICE,
        "spec": {**MODELSERVICE["spec"], "replicas": 3},
        "status": {"autoscaling": {"desiredReplicas": 3, "reason": "x", "startSeconds": 41.5}},
    }
    definition = kube_objects.modelservice_definition(measured)
    assert (definition.desired_replicas, definition.start_time_s) == (3, 41.5)
    unmeasured = kube_objects.modelservice_definition(MODELSERVICE)
    assert (unmeasured.desired_replicas, unmeasured.start_time_s) == (1, None)


@pytest.mark.parametrize("value", [None, "40", -1, True, float("nan")])
def test_a_start_time_that_is_not_a_number_of_seconds_counts_as_unmeasured(value: object) -> None:
    body = {**MODELSERVICE, "status": {"autoscaling": {"startSeconds": value}}}
    assert kube_objects.measured_start_s(body) is None


def _with_engine(model: str = "meta-llama/Llama-3.1-8B-Instruct", **engine: object) -> dict:
    spec = {**MODELSERVICE["spec"], "model": model, "engine": engine}
    return {**MODELSERVICE, "spec": spec}


def test_profile_auto_predicts_with_the_profile_the_operator_reports() -> None:
    definition = kube_objects.modelservice_definition(
        _with_engine(kind="sim", gpuProduct="NVIDIA-A100-SXM4-80GB")
    )
    assert (definition.profile, definition.profile_rule) == ("h100-llama3-8b", "nearest-gpu")
    assert definition.prefill_scale == pytest.approx(989 / 312)
    assert definition.decode_scale == pytest.approx(3.35 / 2.04)


def test_profile_auto_with_nothing_that_fits_starts_from_the_conservative_prior() -> None:
    definition = kube_objects.modelservice_definition(
        _with_engine("acme/house-model", kind="sim", gpuProduct="NVIDIA-H200")
    )
    # Not the 8B profile of the default: the announced prior, with rule "none".
    assert (definition.profile, definition.profile_rule) == ("h200-qwen2.5-32b", "none")


def test_an_invalid_modelservice_is_refused_naming_it() -> None:
    broken = {**MODELSERVICE, "spec": {**MODELSERVICE["spec"], "defaultClass": "gold"}}
    with pytest.raises(ValueError, match="team-a/llama"):
        kube_objects.modelservice_definition(broken)


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--max-num-seqs=32"], 32), (["--max-num-seqs", "16"], 16), ([], 256)],
)
def test_max_num_seqs_is_read_from_the_engine_args(args: list[str], expected: int) -> None:
    assert kube_objects.max_num_seqs(args) == expected


def endpoint_slice(**overrides: object) -> dict[str, object]:
    return {
        "metadata": {
            "name": "llama-abc",
            "namespace": "team-a",
            "labels": {"sloserve.io/modelservice": "llama"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8000}, {"name": "metrics", "port": 9000}],
        "endpoints": [
            {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.4"], "conditions": {}},
        ],
        **overrides,
    }


def test_ready_endpoints_on_the_http_port_are_engines() -> None:
    assert kube_objects.slice_engine_urls(endpoint_slice()) == (
        "http://10.0.0.2:8000",
        "http://10.0.0.4:8000",
    )


def test_ipv6_addresses_are_bracketed() -> None:
    urls = kube_objects.slice_engine_urls(
        endpoint_slice(addressType="IPv6", endpoints=[{"addresses": ["fd00::1"]}])
    )
    assert urls == ("http://[fd00::1]:8000",)


def test_a_slice_names_its_modelservice_by_label() -> None:
    owner = kube_objects.slice_owner(endpoint_slice())
    assert owner is not None
    key, group = owner
    assert (key.namespace, key.name, group) == ("team-a", "llama", "llama-abc")
    assert kube_objects.slice_owner({"metadata": {"name": "other"}}) is None


def test_a_terminating_engine_takes_no_new_requests_even_while_it_serves() -> None:
    # What the EndpointSlice controller writes for a pod that is being deleted: still serving
    # its in-flight requests, not ready, terminating.
    draining = {"ready": False, "serving": True, "terminating": True}
    published = {"ready": True, "serving": True, "terminating": True}
    urls = kube_objects.slice_engine_urls(
        endpoint_slice(
            endpoints=[
                {"addresses": ["10.0.0.2"], "conditions": {"ready": True, "serving": True}},
                {"addresses": ["10.0.0.3"], "conditions": draining},
                {"addresses": ["10.0.0.4"], "conditions": published},
            ]
        )
    )
    assert urls == ("http://10.0.0.2:8000",)


@pytest.mark.parametrize(
    ("conditions", "takes"),
    [
        ({}, True),
        ({"ready": True}, True),
        ({"serving": True, "terminating": False}, True),
        ({"ready": False}, False),
        ({"serving": False}, False),
        ({"terminating": True}, False),
        ({"ready": True, "serving": True, "terminating": True}, False),
    ],
)
def test_which_endpoint_conditions_take_new_requests(
    conditions: dict[str, bool], takes: bool
) -> None:
    assert kube_objects.takes_new_requests(conditions) is takes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--max_num_seqs=8"], 8),
        (["--max-num-seqs=4", "--max-num-seqs", "12"], 12),
        (["--max-num-seqs=x"], 256),
    ],
)
def test_max_num_seqs_reads_every_spelling_and_the_last_value(
    args: list[str], expected: int
) -> None:
    assert kube_objects.max_num_seqs(args) == expected


def test_a_tokenizer_source_is_carried_with_the_modelservice_that_names_it() -> None:
    spec = {**MODELSERVICE["spec"], "tokenizer": {"configMap": {"name": "llama-tokenizer"}}}
    definition = kube_objects.modelservice_definition({**MODELSERVICE, "spec": spec})
    assert definition.tokenizer is not None
    assert (definition.tokenizer.namespace, definition.tokenizer.config_map) == (
        "team-a",
        "llama-tokenizer",
    )
    assert definition.tokenizer.field() == "tokenizer.configMap.name 'llama-tokenizer'"


def test_a_tokenizer_path_without_a_model_cache_is_refused_naming_the_field() -> None:
    spec = {**MODELSERVICE["spec"], "tokenizer": {"path": "llama"}}
    with pytest.raises(ValueError, match=r"(?s)team-a/llama: .*tokenizer\.path is a directory"):
        kube_objects.modelservice_definition({**MODELSERVICE, "spec": spec})
