"""docs/operator.md names every setting of the operator."""

from __future__ import annotations

import pathlib

from pydantic import BaseModel

from sloserve.builders.status import Reason
from sloserve.operator.settings import OperatorSettings

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def _environment_variables() -> list[str]:
    names = []
    for group, field in OperatorSettings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        names += [
            f"SLOSERVE_OPERATOR__{group.upper()}__{name.upper()}" for name in model.model_fields
        ]
    return names


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in _environment_variables() if f"`{name}`" not in text]
    assert not missing, f"docs/operator.md lacks {missing}"


def test_every_condition_reason_is_documented() -> None:
    text = DOC.read_text()
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in text]
    assert not missing, f"docs/operator.md lacks {missing}"
