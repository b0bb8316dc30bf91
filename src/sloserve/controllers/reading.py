"""Reading a ModelService's spec and status, and the words for a failed apply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
import pydantic
from kubernetes.client.exceptions import ApiException

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus
from sloserve.builders.errors import SpecError
from sloserve.controllers.context import ObjectState
from sloserve.controllers.kube_apply import api_error_message

__all__ = ["failure_message", "read_spec", "read_status"]


def read_spec(raw: Mapping[str, Any], *, generation: int, state: ObjectState) -> ModelServiceSpec:
    """The validated spec of `generation`, parsed once per generation. Raises SpecError
    naming every field that is wrong (the API server validates the same rules, so this happens
    only when its CRD and these models disagree)."""
    if state.spec is not None and state.spec[0] == generation:
        return state.spec[1]
    try:
        parsed = ModelServiceSpec.model_validate(dict(raw))
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'spec'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise SpecError("", problems) from error
    state.spec = (generation, parsed)
    return parsed


def read_status(raw: Any) -> ModelServiceStatus | None:
    """The status as last written, or None when there is none or it is malformed (another
    writer's mistake is then overwritten, not trusted)."""
    if not raw:
        return None
    try:
        return ModelServiceStatus.model_validate(dict(raw))
    except pydantic.ValidationError:
        return None


def failure_message(error: BaseException) -> str:
    """What went wrong, in the API server's words when it answered."""
    if isinstance(error, kopf.TemporaryError | kopf.PermanentError):
        return str(error)
    if isinstance(error, ApiException):
        return api_error_message(error)
    return f"{type(error).__name__}: {error}"
