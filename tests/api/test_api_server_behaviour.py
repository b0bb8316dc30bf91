"""The generated CRD on a real API server: samples, printer columns, defaults, subresources,
pruning, and the same verdict on durations as the Python parser."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloserve.api import durations, modelservice, spec, status

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "samples"
SIM_SAMPLE = SAMPLES / "modelservice-sim.yaml"


def _sample(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _get(kube_cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    result = kube_cluster.kubectl("get", "msvc", name, "-n", namespace, "-o", "json")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _copy_of_sim_sample(kube_cluster: Any, namespace: str, name: str) -> None:
    document = _sample(SIM_SAMPLE)
    document["metadata"]["name"] = name
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def _apply(kube_cluster: Any, namespace: str, document: dict[str, Any], *extra: str) -> Any:
    return kube_cluster.kubectl(
        "apply", "-n", namespace, *extra, "-f", "-", input=json.dumps(document), check=False
    )


@pytest.fixture(scope="module")
def applied_samples(kube_cluster: Any, namespace: str) -> list[str]:
    """Applies the ModelService samples of config/samples/ into the module's namespace (failing
    on any error); their names. (The FineTuneJob sample has its own tests.)"""
    paths = sorted(SAMPLES.glob("modelservice-*.yaml"))
    files = [argument for path in paths for argument in ("-f", str(path))]
    kube_cluster.kubectl("apply", "-n", namespace, *files)
    return [_sample(path)["metadata"]["name"] for path in paths]


def test_samples_apply_cleanly_and_get_shows_the_printer_columns(
    kube_cluster: Any, namespace: str, applied_samples: list[str]
) -> None:
    table = kube_cluster.kubectl("get", "msvc", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "MODEL", "REPLICAS", "READY", "ATTAINMENT", "AGE"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    for path in sorted(SAMPLES.glob("modelservice-*.yaml")):
        written = _sample(path)
        row = rows[written["metadata"]["name"]]
        assert row[1] == written["spec"]["model"], path.name
        assert row[2] == str(written["spec"]["replicas"]), path.name
    assert set(applied_samples) <= set(rows)


def test_the_sloserve_category_and_wide_columns_list_them(
    kube_cluster: Any, namespace: str, applied_samples: list[str]
) -> None:
    wide = kube_cluster.kubectl("get", "sloserve", "-n", namespace, "-o", "wide").stdout
    header = wide.splitlines()[0]
    assert "ENGINE" in header
    assert "DEFAULT CLASS" in header
    for name in applied_samples:
        assert name in wide


def test_the_server_fills_the_same_defaults_as_the_models(
    kube_cluster: Any, namespace: str, applied_samples: list[str]
) -> None:
    for path in sorted(SAMPLES.glob("modelservice-*.yaml")):
        written = _sample(path)
        stored = _get(kube_cluster, namespace, written["metadata"]["name"])
        assert stored["spec"]["placement"]["maxPredictedSlowdown"] == 1.25
        assert spec.ModelServiceSpec.model_validate(
            stored["spec"]
        ) == spec.ModelServiceSpec.model_validate(written["spec"])


def test_lists_by_model_id_with_a_field_selector(
    kube_cluster: Any, namespace: str, applied_samples: list[str]
) -> None:
    selected = kube_cluster.kubectl(
        "get", "msvc", "-n", namespace, "-o", "name", "--field-selector", "spec.engine.kind=sim"
    ).stdout.split()
    assert selected == [
        "modelservice.sloserve.io/llama-8b-autoscaled",
        "modelservice.sloserve.io/llama-8b-sim",
    ]


def test_status_written_through_the_subresource_shows_in_get(
    kube_cluster: Any, namespace: str
) -> None:
    _copy_of_sim_sample(kube_cluster, namespace, "with-status")
    now = datetime.now(UTC).replace(microsecond=0)
    classes = (
        status.ClassSLOStatus(name="interactive", requests=200, attained=194, attainment=0.97),
        status.ClassSLOStatus(name="standard", requests=50, attained=50, attainment=1.0),
        status.ClassSLOStatus(name="batch"),
    )
    observed = status.ModelServiceStatus(
        observed_generation=1,
        replicas=2,
        ready_replicas=2,
        selector="app.kubernetes.io/instance=with-status",
        conditions=(
            status.Condition(
                type=status.ConditionType.READY,
                status=status.ConditionStatus.TRUE,
                reason="AllReplicasReady",
                last_transition_time=now,
                observed_generation=1,
            ),
        ),
        slo=status.SLOStatus(window="5m", updated_at=now, classes=classes),
        attainment=status.summarize_attainment(classes),
    )
    patch = json.dumps({"status": observed.model_dump(mode="json", exclude_none=True)})
    kube_cluster.kubectl(
        "patch",
        "msvc",
        "with-status",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    )
    row = kube_cluster.kubectl("get", "msvc", "with-status", "-n", namespace, "--no-headers")
    assert "interactive 97% standard 100% batch -" in row.stdout
    assert row.stdout.split()[3] == "2"
    stored = _get(kube_cluster, namespace, "with-status")
    assert status.ModelServiceStatus.model_validate(stored["status"]) == observed


def test_status_refuses_a_non_positive_window(kube_cluster: Any, namespace: str) -> None:
    _copy_of_sim_sample(kube_cluster, namespace, "bad-window")
    result = kube_cluster.kubectl(
        "patch",
        "msvc",
        "bad-window",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"slo": {"window": "0s"}}}),
        check=False,
    )
    assert result.returncode != 0
    assert "status.slo.window" in result.stderr


def test_scales_through_the_scale_subresource(kube_cluster: Any, namespace: str) -> None:
    _copy_of_sim_sample(kube_cluster, namespace, "scaled")
    kube_cluster.kubectl("scale", "msvc", "scaled", "-n", namespace, "--replicas=3")
    assert _get(kube_cluster, namespace, "scaled")["spec"]["replicas"] == 3
    scale = json.loads(
        kube_cluster.kubectl(
            "get",
            "--raw",
            f"/apis/sloserve.io/v1alpha1/namespaces/{namespace}/modelservices/scaled/scale",
        ).stdout
    )
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 3


def test_unknown_fields_are_pruned_when_validation_is_not_strict(
    kube_cluster: Any, namespace: str
) -> None:
    document = _sample(SIM_SAMPLE)
    document["metadata"]["name"] = "pruned"
    document["spec"]["maxReplicas"] = 4
    document["spec"]["engine"]["color"] = "blue"
    result = _apply(kube_cluster, namespace, document, "--validate=false", "--dry-run=server")
    assert result.returncode == 0, result.stderr
    strict = _apply(kube_cluster, namespace, document, "--dry-run=server")
    assert strict.returncode != 0
    assert 'unknown field "spec.engine.color"' in strict.stderr
    assert 'unknown field "spec.maxReplicas"' in strict.stderr
    stored = _apply(
        kube_cluster, namespace, document, "--validate=false", "--dry-run=server", "-o", "json"
    )
    stored_spec = json.loads(stored.stdout)["spec"]
    assert "maxReplicas" not in stored_spec
    assert "color" not in stored_spec["engine"]


DURATIONS = [
    "500ms",
    "3s",
    "1.5s",
    ".5s",
    "2m",
    "1h",
    "1h30m",
    "1m0.5s",
    "0.001ms",
    "0s1ms",
    "0s",
    "0ms",
    "0.0s",
    "-1s",
    "+1s",
    "1",
    "1us",
    "1d",
    "1.s",
    "1 s",
    "fast",
    "3S",
    "1e3s",
    "9" * 31 + "h",
    "9" * 32 + "h",
]


def _python_accepts(text: str) -> bool:
    try:
        durations.parse_duration(text)
    except durations.DurationError:
        return False
    return True


def test_the_api_server_and_the_parser_agree_on_every_duration(
    kube_cluster: Any, namespace: str
) -> None:
    items = []
    for index, text in enumerate(DURATIONS):
        document = copy.deepcopy(_sample(SIM_SAMPLE))
        document["metadata"] = {"name": f"duration-{index}", "namespace": namespace}
        document["spec"]["sloClasses"][0]["ttft"] = text
        items.append(document)
    listing = {"apiVersion": "v1", "kind": "List", "items": items}
    result = kube_cluster.kubectl(
        "create",
        "--dry-run=server",
        "-o",
        "name",
        "-f",
        "-",
        input=json.dumps(listing),
        check=False,
    )
    accepted = {line.rsplit("-", 1)[-1] for line in result.stdout.split()}
    server_verdicts = {text: str(index) in accepted for index, text in enumerate(DURATIONS)}
    assert server_verdicts == {text: _python_accepts(text) for text in DURATIONS}
    assert sum(server_verdicts.values()) == 11


def test_the_models_read_back_every_stored_object(
    kube_cluster: Any, namespace: str, applied_samples: list[str]
) -> None:
    listing = json.loads(kube_cluster.kubectl("get", "msvc", "-n", namespace, "-o", "json").stdout)
    names = {
        str(modelservice.ModelService.model_validate(item).metadata.name)
        for item in listing["items"]
    }
    assert set(applied_samples) <= names
