"""CPU, memory and shared memory of an engine container, with defaults sized for vLLM.

vLLM needs host memory for loading weights (safetensors are read through the page cache),
tokenizer and detokenizer processes, and CUDA graphs' host buffers; CPU for the API server, the
engine core's scheduling loop and tokenization. A GPU engine left without any request for one of
these gets `per GPU × gpus`; its `/dev/shm` (NCCL and the workers' tensor exchange) is memory
too, and counted into the memory default, because a memory-backed volume is charged to the
container.
"""

from __future__ import annotations

from decimal import Decimal

from sloserve.api.quantities import parse_quantity
from sloserve.api.spec import GPU_RESOURCE, Engine, EngineKind
from sloserve.builders.defaults import Manifest

__all__ = [
    "SHM_PER_GPU_GIB",
    "VLLM_CPU_PER_GPU",
    "VLLM_MEMORY_PER_GPU_GIB",
    "engine_resources",
    "shm_size",
]

#: CPU cores requested per GPU of a vLLM engine whose spec asks for none.
VLLM_CPU_PER_GPU = 4
#: GiB of memory requested (and limited to) per GPU of a vLLM engine whose spec sets none.
VLLM_MEMORY_PER_GPU_GIB = 24
#: GiB of `/dev/shm` per GPU (at least one GiB) when `engine.shmSize` is unset.
SHM_PER_GPU_GIB = 2
_GIB = 2**30


def shm_size(engine: Engine) -> str | None:
    """The size limit of the engine's memory-backed `/dev/shm`: `engine.shmSize`, else for
    vLLM `SHM_PER_GPU_GIB × gpus` GiB (one GiB at least); None for a `sim` engine that sets
    none (it needs no shared memory)."""
    if engine.shm_size is not None:
        return engine.shm_size
    if engine.kind is not EngineKind.VLLM:
        return None
    return f"{max(1, SHM_PER_GPU_GIB * engine.gpus)}Gi"


def _gib(amount: Decimal) -> str:
    whole = -(-amount // _GIB)  # rounded up to a whole GiB
    return f"{whole}Gi"


def engine_resources(engine: Engine) -> Manifest:
    """The container's `resources`: `engine.resources`, then for vLLM the defaults for a
    resource that has neither request nor limit (CPU: a request only, since a CPU limit
    throttles the API server and tokenization; memory: request and limit alike, the shared
    memory included), then `nvidia.com/gpu` requested and limited alike (extended resources
    cannot be overcommitted)."""
    requests: dict[str, str] = dict(engine.resources.requests)
    limits: dict[str, str] = dict(engine.resources.limits)
    if engine.kind is EngineKind.VLLM:
        gpus = max(1, engine.gpus)
        if "cpu" not in requests and "cpu" not in limits:
            requests["cpu"] = str(VLLM_CPU_PER_GPU * gpus)
        if "memory" not in requests and "memory" not in limits:
            shm = shm_size(engine)
            memory = Decimal(VLLM_MEMORY_PER_GPU_GIB * gpus * _GIB)
            memory += parse_quantity(shm) if shm is not None else 0
            requests["memory"] = limits["memory"] = _gib(memory)
    if engine.gpus > 0:
        requests[GPU_RESOURCE] = str(engine.gpus)
        limits[GPU_RESOURCE] = str(engine.gpus)
    resources: Manifest = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources
