"""Every object in bad_objects/ is refused, naming the field, by the models and by the API server.

Each file starts with a comment saying why it is wrong and a `# field: <path>` line naming the
field the API server's error must mention. The same file is refused by
`kubectl apply --dry-run=server -f` and by `ModelService.model_validate`, which is how the CRD
rules and the Python rules are kept in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from sloserve.api import modelservice

BAD_OBJECTS = Path(__file__).parent / "bad_objects"
_FIELD_LINE = re.compile(r"^# field: (?P<field>\S+)$", re.MULTILINE)


def _bad_object_files() -> list[Path]:
    return sorted(BAD_OBJECTS.glob("*.yaml"))


def _expected_field(path: Path) -> str:
    match = _FIELD_LINE.search(path.read_text())
    assert match, f"{path.name} has no '# field: <path>' line"
    return match["field"]


def _last_field_name(field: str) -> str:
    # "spec.sloClasses[1]" -> "sloClasses"; "spec.engine.image" -> "image"
    return re.sub(r"\[\d+\]", "", field).rsplit(".", 1)[-1]


def test_there_are_at_least_fifteen_bad_objects_each_naming_its_field() -> None:
    files = _bad_object_files()
    assert len(files) >= 15
    assert all(_expected_field(path) for path in files)


@pytest.mark.parametrize("path", _bad_object_files(), ids=lambda path: path.stem)
def test_the_models_refuse_it_naming_the_field(path: Path) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        modelservice.ModelService.model_validate(yaml.safe_load(path.read_text()))
    assert _last_field_name(_expected_field(path)) in str(error.value)


@pytest.mark.parametrize("path", _bad_object_files(), ids=lambda path: path.stem)
def test_the_api_server_refuses_it_naming_the_field(
    path: Path, kube_cluster: Any, namespace: str
) -> None:
    result = kube_cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False
    )
    assert result.returncode != 0, f"{path.name} was accepted: {result.stdout}"
    assert _expected_field(path) in result.stderr, result.stderr
