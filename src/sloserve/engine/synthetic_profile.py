"""A synthetic latency profile from a roofline model of a Llama-3-8B-shaped decoder on an H100.

Not a measurement: it exists so that the engine simulator, its tests and local demos run before a
measured profile is available, and so that tests do not depend on one. A step is bound either by
reading weights and KV cache from HBM or by dense bf16 compute, plus a fixed launch cost; the
efficiencies are round numbers that put a batch-1 decode step near the 6.5 ms TPOT published for
vLLM with Llama-3.1-8B on an H100. Select it with `--profile synthetic`.
"""

from __future__ import annotations

from sloserve.scheduling import latency_profile

NAME = "synthetic"

_PARAMETERS = 8.03e9
_LAYERS = 32
_HIDDEN = 4096
_WEIGHTS_BYTES = 16_060_000_000
_KV_BYTES_PER_TOKEN = 2 * _LAYERS * 8 * 128 * 2  # K and V, 8 KV heads of 128 dims, bf16
_GPU_MEMORY_BYTES = 81_559 * 2**20  # what NVML reports for an H100 80GB HBM3
_HBM_BYTES_PER_S = 3.35e12 * 0.85
_DENSE_FLOPS_DECODE = 989e12 * 0.45
_DENSE_FLOPS_PREFILL = 989e12 * 0.6
_LAUNCH_MS_GRAPH = 0.25  # decode steps replay a CUDA graph
_LAUNCH_MS_EAGER = 0.5
_CPU_OVERHEAD_MS = 1.0

_PREFILL_TOKENS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
_DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_DECODE_CONTEXTS = (128, 256, 512, 1024, 2048, 4096, 8192)
_MIXED_PREFILL_TOKENS = (256, 1024, 4096)
_MIXED_BATCHES = (16, 64, 256)
_MIXED_CONTEXT = 1024
_KV_TOKENS_THAT_FIT = int((_GPU_MEMORY_BYTES * 0.9 - _WEIGHTS_BYTES) // _KV_BYTES_PER_TOKEN)


def _memory_ms(kv_tokens: int) -> float:
    return (_WEIGHTS_BYTES + kv_tokens * _KV_BYTES_PER_TOKEN) / _HBM_BYTES_PER_S * 1e3


def _prefill_flops(tokens: int) -> float:
    # dense layers, plus causal attention scores and values over the prompt
    return 2 * _PARAMETERS * tokens + 2 * _LAYERS * _HIDDEN * tokens * tokens


def decode_ms(batch: int, context: int) -> float:
    """Modelled GPU time of one decode step."""
    compute_ms = 2 * _PARAMETERS * batch / _DENSE_FLOPS_DECODE * 1e3
    return _LAUNCH_MS_GRAPH + max(_memory_ms(batch * context), compute_ms)


def prefill_ms(tokens: int) -> float:
    """Modelled GPU time of one forward pass over a fresh prompt."""
    compute_ms = _prefill_flops(tokens) / _DENSE_FLOPS_PREFILL * 1e3
    return _LAUNCH_MS_EAGER + max(_memory_ms(0), compute_ms)


def mixed_ms(prefill_tokens: int, batch: int, context: int) -> float:
    """Modelled GPU time of a chunk of a fresh prompt and a decode batch in one pass."""
    flops = _prefill_flops(prefill_tokens) + 2 * _PARAMETERS * batch
    compute_ms = flops / _DENSE_FLOPS_PREFILL * 1e3
    return _LAUNCH_MS_EAGER + max(_memory_ms(batch * context), compute_ms)


def build() -> latency_profile.LatencyProfile:
    """The synthetic profile (grid points where the KV cache of the batch fits on the GPU)."""
    document = {
        "schema": latency_profile.SCHEMA_V1,
        "name": NAME,
        "device": "synthetic (roofline model of an NVIDIA H100 80GB HBM3, not measured)",
        "model": {
            "shape": "llama-3-8b",
            "layers": _LAYERS,
            "hidden": _HIDDEN,
            "heads": 32,
            "kv_heads": 8,
            "intermediate": 14336,
            "vocab": 128256,
            "dtype": "bfloat16",
        },
        "weights_bytes": _WEIGHTS_BYTES,
        "gpu_memory_bytes": _GPU_MEMORY_BYTES,
        "kv_bytes_per_token": _KV_BYTES_PER_TOKEN,
        "cpu_overhead_ms_per_step": _CPU_OVERHEAD_MS,
        "prefill": [{"tokens": t, "ms": prefill_ms(t)} for t in _PREFILL_TOKENS],
        "decode": [
            {"batch": b, "context": c, "ms": decode_ms(b, c)}
            for c in _DECODE_CONTEXTS
            for b in _DECODE_BATCHES
            if b * c <= _KV_TOKENS_THAT_FIT
        ],
        "mixed": [
            {
                "prefill_tokens": p,
                "batch": b,
                "context": _MIXED_CONTEXT,
                "ms": mixed_ms(p, b, _MIXED_CONTEXT),
            }
            for p in _MIXED_PREFILL_TOKENS
            for b in _MIXED_BATCHES
        ],
        "provenance": {
            "script": "src/sloserve/engine/synthetic_profile.py",
            "command": "built in code from a roofline model; not measured",
            "measured_at": "not measured",
            "torch": "none",
            "driver": "none",
        },
    }
    return latency_profile.LatencyProfile.model_validate(document)
