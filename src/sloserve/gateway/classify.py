"""Which SLO class a request runs in, from its headers and its tenant's rights.

Headers understood:
- `x-slo-class: <name>` and the Gateway API inference extension's
  `x-gateway-inference-objective: <name>` name a class of the model (if both are sent they must
  agree).
- `x-slo-ttft-ms` / `x-slo-tpot-ms` (the inference extension's latency objectives, milliseconds)
  become the request's own targets. They may loosen the class's targets, never tighten them: a
  tighter target would move the request ahead of its class in the deadline queue, which is an
  upgrade the tenant was not given. Without a class name, they pick the loosest class the tenant may
  use that meets them.

Otherwise the class is the tenant's default (if the model has it), else the model's default. A class
the tenant may not use is refused with 403, never replaced by another.

`x-session-id: <id>` names the conversation a request belongs to, for session-affinity routing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sloserve.gateway import errors, tenants
from sloserve.scheduling import slo

CLASS_HEADER = "x-slo-class"
OBJECTIVE_HEADER = "x-gateway-inference-objective"
TTFT_HEADER = "x-slo-ttft-ms"
TPOT_HEADER = "x-slo-tpot-ms"
SESSION_HEADER = "x-session-id"
_MAX_SESSION_ID_LENGTH = 256


@dataclass(frozen=True)
class ClassChoice:
    """The class a request runs in and its own targets (None: the class's), in seconds."""

    slo_class: slo.SLOClass
    ttft_target_s: float | None
    tpot_target_s: float | None


@dataclass(frozen=True)
class ModelClasses:
    """The classes of one model, in declaration order, and its default."""

    model: str
    classes: Mapping[str, slo.SLOClass]
    default_class: str


def choose_class(
    *, headers: Mapping[str, str], tenant: tenants.Tenant, model: ModelClasses
) -> ClassChoice:
    """The class for a request, or a GatewayError (400 bad header, 403 class not allowed)."""
    named = _named_class(headers)
    ttft_s = _objective_seconds(headers, TTFT_HEADER)
    tpot_s = _objective_seconds(headers, TPOT_HEADER)
    if named is not None:
        chosen = _known_class(model, named)
    elif ttft_s is not None or tpot_s is not None:
        chosen = _loosest_meeting(model, tenant, ttft_s=ttft_s, tpot_s=tpot_s)
    else:
        default = tenant.default_class
        if default is None or default not in model.classes:
            default = model.default_class
        chosen = model.classes[default]
    if not tenant.may_use(chosen.name, model_default=model.default_class):
        raise _forbidden(
            f"tenant {tenant.name!r} may not use SLO class {chosen.name!r} of model "
            f"{model.model!r}; allowed: {_allowed_names(model, tenant)}",
            slo_class=chosen.name,
        )
    _refuse_tighter(chosen, header=TTFT_HEADER, asked_s=ttft_s, target_s=chosen.ttft_s)
    _refuse_tighter(chosen, header=TPOT_HEADER, asked_s=tpot_s, target_s=chosen.tpot_s)
    return ClassChoice(slo_class=chosen, ttft_target_s=ttft_s, tpot_target_s=tpot_s)


def session_of(headers: Mapping[str, str]) -> str | None:
    """The request's session, from `x-session-id` (None when absent or blank); raises a 400
    GatewayError for one longer than 256 characters."""
    session = headers.get(SESSION_HEADER, "").strip()
    if len(session) > _MAX_SESSION_ID_LENGTH:
        raise errors.invalid_request(
            f"header {SESSION_HEADER} may be at most {_MAX_SESSION_ID_LENGTH} characters long, "
            f"got {len(session)}",
            param=SESSION_HEADER,
        )
    return session or None


def _named_class(headers: Mapping[str, str]) -> str | None:
    by_class = headers.get(CLASS_HEADER, "").strip() or None
    by_objective = headers.get(OBJECTIVE_HEADER, "").strip() or None
    if by_class and by_objective and by_class != by_objective:
        raise errors.invalid_request(
            f"headers disagree: {CLASS_HEADER} is {by_class!r} but {OBJECTIVE_HEADER} is "
            f"{by_objective!r}; send one of them, or the same class in both",
            param=CLASS_HEADER,
        )
    return by_class or by_objective


def _objective_seconds(headers: Mapping[str, str], header: str) -> float | None:
    raw = headers.get(header)
    if raw is None or not raw.strip():
        return None
    try:
        milliseconds = float(raw)
    except ValueError:
        milliseconds = math.nan
    if not math.isfinite(milliseconds) or milliseconds <= 0:
        raise errors.invalid_request(
            f"header {header} must be a positive number of milliseconds, got {raw!r}",
            param=header,
        )
    return milliseconds / 1000.0


def _known_class(model: ModelClasses, name: str) -> slo.SLOClass:
    found = model.classes.get(name)
    if found is None:
        raise errors.invalid_request(
            f"model {model.model!r} has no SLO class {name!r}; its classes are "
            f"{', '.join(model.classes)}",
            param=CLASS_HEADER,
        )
    return found


def _loosest_meeting(
    model: ModelClasses,
    tenant: tenants.Tenant,
    *,
    ttft_s: float | None,
    tpot_s: float | None,
) -> slo.SLOClass:
    meeting = [
        candidate
        for candidate in model.classes.values()
        if (ttft_s is None or candidate.ttft_s <= ttft_s)
        and (tpot_s is None or candidate.tpot_s <= tpot_s)
    ]
    allowed = [
        candidate
        for candidate in meeting
        if tenant.may_use(candidate.name, model_default=model.default_class)
    ]
    if allowed:
        return max(allowed, key=lambda candidate: (candidate.ttft_s, candidate.tpot_s))
    asked = _describe_objectives(ttft_s=ttft_s, tpot_s=tpot_s)
    if meeting:
        raise _forbidden(
            f"only SLO classes {', '.join(c.name for c in meeting)} of model {model.model!r} meet "
            f"{asked}, and tenant {tenant.name!r} may not use them; allowed: "
            f"{_allowed_names(model, tenant)}",
            slo_class=meeting[0].name,
        )
    raise errors.invalid_request(
        f"no SLO class of model {model.model!r} meets {asked}; loosen the objective or name a "
        f"class with {CLASS_HEADER}",
        param=TTFT_HEADER if ttft_s is not None else TPOT_HEADER,
    )


def _refuse_tighter(
    chosen: slo.SLOClass, *, header: str, asked_s: float | None, target_s: float
) -> None:
    if asked_s is not None and asked_s < target_s:
        raise _forbidden(
            f"{header} {asked_s * 1000:g} is tighter than SLO class {chosen.name!r}'s "
            f"{target_s * 1000:g} ms; ask for a class whose targets are that tight",
            slo_class=chosen.name,
        )


def _describe_objectives(*, ttft_s: float | None, tpot_s: float | None) -> str:
    parts = []
    if ttft_s is not None:
        parts.append(f"{TTFT_HEADER} {ttft_s * 1000:g}")
    if tpot_s is not None:
        parts.append(f"{TPOT_HEADER} {tpot_s * 1000:g}")
    return " and ".join(parts)


def _allowed_names(model: ModelClasses, tenant: tenants.Tenant) -> str:
    names = [
        name for name in model.classes if tenant.may_use(name, model_default=model.default_class)
    ]
    return ", ".join(names) or "none"


def _forbidden(message: str, *, slo_class: str) -> errors.GatewayError:
    return errors.GatewayError(
        status=403,
        message=message,
        error_type="permission_error",
        code="forbidden_class",
        extra={"slo_class": slo_class},
    )
