"""The engine of a ModelService: the inference server of each replica and its pod.

Rules that span fields are CEL rules on `Engine` (refused by the API server, with the field
named) and the same checks in Python; the attribute docstrings become the descriptions that
`kubectl explain modelservice.spec.engine` prints.
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from sloserve.api import cel, engine_flags
from sloserve.api.env import HF_TOKEN_ENV, EnvFromSource, EnvVar, TokenSecret
from sloserve.api.fields import INT32_MAX, ApiModel, DnsLabel, Quantity
from sloserve.api.model_cache import ModelCache, ModelSource
from sloserve.api.pod_overlay import PodOverlay, Resources
from sloserve.api.pod_storage import VolumeMount
from sloserve.api.quantities import parse_quantity
from sloserve.api.security import ContainerSecurityContext

__all__ = [
    "AUTO_PROFILE",
    "DEFAULT_PROFILE",
    "GPU_ENGINE_KINDS",
    "GPU_PRODUCT_LABEL",
    "HF_HOME_ENV",
    "SHM_PATH",
    "Engine",
    "EngineKind",
]

#: `engine.profile` that asks for the profile to be chosen from the model and GPU (the default).
AUTO_PROFILE = "auto"
#: The engine simulator's own default timing (the hardware a `sim` engine pretends to be when
#: nothing else says).
DEFAULT_PROFILE = "h100-llama3-8b"
#: The node label that `engine.gpuProduct` is matched against (set by NVIDIA's GPU feature
#: discovery).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: The variable Hugging Face libraries keep their cache under; pointed at the model cache.
HF_HOME_ENV = "HF_HOME"
#: Where the engine's shared memory is mounted.
SHM_PATH = "/dev/shm"

_INT32: cel.JsonDict = {"format": "int32"}
# A node label value, as `nvidia.com/gpu.product` is matched against one.
_LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_VLLM_IMAGE_EXAMPLE = "vllm/vllm-openai:v0.32.0"
_MAX_ARGS = 128
_MAX_ENV = 128
_MAX_MOUNTS = 32


class EngineKind(enum.StrEnum):
    """The server that runs each replica: `vllm` in production, `sim` (the sloserve engine
    simulator) in tests, development and benchmarks."""

    VLLM = "vllm"
    SIM = "sim"


#: Engine kinds that run on GPUs, and so need `engine.gpus` of at least one.
GPU_ENGINE_KINDS = frozenset({EngineKind.VLLM})

_PP = "(has(self.pipelineParallelSize) ? self.pipelineParallelSize : 1)"
_OWNED_FLAG_RULES = [
    cel.rule(
        f"!{engine_flags.cel_sets_flag(flag.spellings)}",
        message=f"{flag.spellings[0]} is set by the operator from {flag.source}; remove it from"
        " engine.args",
        field_path=".args",
        reason="FieldValueForbidden",
    )
    for flag in engine_flags.OWNED_FLAGS
]


def _reserved_env_rule(variable: str, owner: str) -> cel.JsonDict:
    return cel.rule(
        f"!has(self.{owner}) || !has(self.env) || !self.env.exists(e, e.name == '{variable}')",
        message=f"env {variable} is set by the operator from engine.{owner}; remove it from"
        " engine.env",
        field_path=".env",
        reason="FieldValueForbidden",
    )


_ENGINE_RULES = cel.validations(
    cel.rule(
        "!has(self.kind) || self.kind != 'vllm' || has(self.image)",
        message=f"image is required when kind is vllm, e.g. {_VLLM_IMAGE_EXAMPLE}",
        field_path=".image",
        reason="FieldValueRequired",
    ),
    cel.rule(
        "self.kind != 'vllm' || self.gpus >= 1",
        message="kind vllm runs on GPUs: set gpus to at least 1 (kind sim needs none)",
        field_path=".gpus",
    ),
    cel.rule(
        "!has(self.tensorParallelSize) && !has(self.pipelineParallelSize)"
        f" || (has(self.tensorParallelSize) ? self.tensorParallelSize : self.gpus / {_PP})"
        f" * {_PP} == self.gpus",
        message="tensorParallelSize × pipelineParallelSize must equal gpus: every GPU of a "
        "replica runs one shard (tensorParallelSize defaults to gpus / pipelineParallelSize, "
        "pipelineParallelSize to 1)",
        field_path=".tensorParallelSize",
    ),
    *_OWNED_FLAG_RULES,
    cel.rule(
        f"!has(self.modelSource) || !{engine_flags.cel_sets_flag(engine_flags.MODEL_FLAGS)}",
        message="--model is set by the operator from engine.modelSource; remove it from "
        "engine.args",
        field_path=".args",
        reason="FieldValueForbidden",
    ),
    cel.rule(
        "!has(self.modelSource) || !has(self.modelSource.revision)"
        f" || !{engine_flags.cel_sets_flag(engine_flags.REVISION_FLAGS)}",
        message="--revision is set by the operator from engine.modelSource.revision; remove it "
        "from engine.args",
        field_path=".args",
        reason="FieldValueForbidden",
    ),
    cel.rule(
        "!has(self.modelSource) || !has(self.modelSource.path) || has(self.modelCache)",
        message="modelSource.path is a directory inside the model cache: set engine.modelCache "
        "too, or use modelSource.hub",
        field_path=".modelSource.path",
        reason="FieldValueRequired",
    ),
    _reserved_env_rule(HF_TOKEN_ENV, "huggingFaceTokenSecret"),
    _reserved_env_rule(HF_HOME_ENV, "modelCache"),
    cel.rule(
        "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.pod)"
        " && has(self.pod.volumes) && self.pod.volumes.exists(v, v.name == m.name))",
        message="every volume mount must name one of engine.pod.volumes",
        field_path=".volumeMounts",
    ),
    cel.rule(
        f"!has(self.volumeMounts) || self.volumeMounts.all(m, m.mountPath != '{SHM_PATH}'"
        " && (!has(self.modelCache) || m.mountPath != self.modelCache.mountPath))",
        message=f"{SHM_PATH} and the model cache's mountPath are mounted by the operator; "
        "mount extra volumes elsewhere",
        field_path=".volumeMounts",
        reason="FieldValueForbidden",
    ),
    cel.rule(
        f"!has(self.gpuProduct) || !has(self.pod) || !has(self.pod.nodeSelector)"
        f" || !('{GPU_PRODUCT_LABEL}' in self.pod.nodeSelector)"
        f" || self.pod.nodeSelector['{GPU_PRODUCT_LABEL}'] == self.gpuProduct",
        message=f"pod.nodeSelector['{GPU_PRODUCT_LABEL}'] contradicts gpuProduct: no node "
        "could run the engine; set the product once, in gpuProduct",
        field_path=".pod.nodeSelector",
    ),
    cel.rule(
        "!has(self.shmSize) || quantity(string(self.shmSize)).isGreaterThan(quantity('0'))",
        message="shmSize must be above zero, e.g. 8Gi",
        field_path=".shmSize",
    ),
)


class Engine(ApiModel):
    """The inference server of each replica, and its pod."""

    model_config = ConfigDict(json_schema_extra=_ENGINE_RULES)

    kind: EngineKind
    """`vllm` or `sim`."""

    image: str | None = Field(default=None, min_length=1, max_length=1024)
    """Container image. Required for `vllm`; for `sim` the operator's own image is the
    default."""

    args: Annotated[
        tuple[Annotated[str, Field(max_length=4096)], ...], Field(max_length=_MAX_ARGS)
    ] = ()
    """Extra command-line arguments of the engine, after the ones the operator renders, e.g.
    `["--max-num-seqs=256"]`. Flags derived from other fields (`--served-model-name`, `--host`,
    `--port`, `--tensor-parallel-size`, `--pipeline-parallel-size`, and `--model` with
    `modelSource`) are refused."""

    env: Annotated[
        tuple[EnvVar, ...], Field(max_length=_MAX_ENV, json_schema_extra=cel.list_map("name"))
    ] = ()
    """Extra environment variables of the engine container, each a `value` or `valueFrom` a
    Secret key, a ConfigMap key or a pod field; names are unique."""

    env_from: Annotated[tuple[EnvFromSource, ...], Field(max_length=16)] = ()
    """Secrets and ConfigMaps whose every key becomes an environment variable."""

    hugging_face_token_secret: TokenSecret | None = None
    """The Secret key holding a Hugging Face token; the engine gets it as `HF_TOKEN`, so the
    token never appears in the ModelService."""

    gpus: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """GPUs (`nvidia.com/gpu`) per replica; at least 1 for `vllm`."""

    gpu_product: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=_LABEL_VALUE_PATTERN
    )
    """GPU model required of the node, matched against its `nvidia.com/gpu.product` label,
    e.g. `NVIDIA-H100-80GB-HBM3`."""

    tensor_parallel_size: int | None = Field(
        default=None, ge=1, le=INT32_MAX, json_schema_extra=_INT32
    )
    """GPUs each pipeline stage is split over (vLLM's `--tensor-parallel-size`); default
    `gpus / pipelineParallelSize`. Times `pipelineParallelSize` it must equal `gpus`."""

    pipeline_parallel_size: int | None = Field(
        default=None, ge=1, le=INT32_MAX, json_schema_extra=_INT32
    )
    """Pipeline stages (vLLM's `--pipeline-parallel-size`); default 1."""

    profile: DnsLabel = AUTO_PROFILE
    """Name of the measured latency profile used to predict TTFT and TPOT for admission, or
    `auto` (the default): chosen from `model` and `gpuProduct` (same shape and GPU; else the same
    shape on another GPU scaled by data-sheet ratios; else another size within 2x of the
    parameters scaled by their ratio). An unknown name shows as the condition
    `ProfileResolved=False` (`ProfileUnknown`); `auto` with nothing that fits as
    `ProfileResolved=False` (`NoProfileFits`), and predictions then start from a conservative
    prior that the gateway calibrates online."""

    model_source: ModelSource | None = None
    """The weights to load: a hub repository or a directory inside the model cache; default
    the hub repository named by `spec.model`."""

    model_cache: ModelCache | None = None
    """The volume the weights are cached on (a claim, a per-pod ephemeral volume or a host
    path), with `HF_HOME` pointed at it."""

    resources: Resources = Field(default_factory=Resources)
    """CPU and memory requests and limits of the engine container; for `vllm`, a resource with
    neither request nor limit gets a default sized from `gpus`."""

    shm_size: Quantity | None = None
    """Size limit of the engine's memory-backed `/dev/shm` (counted against its memory);
    default sized from `gpus`."""

    security_context: ContainerSecurityContext | None = None
    """Security settings of the engine container; unset fields keep the hardened defaults (no
    privilege escalation, every capability dropped, seccomp `RuntimeDefault`)."""

    volume_mounts: Annotated[
        tuple[VolumeMount, ...],
        Field(max_length=_MAX_MOUNTS, json_schema_extra=cel.list_map("mountPath")),
    ] = ()
    """Where `pod.volumes` appear in the engine container."""

    pod: PodOverlay = Field(default_factory=PodOverlay, json_schema_extra={"default": {}})
    """What the engine pods get beyond what the operator sets: scheduling constraints, pull
    secrets, service account, extra volumes, labels and annotations."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port the engine serves the OpenAI API and `/metrics` on."""

    @field_validator("env")
    @classmethod
    def _env_names_unique(cls, env: tuple[EnvVar, ...]) -> tuple[EnvVar, ...]:
        _refuse_duplicates([variable.name for variable in env], field="engine.env", key="named")
        return env

    @field_validator("volume_mounts")
    @classmethod
    def _mount_paths_unique(cls, mounts: tuple[VolumeMount, ...]) -> tuple[VolumeMount, ...]:
        paths = [mount.mount_path for mount in mounts]
        _refuse_duplicates(paths, field="engine.volumeMounts", key="at mountPath")
        return mounts

    @model_validator(mode="after")
    def _fields_agree(self) -> Engine:
        if self.kind is EngineKind.VLLM and self.image is None:
            raise ValueError(
                f"engine.image is required when engine.kind is vllm, e.g. {_VLLM_IMAGE_EXAMPLE}"
            )
        if self.kind in GPU_ENGINE_KINDS and self.gpus < 1:
            raise ValueError(
                f"engine.gpus: kind {self.kind.value} runs on GPUs: set gpus to at least 1 "
                "(kind sim needs none)"
            )
        self._check_parallelism()
        self._check_args()
        self._check_env()
        self._check_mounts()
        if (
            self.gpu_product is not None
            and self.pod.node_selector.get(GPU_PRODUCT_LABEL, self.gpu_product) != self.gpu_product
        ):
            raise ValueError(
                f"engine.pod.nodeSelector['{GPU_PRODUCT_LABEL}'] contradicts gpuProduct: no "
                "node could run the engine; set the product once, in gpuProduct"
            )
        if self.shm_size is not None and parse_quantity(self.shm_size) <= 0:
            raise ValueError("engine.shmSize must be above zero, e.g. 8Gi")
        return self

    def _check_parallelism(self) -> None:
        if self.tensor_parallel_size is None and self.pipeline_parallel_size is None:
            return
        stages = self.pipeline_parallel_size_or_default
        per_stage = self.tensor_parallel_size or self.gpus // stages
        if per_stage * stages != self.gpus:
            tensor = self.tensor_parallel_size or "unset"
            raise ValueError(
                f"engine.tensorParallelSize × pipelineParallelSize must equal gpus "
                f"({self.gpus}): every GPU of a replica runs one shard, got tensorParallelSize"
                f" {tensor} and pipelineParallelSize {stages}"
            )

    def _check_args(self) -> None:
        owned = engine_flags.first_owned_flag(self.args)
        if owned is not None:
            raise ValueError(
                f"engine.args: {owned.spellings[0]} is set by the operator from {owned.source};"
                " remove it from engine.args"
            )
        source = self.model_source
        if source is not None and engine_flags.sets_flag(self.args, engine_flags.MODEL_FLAGS):
            raise ValueError(
                "engine.args: --model is set by the operator from engine.modelSource; remove "
                "it from engine.args"
            )
        if (
            source is not None
            and source.revision is not None
            and engine_flags.sets_flag(self.args, engine_flags.REVISION_FLAGS)
        ):
            raise ValueError(
                "engine.args: --revision is set by the operator from "
                "engine.modelSource.revision; remove it from engine.args"
            )
        if source is not None and source.path is not None and self.model_cache is None:
            raise ValueError(
                "engine.modelSource.path is a directory inside the model cache: set "
                "engine.modelCache too, or use modelSource.hub"
            )

    def _check_env(self) -> None:
        names = {variable.name for variable in self.env}
        for variable, owner, present in (
            (HF_TOKEN_ENV, "huggingFaceTokenSecret", self.hugging_face_token_secret),
            (HF_HOME_ENV, "modelCache", self.model_cache),
        ):
            if present is not None and variable in names:
                raise ValueError(
                    f"engine.env: {variable} is set by the operator from engine.{owner}; remove"
                    " it from engine.env"
                )

    def _check_mounts(self) -> None:
        volumes = {volume.name for volume in self.pod.volumes}
        taken = {SHM_PATH}
        if self.model_cache is not None:
            taken.add(self.model_cache.mount_path)
        for mount in self.volume_mounts:
            if mount.name not in volumes:
                raise ValueError(
                    f"engine.volumeMounts: every volume mount must name one of "
                    f"engine.pod.volumes; {mount.name!r} is none of them"
                )
            if mount.mount_path in taken:
                raise ValueError(
                    f"engine.volumeMounts: {SHM_PATH} and the model cache's mountPath are "
                    "mounted by the operator; mount extra volumes elsewhere"
                )

    @property
    def pipeline_parallel_size_or_default(self) -> int:
        """Pipeline stages: `pipelineParallelSize`, else 1."""
        return self.pipeline_parallel_size or 1

    @property
    def tensor_parallel_size_or_default(self) -> int:
        """GPUs per stage: `tensorParallelSize`, else `gpus / pipelineParallelSize` (at least
        1)."""
        if self.tensor_parallel_size is not None:
            return self.tensor_parallel_size
        return max(1, self.gpus // self.pipeline_parallel_size_or_default)


def _refuse_duplicates(values: list[str], *, field: str, key: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{field} has two entries {key} {value!r}; they must be unique")
        seen.add(value)
