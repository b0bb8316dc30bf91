"""The ModelService custom resource: its names in the API and the whole object as a model."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field

from sloserve.api.fields import ApiModel
from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus

__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "GROUP",
    "KIND",
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "ModelService",
    "ObjectMeta",
]

GROUP = "sloserve.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelService"
PLURAL = "modelservices"
SINGULAR = "modelservice"
SHORT_NAMES = ("msvc",)
CATEGORIES = ("sloserve",)

#: A ModelService's name also names its engines' Service, so it must be an RFC 1035 label.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX_LENGTH = 63


class ObjectMeta(ApiModel):
    """The parts of `metadata` sloserve reads; the API server's other fields are kept as given."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: AwareDatetime | None = None


class ModelService(ApiModel):
    """A model served by engine replicas behind the sloserve gateway, with per-class latency
    objectives (TTFT and TPOT) that the gateway admits, orders and routes requests by."""

    api_version: Literal["sloserve.io/v1alpha1"] = "sloserve.io/v1alpha1"
    kind: Literal["ModelService"] = "ModelService"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ModelServiceSpec
    status: ModelServiceStatus | None = None
