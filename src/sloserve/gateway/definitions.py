"""Model definitions from ModelService-shaped input, shared by the static file and Kubernetes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sloserve.api import spec
from sloserve.builders import profile_choice
from sloserve.gateway import classify, datastore
from sloserve.scheduling import slo


def scheduling_class(api_class: spec.SLOClass) -> slo.SLOClass:
    """The scheduling core's view of a ModelService class.

    The API's priority says "higher is more important"; the core's follows vLLM, where lower runs
    first, so the sign flips.
    """
    return slo.SLOClass(
        name=api_class.name,
        ttft_s=api_class.ttft_seconds,
        tpot_s=api_class.tpot_seconds,
        priority=-(api_class.priority or 0),
    )


def model_definition(
    *, model: str, slo_classes: Iterable[spec.SLOClass], default_class: str, profile: str
) -> datastore.ModelDefinition:
    classes = {api_class.name: scheduling_class(api_class) for api_class in slo_classes}
    return datastore.ModelDefinition(
        classes=classify.ModelClasses(model=model, classes=classes, default_class=default_class),
        profile=profile,
    )


def from_spec(model_spec: spec.ModelServiceSpec) -> datastore.ModelDefinition:
    """The model of a ModelService, predicted with the profile the operator reports too
    (`profile_choice`): named, chosen for `auto`, or the conservative prior when none fits."""
    resolution = profile_choice.choose_profile(model=model_spec.model, engine=model_spec.engine)
    definition = model_definition(
        model=model_spec.model,
        slo_classes=model_spec.slo_classes,
        default_class=model_spec.default_class,
        profile=resolution.profile or profile_choice.CONSERVATIVE_PRIOR,
    )
    return dataclasses.replace(
        definition,
        prefill_scale=resolution.prefill_scale,
        decode_scale=resolution.decode_scale,
        profile_rule=resolution.rule,
    )
