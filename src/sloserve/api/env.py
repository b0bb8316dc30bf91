"""The environment of the engine container: variables with a value or taken from a Secret, a
ConfigMap or the pod's own fields, and whole Secrets or ConfigMaps as variables.

The shapes are Kubernetes' own (`EnvVar`, `EnvFromSource`), so that what a user knows from a Pod
carries over; the rules Kubernetes enforces on a Pod are enforced here already, so that a wrong
entry is refused when the ModelService is applied, not later when the Deployment is.
"""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import ApiModel, DnsSubdomain, require_exactly_one

__all__ = [
    "ENV_NAME_PATTERN",
    "HF_TOKEN_ENV",
    "ConfigMapEnvSource",
    "ConfigMapKeySelector",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "ObjectFieldSelector",
    "SecretEnvSource",
    "SecretKeySelector",
    "TokenSecret",
]

#: What kubelet accepts as an environment variable name in every Kubernetes release we support.
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: The variable Hugging Face libraries (and so vLLM) read the hub token from.
HF_TOKEN_ENV = "HF_TOKEN"
# A key of a Secret or ConfigMap.
_DATA_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# The pod fields a `fieldRef` may name, as the API server lists them for containers' env.
_POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_LABEL_OR_ANNOTATION_FIELD = r"^metadata\.(labels|annotations)\['[^']+'\]$"


class SecretKeySelector(ApiModel):
    """One key of a Secret in the ModelService's namespace."""

    name: DnsSubdomain
    """Name of the Secret."""

    key: str = Field(min_length=1, max_length=253, pattern=_DATA_KEY_PATTERN)
    """Key within the Secret."""

    optional: bool | None = None
    """Start the engine even when the Secret or the key does not exist (default false)."""


class ConfigMapKeySelector(ApiModel):
    """One key of a ConfigMap in the ModelService's namespace."""

    name: DnsSubdomain
    """Name of the ConfigMap."""

    key: str = Field(min_length=1, max_length=253, pattern=_DATA_KEY_PATTERN)
    """Key within the ConfigMap."""

    optional: bool | None = None
    """Start the engine even when the ConfigMap or the key does not exist (default false)."""


class ObjectFieldSelector(ApiModel):
    """A field of the engine pod, as in the downward API."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                f"self.fieldPath in {list(_POD_FIELDS)!r}"
                f" || self.fieldPath.matches({cel.string_literal(_LABEL_OR_ANNOTATION_FIELD)})",
                message_expression=(
                    "'fieldPath \"' + self.fieldPath + '\" is not a pod field the downward API"
                    f" gives containers: use one of {', '.join(_POD_FIELDS)},"
                    " metadata.labels[\\'KEY\\'] or metadata.annotations[\\'KEY\\']'"
                ),
                field_path=".fieldPath",
            )
        )
    )

    field_path: str = Field(min_length=1, max_length=320)
    """The pod field, e.g. `status.podIP`, `spec.nodeName` or `metadata.labels['team']`."""

    api_version: str | None = Field(default=None, max_length=63)
    """Version of the schema `fieldPath` is written in (default `v1`)."""

    @model_validator(mode="after")
    def _is_a_pod_field(self) -> ObjectFieldSelector:
        if self.field_path not in _POD_FIELDS and not re.fullmatch(
            _LABEL_OR_ANNOTATION_FIELD, self.field_path
        ):
            raise ValueError(
                f'fieldPath "{self.field_path}" is not a pod field the downward API gives'
                f" containers: use one of {', '.join(_POD_FIELDS)}, metadata.labels['KEY'] or"
                " metadata.annotations['KEY']"
            )
        return self


_VALUE_SOURCES = ("secret_key_ref", "config_map_key_ref", "field_ref")


class EnvVarSource(ApiModel):
    """Where a variable's value comes from: exactly one of a Secret key, a ConfigMap key or a
    pod field."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("secretKeyRef", "configMapKeyRef", "fieldRef", what="valueFrom")
        )
    )

    secret_key_ref: SecretKeySelector | None = None
    """A key of a Secret: the value never appears in the ModelService."""

    config_map_key_ref: ConfigMapKeySelector | None = None
    """A key of a ConfigMap."""

    field_ref: ObjectFieldSelector | None = None
    """A field of the engine pod."""

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        require_exactly_one(self, *_VALUE_SOURCES, what="valueFrom")
        return self


class EnvVar(ApiModel):
    """An environment variable of the engine container: a literal `value`, or `valueFrom` a
    Secret, a ConfigMap or a pod field."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.value) || !has(self.valueFrom)",
                message_expression=(
                    "'env ' + self.name + ' sets both value and valueFrom; keep one'"
                ),
                reason="FieldValueForbidden",
            )
        )
    )

    name: str = Field(min_length=1, max_length=253, pattern=ENV_NAME_PATTERN)
    """Variable name: letters, digits, `_`, `-` and `.`, not starting with a digit."""

    value: str | None = Field(default=None, max_length=32768)
    """Literal value. Do not put secrets here: use `valueFrom.secretKeyRef`."""

    value_from: EnvVarSource | None = None
    """Take the value from a Secret key, a ConfigMap key or a pod field."""

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"env {self.name} sets both value and valueFrom; keep one")
        return self


class SecretEnvSource(ApiModel):
    """Every key of a Secret, as variables."""

    name: DnsSubdomain
    """Name of the Secret."""

    optional: bool | None = None
    """Start the engine even when the Secret does not exist (default false)."""


class ConfigMapEnvSource(ApiModel):
    """Every key of a ConfigMap, as variables."""

    name: DnsSubdomain
    """Name of the ConfigMap."""

    optional: bool | None = None
    """Start the engine even when the ConfigMap does not exist (default false)."""


class EnvFromSource(ApiModel):
    """Every key of one Secret or ConfigMap becomes a variable (keys that are not valid
    variable names are skipped by the kubelet)."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("secretRef", "configMapRef", what="envFrom")
        )
    )

    prefix: str | None = Field(default=None, max_length=253, pattern=ENV_NAME_PATTERN)
    """Put before every key to make the variable's name."""

    secret_ref: SecretEnvSource | None = None
    """The Secret whose keys become variables."""

    config_map_ref: ConfigMapEnvSource | None = None
    """The ConfigMap whose keys become variables."""

    @model_validator(mode="after")
    def _one_source(self) -> EnvFromSource:
        require_exactly_one(self, "secret_ref", "config_map_ref", what="envFrom")
        return self


class TokenSecret(ApiModel):
    """A Secret key holding a Hugging Face access token."""

    name: DnsSubdomain
    """Name of the Secret, e.g. one made with `kubectl create secret generic hf-token
    --from-literal=HF_TOKEN=hf_...`."""

    key: str = Field(default=HF_TOKEN_ENV, min_length=1, max_length=253, pattern=_DATA_KEY_PATTERN)
    """Key within the Secret (default `HF_TOKEN`)."""
