"""Whether a ModelService's latency profile exists, and whether its TTFT objectives can be met
on it at all.

The gateway predicts every TTFT and TPOT from the profile `sloserve.builders.profile_choice`
chooses; a name it cannot resolve leaves the model unservable (503), `auto` with nothing that fits
leaves it predicted from a conservative prior until calibrated, and a class whose TTFT objective
is below the best-case prefill of its longest prompt (an empty engine, nothing queued) is
rejected or missed on every such request. Pure: the caller resolves the profile and passes what
it found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from sloserve.api.spec import ModelServiceSpec
from sloserve.scheduling.profile_resolution import ProfileResolution

__all__ = ["InfeasibleClass", "ProfileCheck", "check_profile"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class InfeasibleClass:
    """A class whose TTFT objective is below the best-case prefill of its longest prompt."""

    name: str
    ttft_s: float
    max_prompt_tokens: int
    best_prefill_s: float

    def describe(self) -> str:
        return (
            f"class {self.name}: ttft {self.ttft_s * 1000:g} ms is below the best-case prefill "
            f"of a {self.max_prompt_tokens}-token prompt, {self.best_prefill_s * 1000:.0f} ms"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileCheck:
    """What the operator found about a spec's profile.

    Attributes:
        profile: `engine.profile` (a name, or `auto`).
        known: every profile name that resolves, sorted.
        resolved: whether a profile was found (`profile` is one of `known`, or `auto` chose one).
        chosen: the profile predictions use when resolved (`profile` itself unless `auto`).
        rule: how it was chosen ("named", "exact", "nearest-gpu", "nearest-size", "none").
        detail: what the choice was, or why nothing fits (for `auto`).
        checked_classes: names of the classes with `maxPromptTokens` (the ones that could be
            checked); empty when the profile is unknown.
        infeasible: the checked classes whose TTFT objective cannot be met, in spec order.
    """

    profile: str
    known: tuple[str, ...]
    resolved: bool
    chosen: str | None = None
    rule: str = "named"
    detail: str = ""
    checked_classes: tuple[str, ...] = ()
    infeasible: tuple[InfeasibleClass, ...] = ()


def check_profile(
    spec: ModelServiceSpec,
    *,
    known: Sequence[str],
    prefill_time_s: Callable[[int], float] | None,
    resolution: ProfileResolution | None = None,
) -> ProfileCheck:
    """Checks the chosen profile (`resolution`, default: `spec.engine.profile` by name) against
    `known` names, and, with its `prefill_time_s(tokens)` (best case: an idle engine), every
    class that declares `maxPromptTokens`. `prefill_time_s` is None when the profile did not
    resolve."""
    profile = spec.engine.profile
    names = tuple(sorted(known))
    if resolution is None:
        resolution = ProfileResolution(profile=profile, rule="named")
    chosen = resolution.profile
    if prefill_time_s is None or chosen is None or chosen not in names:
        return ProfileCheck(
            profile=profile,
            known=names,
            resolved=False,
            rule=resolution.rule,
            detail=resolution.message,
        )
    checked: list[str] = []
    infeasible: list[InfeasibleClass] = []
    for slo_class in spec.slo_classes:
        if slo_class.max_prompt_tokens is None:
            continue
        checked.append(slo_class.name)
        best = prefill_time_s(slo_class.max_prompt_tokens)
        if slo_class.ttft_seconds < best:
            infeasible.append(
                InfeasibleClass(
                    name=slo_class.name,
                    ttft_s=slo_class.ttft_seconds,
                    max_prompt_tokens=slo_class.max_prompt_tokens,
                    best_prefill_s=best,
                )
            )
    return ProfileCheck(
        profile=profile,
        known=names,
        resolved=True,
        chosen=chosen,
        rule=resolution.rule,
        detail=resolution.message,
        checked_classes=tuple(checked),
        infeasible=tuple(infeasible),
    )
