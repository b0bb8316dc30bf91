"""The CRD built from the models: structural, with the rules, names and columns the API needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from sloserve.api import crd, schema, spec


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return crd.modelservice_crd()


def _version(definition: dict[str, Any]) -> dict[str, Any]:
    (version,) = definition["spec"]["versions"]
    return dict(version)


def _root(definition: dict[str, Any]) -> dict[str, Any]:
    return dict(_version(definition)["schema"]["openAPIV3Schema"])


def _spec_schema(definition: dict[str, Any]) -> dict[str, Any]:
    return dict(_root(definition)["properties"]["spec"])


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def _rules(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list(node.get("x-kubernetes-validations", []))


def test_names_group_version_and_scope(definition: dict[str, Any]) -> None:
    assert definition["metadata"]["name"] == "modelservices.sloserve.io"
    assert definition["spec"]["group"] == "sloserve.io"
    assert definition["spec"]["scope"] == "Namespaced"
    assert definition["spec"]["names"] == {
        "kind": "ModelService",
        "listKind": "ModelServiceList",
        "plural": "modelservices",
        "singular": "modelservice",
        "shortNames": ["msvc"],
        "categories": ["sloserve"],
    }
    version = _version(definition)
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_is_built_only_of_json_values_and_the_same_every_time(definition: dict[str, Any]) -> None:
    assert json.loads(json.dumps(definition)) == definition == crd.modelservice_crd()


def test_every_node_is_structural(definition: dict[str, Any]) -> None:
    for path, node in _nodes(_root(definition)):
        assert "$ref" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "nullable" not in node, path
        assert "title" not in node, path


def test_requires_what_the_models_require(definition: dict[str, Any]) -> None:
    spec_schema = _spec_schema(definition)
    assert spec_schema["required"] == ["model", "engine", "sloClasses", "defaultClass"]
    assert spec_schema["properties"]["engine"]["required"] == ["kind"]
    assert spec_schema["properties"]["sloClasses"]["items"]["required"] == ["name", "ttft", "tpot"]
    assert _root(definition)["required"] == ["spec"]


def test_publishes_bounds_enums_and_patterns(definition: dict[str, Any]) -> None:
    properties = _spec_schema(definition)["properties"]
    engine = properties["engine"]["properties"]
    classes = properties["sloClasses"]
    assert engine["kind"]["enum"] == ["vllm", "sim"]
    assert engine["gpus"]["minimum"] == 0
    assert properties["replicas"]["minimum"] == 0
    assert properties["model"]["minLength"] == 1
    assert properties["placement"]["properties"]["maxPredictedSlowdown"]["minimum"] == 1
    assert (classes["minItems"], classes["maxItems"]) == (1, spec.MAX_SLO_CLASSES)
    assert classes["items"]["properties"]["ttft"]["pattern"].startswith("^")


def test_class_names_are_list_map_keys_so_duplicates_are_refused(
    definition: dict[str, Any],
) -> None:
    classes = _spec_schema(definition)["properties"]["sloClasses"]
    assert classes["x-kubernetes-list-type"] == "map"
    assert classes["x-kubernetes-list-map-keys"] == ["name"]


def test_every_rule_has_a_message(definition: dict[str, Any]) -> None:
    rules = [rule for _, node in _nodes(_root(definition)) for rule in _rules(node)]
    assert len(rules) >= 5
    for rule in rules:
        assert rule.get("message") or rule.get("messageExpression"), rule


@pytest.mark.parametrize(
    ("path", "field_path", "rule_mentions"),
    [
        ("", ".defaultClass", "self.sloClasses.exists"),
        ("", ".autoscaling.classTargets", "classTargets.all"),
        (".engine", ".image", "has(self.image)"),
        (".engine.resources", ".limits", "quantity("),
    ],
)
def test_cross_field_rules_point_at_the_offending_field(
    definition: dict[str, Any], path: str, field_path: str, rule_mentions: str
) -> None:
    nodes = dict(_nodes(_spec_schema(definition)))
    matching = [rule for rule in _rules(nodes[path]) if rule_mentions in rule["rule"]]
    assert [rule["fieldPath"] for rule in matching] == [field_path]


def test_durations_are_checked_by_pattern_and_by_a_positivity_rule(
    definition: dict[str, Any],
) -> None:
    nodes = dict(_nodes(_root(definition)))
    for path in (".spec.sloClasses[].ttft", ".spec.sloClasses[].tpot", ".status.slo.window"):
        (rule,) = _rules(nodes[path])
        assert "[1-9]" in rule["rule"]
        assert "positive duration" in rule["messageExpression"]


def test_defaults_are_those_of_the_models(definition: dict[str, Any]) -> None:
    nodes = dict(_nodes(_spec_schema(definition)))
    assert nodes[".replicas"]["default"] == 1
    assert nodes[".engine.port"]["default"] == 8000
    assert nodes[".engine.profile"]["default"] == spec.AUTO_PROFILE
    assert nodes[".placement"]["default"] == {}
    assert nodes[".placement.maxPredictedSlowdown"]["default"] == 1.25
    assert "default" not in nodes[".engine.args"]


def test_every_spec_field_is_described(definition: dict[str, Any]) -> None:
    for path, node in _nodes(_spec_schema(definition)):
        if not path.endswith(("[]", "{}")):
            assert node.get("description"), path


def test_has_status_and_scale_subresources(definition: dict[str, Any]) -> None:
    assert _version(definition)["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_prints_model_replicas_ready_attainment_and_age(definition: dict[str, Any]) -> None:
    columns = _version(definition)["additionalPrinterColumns"]
    default_columns = [column["name"] for column in columns if not column.get("priority")]
    assert default_columns == ["Model", "Replicas", "Ready", "Attainment", "Age"]
    paths = {column["name"]: column["jsonPath"] for column in columns}
    assert paths["Attainment"] == ".status.attainment"
    assert paths["Ready"] == ".status.readyReplicas"


def test_the_name_must_be_able_to_name_a_service(definition: dict[str, Any]) -> None:
    name = _root(definition)["properties"]["metadata"]["properties"]["name"]
    assert (name["maxLength"], name["pattern"]) == (63, "^[a-z]([-a-z0-9]*[a-z0-9])?$")


class _Ambiguous(pydantic.BaseModel):
    value: int | str


class _Closed(pydantic.BaseModel):
    labels: set[str]


@pytest.mark.parametrize(
    ("model", "mentions"), [(_Ambiguous, "several types"), (_Closed, "uniqueItems")]
)
def test_refuses_models_with_no_structural_equivalent(
    model: type[pydantic.BaseModel], mentions: str
) -> None:
    with pytest.raises(schema.SchemaError, match=mentions):
        schema.structural_schema(model)
