"""FineTuneJob: the sample is valid, bad objects are refused naming the field (by the models and
by a real API server), and the CRD gives defaults, printer columns and a status subresource.

Each file in bad_finetunejobs/ starts with a comment saying why it is wrong, a `# field: <path>`
line naming the field the API server's error must mention and, for rules over several fields,
a `# says: <text>` line the error must contain.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from sloserve.api import crd_files, finetunejob

BAD_OBJECTS = Path(__file__).parent / "bad_finetunejobs"
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "finetunejob-sim.yaml"
_FIELD_LINE = re.compile(r"^# field: (?P<field>\S+)$", re.MULTILINE)
_SAYS_LINE = re.compile(r"^# says: (?P<text>.+)$", re.MULTILINE)


def _bad_files() -> list[Path]:
    return sorted(BAD_OBJECTS.glob("*.yaml"))


def _field(path: Path) -> str:
    match = _FIELD_LINE.search(path.read_text())
    assert match, f"{path.name} has no '# field: <path>' line"
    return match["field"]


def _says(path: Path) -> str | None:
    match = _SAYS_LINE.search(path.read_text())
    return None if match is None else match["text"]


def _last_field_name(field: str) -> str:
    return re.sub(r"\[\d+\]", "", field).rsplit(".", 1)[-1]


def test_the_sample_is_a_valid_job_co_serving_with_a_model_service() -> None:
    job = finetunejob.FineTuneJob.model_validate(yaml.safe_load(SAMPLE.read_text()))
    assert job.spec.model_service is not None
    assert job.spec.adapter.rank == 16
    assert job.spec.gpu_budget.max_share == 0.5


def test_alpha_defaults_to_twice_the_rank() -> None:
    document = yaml.safe_load(SAMPLE.read_text())
    del document["spec"]["adapter"]["alpha"]
    job = finetunejob.FineTuneJob.model_validate(document)
    assert job.spec.adapter.effective_alpha == 32.0


def test_there_are_bad_objects_for_rank_base_model_and_dataset() -> None:
    fields = {_field(path) for path in _bad_files()}
    assert {"spec.adapter.rank", "spec.baseModel.shape", "spec.dataset", "spec"} <= fields


@pytest.mark.parametrize("path", _bad_files(), ids=lambda path: path.stem)
def test_the_models_refuse_it_naming_the_field(path: Path) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        finetunejob.FineTuneJob.model_validate(yaml.safe_load(path.read_text()))
    assert _last_field_name(_field(path)) in str(error.value)
    says = _says(path)
    if says is not None:
        assert says in str(error.value)


@pytest.fixture(scope="module")
def finetunejob_namespace(kube_cluster: Any) -> Iterator[str]:
    """The FineTuneJob CRD generated from the models installed, and a fresh namespace."""
    kube_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=sloserve-api-tests",
        "-f",
        "-",
        input=crd_files.render_yaml(finetunejob.finetunejob_crd()),
    )
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{finetunejob.CRD_NAME}"
    )
    name = f"ftj-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.cluster
@pytest.mark.parametrize("path", _bad_files(), ids=lambda path: path.stem)
def test_the_api_server_refuses_it_naming_the_field(
    path: Path, kube_cluster: Any, finetunejob_namespace: str
) -> None:
    result = kube_cluster.kubectl(
        "apply", "--dry-run=server", "-n", finetunejob_namespace, "-f", str(path), check=False
    )
    assert result.returncode != 0, f"{path.name} was accepted: {result.stdout}"
    assert _field(path) in result.stderr, result.stderr
    says = _says(path)
    if says is not None:
        assert says in result.stderr, result.stderr


@pytest.mark.cluster
def test_the_api_server_stores_the_sample_with_defaults_and_takes_a_status(
    kube_cluster: Any, finetunejob_namespace: str
) -> None:
    kube_cluster.kubectl("apply", "-n", finetunejob_namespace, "-f", str(SAMPLE))
    stored = json.loads(
        kube_cluster.kubectl(
            "get", "ftj", "support-adapter", "-n", finetunejob_namespace, "-o", "json"
        ).stdout
    )
    assert stored["spec"]["adapter"]["dropout"] == 0.0
    assert stored["spec"]["paused"] is False
    assert stored["spec"]["checkpoints"]["everySteps"] == 50
    status = {
        "status": {
            "phase": "Throttled",
            "steps": "120/2000",
            "node": "gpu-node-1",
            "progress": {"completedSteps": 120, "totalSteps": 2000, "tokensPerSecond": 5400.5},
            "throttle": {"share": 0.25, "microBatchSize": 4, "reason": "interactive headroom"},
        }
    }
    kube_cluster.kubectl(
        "patch", "ftj", "support-adapter", "-n", finetunejob_namespace,
        "--subresource=status", "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    table = kube_cluster.kubectl("get", "ftj", "-n", finetunejob_namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "MODEL", "SERVICE", "PHASE"]
    assert row.split()[:6] == [
        "support-adapter",
        "llama-8b-sim",
        "Throttled",
        "120/2000",
        "0.25",
        "5400.5",
    ]
