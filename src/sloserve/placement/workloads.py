"""What placement reads from Kubernetes objects: which pods are GPU workloads, of which kind, how
a node's GPUs are shared, and what limit a pod sets on its predicted slowdown.

The contract with the operator: an engine pod carries
- `placement.sloserve.io/workload-kind`: its workload kind, a kind of the solo catalogue (e.g.
  `decode_b128_c1024`), from `workload_kind_for`;
- `placement.sloserve.io/max-predicted-slowdown`: `spec.placement.maxPredictedSlowdown`.
Any other pod that requests `nvidia.com/gpu` counts as a neighbour too; without a kind
annotation it is assumed to be the catalogue's heaviest kind (see `scoring`).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sloserve.placement.gpus import GPU_PRODUCT_LABEL, gpu_key
from sloserve.placement.metrics import SharingMode

__all__ = [
    "DEFAULT_DECODE_KIND",
    "GPU_RESOURCE",
    "KIND_ANNOTATION",
    "MAX_SLOWDOWN_ANNOTATION",
    "REPLICAS_LABEL",
    "SHARING_LABEL",
    "THREAD_PERCENTAGE_LABEL",
    "GpuWorkload",
    "gpu_product",
    "max_predicted_slowdown",
    "requests_gpu",
    "sharing_mode",
    "workload_kind_for",
]

GPU_RESOURCE = "nvidia.com/gpu"
KIND_ANNOTATION = "placement.sloserve.io/workload-kind"
MAX_SLOWDOWN_ANNOTATION = "placement.sloserve.io/max-predicted-slowdown"
#: Set by NVIDIA's GPU feature discovery when the device plugin shares GPUs: `time-slicing`,
#: `mps` or `none`.
SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"
#: GPU feature discovery: how many pods one GPU is advertised to (MPS or time-slicing replicas).
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
#: Set by the cluster's operator on MPS nodes whose clients run with
#: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: the percentage. Wins over REPLICAS_LABEL.
THREAD_PERCENTAGE_LABEL = "placement.sloserve.io/mps-thread-percentage"
#: A serving engine's steady state is decoding a large batch; its measured stand-in.
DEFAULT_DECODE_KIND = "decode_b128_c1024"

Body = Mapping[str, Any]


def _mapping(value: object) -> Body:
    return value if isinstance(value, Mapping) else {}


@dataclasses.dataclass(frozen=True)
class GpuWorkload:
    """A pod that uses a GPU: `namespace/name`, its declared kind (None if it declares none)
    and its own limit on predicted slowdown (None if it declares none, or a malformed one: that
    pod's own scheduling reports the malformed value; a neighbour's must not block others)."""

    namespace: str
    name: str
    kind: str | None
    uid: str = ""
    limit: float | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_pod(cls, pod: Body) -> GpuWorkload:
        meta = _mapping(pod.get("metadata"))
        kind = _mapping(meta.get("annotations")).get(KIND_ANNOTATION)
        try:
            limit = max_predicted_slowdown(pod)
        except ValueError:
            limit = None
        return cls(
            namespace=str(meta.get("namespace", "default")),
            name=str(meta.get("name", "")),
            kind=kind if isinstance(kind, str) and kind else None,
            uid=str(meta.get("uid", "")),
            limit=limit,
        )


def requests_gpu(pod: Body) -> bool:
    """Whether any container of the pod requests or is limited to at least one GPU."""
    spec = _mapping(pod.get("spec"))
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        resources = _mapping(_mapping(container).get("resources"))
        for section in ("requests", "limits"):
            amount = _mapping(resources.get(section)).get(GPU_RESOURCE)
            if amount is not None and str(amount) not in ("0", ""):
                return True
    return False


def sharing_mode(node: Body) -> str:
    """`timeslice` (the driver's default when processes share a GPU) unless the node's GPUs are
    shared through MPS. Under MPS, the clients' SM limit (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE) is
    the node's THREAD_PERCENTAGE_LABEL when set, else 100 / `nvidia.com/gpu.replicas` (the NVIDIA
    device plugin's MPS sharing gives each of N replicas an equal share), giving `mps_tNN`; with
    neither, `mps`. Raises ValueError naming the label when its value is not a percentage."""
    labels = _mapping(_mapping(node.get("metadata")).get("labels"))
    if labels.get(SHARING_LABEL) != "mps":
        return SharingMode.TIMESLICE
    explicit = labels.get(THREAD_PERCENTAGE_LABEL)
    if explicit is not None:
        text = str(explicit)
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise ValueError(
                f"node label {THREAD_PERCENTAGE_LABEL}={text!r} must be a whole percentage "
                "from 1 to 100"
            )
        return SharingMode.limited(int(text))
    replicas = str(labels.get(REPLICAS_LABEL, ""))
    if replicas.isdigit() and int(replicas) >= 2:
        return SharingMode.limited(round(100 / int(replicas)))
    return SharingMode.MPS


def gpu_product(node: Body) -> str | None:
    """The node's GPU product key (`H100`, `H200`) from GPU feature discovery's
    `nvidia.com/gpu.product` label; None when the node has no such label."""
    labels = _mapping(_mapping(node.get("metadata")).get("labels"))
    value = labels.get(GPU_PRODUCT_LABEL)
    return gpu_key(value) if isinstance(value, str) else None


def max_predicted_slowdown(pod: Body) -> float | None:
    """The pod's limit on predicted slowdown, or None when it sets none. Raises ValueError
    naming the annotation when its value is not a number of at least 1."""
    meta = _mapping(pod.get("metadata"))
    text = _mapping(meta.get("annotations")).get(MAX_SLOWDOWN_ANNOTATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 1.0 or value == float("inf"):
        raise ValueError(
            f"pod {meta.get('namespace')}/{meta.get('name')}: annotation "
            f"{MAX_SLOWDOWN_ANNOTATION}={text!r} must be a finite number of at least 1"
        )
    return value


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
    return None


def workload_kind_for(
    *, annotations: Mapping[str, str], engine_args: Sequence[str], known_kinds: Sequence[str]
) -> str:
    """The workload kind of a ModelService's engines, for their KIND_ANNOTATION.

    The ModelService's own KIND_ANNOTATION wins when it names a known kind (raises ValueError
    naming the annotation and the known kinds when it does not). Otherwise the engine is taken to
    be decode-bound at its batch limit: the known decode kind at context 1024 whose batch is
    nearest `--max-num-seqs` (DEFAULT_DECODE_KIND when the flag is absent or unparsable).
    """
    declared = annotations.get(KIND_ANNOTATION)
    if declared is not None:
        if declared not in known_kinds:
            raise ValueError(
                f"annotation {KIND_ANNOTATION}={declared!r} names no measured workload kind; "
                f"use one of {', '.join(sorted(known_kinds))}"
            )
        return declared
    decode = {
        int(kind.split("_")[1][1:]): kind
        for kind in known_kinds
        if kind.startswith("decode_b") and kind.endswith("_c1024")
    }
    text = _flag_value(engine_args, "--max-num-seqs")
    if not decode or text is None or not text.isdigit():
        return DEFAULT_DECODE_KIND
    batch = int(text)
    return decode[min(decode, key=lambda size: (abs(size - batch), size))]
