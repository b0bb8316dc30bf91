"""A container's environment: `env` and `envFrom` of its manifest, resolved."""

from __future__ import annotations

from collections.abc import Mapping

from sloserve.dev.kubelet import api, downward, expansion, objects


async def container_env(
    *,
    container: api.JsonObject,
    facts: downward.PodFacts,
    pod_objects: objects.PodObjects,
    base: Mapping[str, str],
    node_allocatable: Mapping[str, str],
) -> dict[str, str]:
    """`base` (the variables every container gets), then `envFrom` sources in order, then `env`
    entries in order, each value `$(VAR)`-expanded against what was defined before it.
    Raises objects.ConfigError for a missing non-optional Secret, ConfigMap or key, or an
    unsupported field."""
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        kind, reference = _env_from_reference(source)
        data = await pod_objects.required(
            kind, reference["name"], optional=bool(reference.get("optional"))
        )
        for key, raw in (data or {}).items():
            env[prefix + key] = raw.decode(errors="replace")
    for entry in container.get("env") or []:
        name = entry["name"]
        if "valueFrom" in entry:
            resolved = await _value_from(
                entry["valueFrom"],
                variable=name,
                container=container,
                facts=facts,
                pod_objects=pod_objects,
                node_allocatable=node_allocatable,
            )
            if resolved is None:
                continue
            env[name] = resolved
        else:
            env[name] = expansion.expand(str(entry.get("value", "")), env)
    return env


def _env_from_reference(source: api.JsonObject) -> tuple[str, api.JsonObject]:
    if "secretRef" in source:
        return "secret", source["secretRef"]
    if "configMapRef" in source:
        return "configmap", source["configMapRef"]
    raise objects.ConfigError(f"envFrom entry {source!r} names neither secretRef nor configMapRef")


async def _value_from(
    source: api.JsonObject,
    *,
    variable: str,
    container: api.JsonObject,
    facts: downward.PodFacts,
    pod_objects: objects.PodObjects,
    node_allocatable: Mapping[str, str],
) -> str | None:
    try:
        if "fieldRef" in source:
            return downward.field_value(facts, source["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in source:
            reference = source["resourceFieldRef"]
            return downward.resource_value(
                container=container,
                resource=reference["resource"],
                divisor=reference.get("divisor"),
                node_allocatable=node_allocatable,
            )
    except downward.FieldError as error:
        raise objects.ConfigError(f"env {variable}: {error}") from error
    for key, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        if key in source:
            reference = source[key]
            optional = bool(reference.get("optional"))
            data = await pod_objects.required(kind, reference["name"], optional=optional)
            if data is None:
                return None
            if reference["key"] not in data:
                if optional:
                    return None
                raise objects.ConfigError(
                    f'env {variable}: key "{reference["key"]}" not found in {kind} '
                    f'"{reference["name"]}"'
                )
            return data[reference["key"]].decode(errors="replace")
    raise objects.ConfigError(f"env {variable}: valueFrom {sorted(source)} is not supported")
