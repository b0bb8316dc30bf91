"""Tenants: who is calling, and which SLO classes they may use.

The tenants file (YAML or JSON; usually a Kubernetes Secret mounted as a file) looks like::

    tenants:
      - name: team-a
        keys: ["sk-team-a-1"]
        allowedClasses: [interactive, standard]   # omitted: every class of every model
        defaultClass: interactive                 # omitted: the model's default class
    anonymous:                                    # optional: requests that carry no key
      allowedClasses: [standard]

When no tenant has a key, requests need no key and run as the anonymous tenant; without an
`anonymous` entry that tenant may use only each model's default class. When keys exist, a request
without a key is refused (401) unless `anonymous` is given.

Where the gateway knows every class it serves (a static models file), a class named in
`allowedClasses` or `defaultClass` that no model has is refused when the file is loaded, naming
the tenant and the class: a typo there would otherwise refuse the tenant's requests with 403.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from sloserve.gateway import errors

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


class _FileModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class TenantSpec(_FileModel):
    name: str = Field(min_length=1)
    keys: list[str] = Field(default_factory=list)
    allowed_classes: list[str] | None = None
    default_class: str | None = None

    @model_validator(mode="after")
    def _default_is_allowed(self) -> TenantSpec:
        if (
            self.default_class is not None
            and self.allowed_classes is not None
            and self.default_class not in self.allowed_classes
        ):
            raise ValueError(
                f"tenant {self.name!r}: defaultClass {self.default_class!r} is not among "
                f"allowedClasses {self.allowed_classes}; add it there or pick another default"
            )
        return self


class AnonymousSpec(_FileModel):
    allowed_classes: list[str] | None = None
    default_class: str | None = None


class TenantsFile(_FileModel):
    tenants: list[TenantSpec] = Field(default_factory=list)
    anonymous: AnonymousSpec | None = None

    @model_validator(mode="after")
    def _names_are_unique(self) -> TenantsFile:
        names = [tenant.name for tenant in self.tenants]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"tenants listed twice: {', '.join(twice)}; list each tenant once")
        return self

    @model_validator(mode="after")
    def _keys_are_unique(self) -> TenantsFile:
        owner: dict[str, str] = {}
        for tenant in self.tenants:
            for key in tenant.keys:
                if key in owner:
                    raise ValueError(
                        f"an API key is listed under both tenant {owner[key]!r} and tenant "
                        f"{tenant.name!r}; give each key to one tenant"
                    )
                owner[key] = tenant.name
        return self


@dataclass(frozen=True)
class Tenant:
    """A caller. `allowed_classes` None: every class; `default_class` None: the model's.
    `default_only`: the caller may use each model's default class and nothing else."""

    name: str
    allowed_classes: frozenset[str] | None
    default_class: str | None
    default_only: bool = False

    def may_use(self, slo_class: str, *, model_default: str) -> bool:
        if self.default_only:
            return slo_class == model_default
        return self.allowed_classes is None or slo_class in self.allowed_classes


@dataclass(frozen=True)
class TenantBook:
    """One consistent reading of the tenants file."""

    by_key: dict[str, Tenant]
    anonymous: Tenant | None
    by_name: dict[str, Tenant] = field(default_factory=dict)

    @classmethod
    def from_file_model(cls, model: TenantsFile) -> TenantBook:
        by_name = {
            spec.name: Tenant(
                name=spec.name,
                allowed_classes=_frozen(spec.allowed_classes),
                default_class=spec.default_class,
            )
            for spec in model.tenants
        }
        by_key = {key: by_name[spec.name] for spec in model.tenants for key in spec.keys}
        anonymous: Tenant | None
        if model.anonymous is not None:
            anonymous = Tenant(
                name=ANONYMOUS,
                allowed_classes=_frozen(model.anonymous.allowed_classes),
                default_class=model.anonymous.default_class,
            )
        elif not by_key:
            anonymous = Tenant(
                name=ANONYMOUS, allowed_classes=None, default_class=None, default_only=True
            )
        else:
            anonymous = None
        return cls(by_key=by_key, anonymous=anonymous, by_name=by_name)

    @classmethod
    def open_access(cls) -> TenantBook:
        """No tenants file: no keys, every request in its model's default class."""
        return cls.from_file_model(TenantsFile())

    @property
    def keys_configured(self) -> bool:
        return bool(self.by_key)

    def identify(self, authorization: str | None) -> Tenant:
        """The tenant of an `Authorization` header value, or a 401 GatewayError.

        Without keys configured, any header (or none) is the anonymous tenant: clients such as the
        OpenAI SDK always send some key.
        """
        if not self.keys_configured:
            assert self.anonymous is not None
            return self.anonymous
        key = _bearer_key(authorization)
        if key is None:
            if self.anonymous is not None:
                return self.anonymous
            raise _unauthorized("no API key: send 'Authorization: Bearer <key>'")
        tenant = self.by_key.get(key)
        if tenant is None:
            raise _unauthorized("the API key is not known; check the key or ask for one")
        return tenant

    def identify_by_name(self, name: str, *, header: str) -> Tenant:
        """The tenant a trusted gateway named in `header` (after authenticating the caller
        itself), or a 401 GatewayError when the tenants file has no tenant of that name."""
        tenant = self.by_name.get(name)
        if tenant is None:
            raise _unauthorized(
                f"{header} names tenant {name!r}, which the tenants file does not list; add it "
                "there or fix the gateway that sets the header"
            )
        return tenant


def load_tenants_file(path: Path, *, known_classes: frozenset[str] | None = None) -> TenantBook:
    """Read and validate a tenants file; raises ValueError naming the file and the problem.
    `known_classes`: every class the gateway serves, when it knows them all; a tenant naming
    another is refused."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"tenants file {path}: cannot read it: {reason}") from error
    try:
        model = TenantsFile.model_validate(raw or {})
    except ValueError as error:
        raise ValueError(f"tenants file {path}: {error}") from error
    if known_classes is not None:
        problem = unknown_class(model, known_classes)
        if problem is not None:
            raise ValueError(f"tenants file {path}: {problem}")
    return TenantBook.from_file_model(model)


def unknown_class(model: TenantsFile, known_classes: frozenset[str]) -> str | None:
    """The first class the file names that is not in `known_classes`, described; None when
    every one is known."""
    entries: list[tuple[str, list[str] | None, str | None]] = [
        (f"tenant {spec.name!r}", spec.allowed_classes, spec.default_class)
        for spec in model.tenants
    ]
    if model.anonymous is not None:
        entries.append(
            ("anonymous", model.anonymous.allowed_classes, model.anonymous.default_class)
        )
    known = ", ".join(sorted(known_classes)) or "none"
    for who, allowed, default in entries:
        for field_name, names in (("allowedClasses", allowed or []), ("defaultClass", [default])):
            for name in names:
                if name is not None and name not in known_classes:
                    return (
                        f"{who}: {field_name} names SLO class {name!r}, which no model has; the "
                        f"models' classes are {known}"
                    )
    return None


def _frozen(names: list[str] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(names)


def _bearer_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(message: str) -> errors.GatewayError:
    return errors.GatewayError(
        status=401,
        message=message,
        error_type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )
