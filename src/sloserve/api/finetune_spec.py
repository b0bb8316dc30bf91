"""The desired state of a FineTuneJob: base model, LoRA adapter, dataset, training length,
GPU budget and checkpoints.

A FineTuneJob trains a LoRA adapter beside inference: on the GPUs of a ModelService it names
(co-served, throttled by the operator whenever an inference class's SLO headroom falls) or on a
base model of its own. As in the ModelService spec, every cross-field rule exists twice: a CEL
rule in the CRD (the API server refuses a bad object, naming the field) and a Python check with
the same words (controllers and tests refuse it the same way).
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import (
    INT32_MAX,
    ApiModel,
    DnsLabel,
    DnsSubdomain,
    require_exactly_one,
)

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "MAX_LORA_RANK",
    "Adapter",
    "BaseModelSource",
    "Checkpoints",
    "ConfigMapDataset",
    "Dataset",
    "FineTuneJobSpec",
    "GpuBudget",
    "HubDataset",
    "ModelServiceRef",
    "ModelShape",
    "PvcDataset",
    "Training",
    "Worker",
    "WorkerKind",
]

#: Highest LoRA rank accepted; a higher one is no longer a low-rank adapter of any model we serve.
MAX_LORA_RANK = 1024

#: The attention projections PEFT adapts in a Llama-shaped model when none are named.
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")

_INT32: cel.JsonDict = {"format": "int32"}
_MODULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*$"
#: A hub id (`org/name`) or a plain name: no spaces, no scheme.
_HUB_ID_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)?$"


class ModelShape(enum.StrEnum):
    """Base-model shapes with a measured LoRA step-cost table (data/finetune)."""

    LLAMA_3_2_1B = "llama-3.2-1b"
    """Llama-3.2-1B: 16 layers, hidden 2048, 8 KV heads."""


class WorkerKind(enum.StrEnum):
    """What runs the training loop."""

    PEFT = "peft"
    """A real PEFT LoRA loop (torch + peft) on the GPU."""

    SIM = "sim"
    """The simulated worker: steps timed by measured H200 step costs, no GPU needed."""


class ModelServiceRef(ApiModel):
    """A ModelService of the same namespace whose engines the job shares GPUs with."""

    name: DnsLabel = Field(min_length=1)
    """Name of the ModelService."""


class BaseModelSource(ApiModel):
    """The model whose weights the adapter is trained on, when no ModelService is named."""

    id: str = Field(min_length=1, max_length=253, pattern=_HUB_ID_PATTERN)
    """Hub id (`meta-llama/Llama-3.2-1B`) or name of a model in the model cache."""

    shape: ModelShape = ModelShape.LLAMA_3_2_1B
    """Shape of the model, one with measured step costs (`llama-3.2-1b`): the simulated worker
    times its steps by it and the operator predicts the job's interference from it."""


class Adapter(ApiModel):
    """The LoRA adapter being trained."""

    rank: int = Field(ge=1, le=MAX_LORA_RANK, json_schema_extra=_INT32)
    """LoRA rank `r`: at least 1."""

    alpha: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)
    """LoRA scaling numerator (`lora_alpha`); default twice the rank."""

    target_modules: Annotated[
        tuple[
            Annotated[str, Field(min_length=1, max_length=128, pattern=_MODULE_NAME_PATTERN)], ...
        ],
        Field(min_length=1, max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = DEFAULT_TARGET_MODULES
    """Module names the adapter wraps; default the attention projections
    (`q_proj`, `k_proj`, `v_proj`, `o_proj`)."""

    dropout: float = Field(default=0.0, ge=0, lt=1, allow_inf_nan=False)
    """LoRA dropout, in [0, 1)."""

    @property
    def effective_alpha(self) -> float:
        """`alpha`, or twice the rank when unset."""
        return 2.0 * self.rank if self.alpha is None else self.alpha


class ConfigMapDataset(ApiModel):
    """Training text in a ConfigMap of the job's namespace, one JSON object a line."""

    name: DnsSubdomain
    """Name of the ConfigMap."""

    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """Key of the ConfigMap entry holding the data."""


class PvcDataset(ApiModel):
    """Training data on a PersistentVolumeClaim of the job's namespace."""

    claim_name: DnsSubdomain
    """Name of the claim."""

    path: str = Field(min_length=1, max_length=4096, pattern=r"^[^\s]+$")
    """Path of the data inside the volume (a file or a directory)."""


class HubDataset(ApiModel):
    """A dataset from a model hub, fetched by the worker."""

    id: str = Field(min_length=1, max_length=253, pattern=_HUB_ID_PATTERN)
    """Hub id of the dataset, e.g. `tatsu-lab/alpaca`."""

    split: str = Field(
        default="train", min_length=1, max_length=63, pattern=r"^[-._a-zA-Z0-9\[\]:%]+$"
    )
    """Split to train on."""


class Dataset(ApiModel):
    """Where the training data comes from: exactly one of `configMap`, `pvc`, `hub`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("configMap", "pvc", "hub", what="dataset")
        )
    )

    config_map: ConfigMapDataset | None = None
    """A ConfigMap entry."""

    pvc: PvcDataset | None = None
    """A path on a PersistentVolumeClaim."""

    hub: HubDataset | None = None
    """A hub dataset."""

    @model_validator(mode="after")
    def _one_source(self) -> Dataset:
        require_exactly_one(self, "config_map", "pvc", "hub", what="dataset")
        return self


class Training(ApiModel):
    """How long and in what steps the adapter is trained: exactly one of `steps`, `epochs`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(cel.exactly_one("steps", "epochs", what="training"))
    )

    steps: int | None = Field(default=None, ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Optimizer steps to run."""

    epochs: int | None = Field(default=None, ge=1, le=10_000, json_schema_extra=_INT32)
    """Passes over the dataset."""

    micro_batch_size: int = Field(default=4, ge=1, le=1024, json_schema_extra=_INT32)
    """Sequences per step; the operator may lower it while inference needs the GPU."""

    sequence_length: int = Field(default=512, ge=16, le=131072, json_schema_extra=_INT32)
    """Tokens per sequence."""

    learning_rate: float = Field(default=2e-4, gt=0, le=1, allow_inf_nan=False)
    """AdamW learning rate."""

    @model_validator(mode="after")
    def _one_length(self) -> Training:
        require_exactly_one(self, "steps", "epochs", what="training")
        return self


class GpuBudget(ApiModel):
    """How much GPU the job may take."""

    gpus: int = Field(default=1, ge=1, le=64, json_schema_extra=_INT32)
    """GPUs of one worker (`nvidia.com/gpu`; shared with the ModelService's engines when one is
    named)."""

    max_share: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)
    """Largest share of each GPU's time (the duty cycle of training steps) the job may use, in
    (0, 1]; the operator throttles below it when inference needs the GPU."""


class Checkpoints(ApiModel):
    """Where the worker keeps its checkpoints, so a paused or moved job resumes without losing
    completed steps."""

    claim_name: DnsSubdomain | None = None
    """PersistentVolumeClaim to checkpoint to; without one the checkpoints live in the pod
    (an `emptyDir`) and survive a pause but not a move to another node."""

    every_steps: int = Field(default=50, ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Steps between checkpoints (a pause or an eviction always checkpoints first)."""


class Worker(ApiModel):
    """The pod that runs the training loop."""

    kind: WorkerKind = WorkerKind.SIM
    """`peft` (real training on a GPU) or `sim` (simulated, timed by measured step costs)."""

    image: str | None = Field(default=None, min_length=1, max_length=1024)
    """Container image; default the operator's own image."""


class FineTuneJobSpec(ApiModel):
    """Desired state of a FineTuneJob: what it trains (a LoRA adapter of a base model, or of the
    model a ModelService serves), on what data, for how long, and how much GPU it may take."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("modelService", "baseModel", what="spec"),
        )
    )

    model_service: ModelServiceRef | None = None
    """A ModelService of the same namespace to co-serve with: the job trains an adapter of its
    model on its engines' GPUs, throttled to keep its SLO classes' headroom."""

    base_model: BaseModelSource | None = None
    """The base model, when the job does not co-serve with a ModelService."""

    adapter: Adapter
    """The LoRA adapter."""

    dataset: Dataset
    """The training data."""

    training: Training
    """Training length and step shape."""

    priority: int = Field(default=0, ge=-1000, le=1000, json_schema_extra=_INT32)
    """Among jobs on one GPU, higher priority is throttled last; -1000 to 1000."""

    gpu_budget: GpuBudget = Field(default_factory=GpuBudget, json_schema_extra={"default": {}})
    """GPUs and share of GPU time the job may take."""

    checkpoints: Checkpoints = Field(default_factory=Checkpoints, json_schema_extra={"default": {}})
    """Where and how often the worker checkpoints."""

    worker: Worker = Field(default_factory=Worker, json_schema_extra={"default": {}})
    """The training pod."""

    paused: bool = False
    """Set to pause the job: the worker checkpoints and stops stepping; unset to resume."""

    @model_validator(mode="after")
    def _one_base(self) -> FineTuneJobSpec:
        require_exactly_one(self, "model_service", "base_model", what="spec")
        return self
