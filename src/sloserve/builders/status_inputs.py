"""What a ModelService's status is computed from: the spec's targets, what the operator
observed of its engines, why the last apply failed, and the reasons its conditions give."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus
from sloserve.builders.observed import DeploymentState, PodState
from sloserve.builders.profile_check import ProfileCheck

__all__ = ["Observation", "Reason", "ReconcileFailure", "Targets"]


class Reason(enum.StrEnum):
    """Reasons of the conditions the operator sets."""

    ENGINES_READY = "EnginesReady"
    ENGINES_STARTING = "EnginesStarting"
    SCALED_TO_ZERO = "ScaledToZero"
    RECONCILING = "Reconciling"
    ROLLING_OUT = "RollingOut"
    ROLLOUT_COMPLETE = "RolloutComplete"
    AS_EXPECTED = "AsExpected"
    INVALID_SPEC = "InvalidSpec"
    APPLY_FAILED = "ApplyFailed"
    NO_NODE_WITH_GPU_PRODUCT = "NoNodeWithGPUProduct"
    IMAGE_PULL_FAILING = "ImagePullFailing"
    ENGINE_ARGS_REJECTED = "EngineArgsRejected"
    CRASH_LOOPING = "CrashLooping"
    CONTAINER_CONFIG_FAILING = "ContainerConfigFailing"
    UNSCHEDULABLE = "Unschedulable"
    PODS_NOT_CREATED = "PodsNotCreated"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    PROFILE_FOUND = "ProfileFound"
    PROFILE_UNKNOWN = "ProfileUnknown"
    OBJECTIVES_ATTAINABLE = "ObjectivesAttainable"
    TTFT_BELOW_BEST_CASE_PREFILL = "TTFTBelowBestCasePrefill"
    NO_PROMPT_BOUND = "NoPromptBound"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Targets:
    """What the status is measured against: the replicas and GPU product the spec asks for,
    and what was found of its latency profile (None when the spec did not validate)."""

    replicas: int
    gpu_product: str | None
    profile: ProfileCheck | None = None
    engine_args: tuple[str, ...] = ()
    """`spec.engine.args`, to say which of them an engine refused."""

    @classmethod
    def of(cls, spec: ModelServiceSpec, *, profile: ProfileCheck | None = None) -> Targets:
        return cls(
            replicas=spec.replicas,
            gpu_product=spec.engine.gpu_product,
            profile=profile,
            engine_args=tuple(spec.engine.args),
        )

    @classmethod
    def lenient(cls, spec: Mapping[str, Any]) -> Targets:
        """Read from a raw spec that did not validate, keeping whatever is well-formed, so that
        an invalid spec still gets a status that says so."""
        replicas = spec.get("replicas", 1)
        engine = spec.get("engine")
        product = engine.get("gpuProduct") if isinstance(engine, Mapping) else None
        args = engine.get("args") if isinstance(engine, Mapping) else None
        return cls(
            replicas=replicas if isinstance(replicas, int) and replicas >= 0 else 0,
            gpu_product=product if isinstance(product, str) else None,
            engine_args=(
                tuple(a for a in args if isinstance(a, str)) if isinstance(args, list) else ()
            ),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReconcileFailure:
    """Why the last attempt to apply the children failed: `InvalidSpec` (the spec must change)
    or `ApplyFailed` (the API refused or failed; retried with backoff)."""

    reason: Reason
    message: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observation:
    """Everything the status is computed from.

    Attributes:
        generation: the ModelService's `metadata.generation`.
        applied_generation: the generation whose children were last applied successfully.
        failure: why the last apply failed, if it did.
        deployment: the engines' Deployment, if it exists.
        pods: the engine pods that exist.
        gpu_products: every `nvidia.com/gpu.product` some node offers.
        previous: the status as last read, for transition times and others' placement data.
    """

    generation: int
    applied_generation: int | None
    failure: ReconcileFailure | None
    deployment: DeploymentState | None
    pods: tuple[PodState, ...]
    gpu_products: frozenset[str]
    previous: ModelServiceStatus | None
