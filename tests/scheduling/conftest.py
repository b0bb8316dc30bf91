"""Fixtures for the scheduling core's tests: a known latency model, SCORPIO's classes, requests,
and synthetic profile documents generated from known coefficients."""

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import pytest

from sloserve.scheduling import latency_model, slo

# The synthetic profile's ground truth: the fit tests must recover these.
PREFILL_FLOOR_MS = 10.0
PREFILL_SLOPE_MS_PER_TOKEN = 0.02
PREFILL_INTERCEPT_MS = 2.0
DECODE_COEFFICIENTS_MS = (1e-5, 0.05, 5e-4, 6.0)
CPU_OVERHEAD_MS = 1.0


class SLOClasses(NamedTuple):
    interactive: slo.SLOClass
    standard: slo.SLOClass
    batch: slo.SLOClass


class MakeRequest(Protocol):
    def __call__(
        self,
        request_id: str,
        *,
        slo_class: slo.SLOClass | None = None,
        arrival_s: float = 0.0,
        prompt_tokens: int = 1000,
        max_tokens: int = 200,
        model: str = "llama-8b",
        ttft_target_s: float | None = None,
        tpot_target_s: float | None = None,
    ) -> slo.Request: ...


def prefill_ms(tokens: int) -> float:
    return max(PREFILL_FLOOR_MS, PREFILL_SLOPE_MS_PER_TOKEN * tokens + PREFILL_INTERCEPT_MS)


def decode_ms(batch: int, context: int) -> float:
    a, b, c, d = DECODE_COEFFICIENTS_MS
    return a * batch * context + b * batch + c * context + d


@pytest.fixture(scope="session")
def classes() -> SLOClasses:
    """SCORPIO's three classes: (TTFT, TPOT) = (500 ms, 50 ms), (3 s, 30 ms), (15 s, 50 ms)."""
    return SLOClasses(
        interactive=slo.SLOClass(name="interactive", ttft_s=0.5, tpot_s=0.05),
        standard=slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03),
        batch=slo.SLOClass(name="batch", ttft_s=15.0, tpot_s=0.05),
    )


@pytest.fixture(scope="session")
def make_request(classes: SLOClasses) -> MakeRequest:
    def make(
        request_id: str,
        *,
        slo_class: slo.SLOClass | None = None,
        arrival_s: float = 0.0,
        prompt_tokens: int = 1000,
        max_tokens: int = 200,
        model: str = "llama-8b",
        ttft_target_s: float | None = None,
        tpot_target_s: float | None = None,
    ) -> slo.Request:
        return slo.Request(
            request_id=request_id,
            model=model,
            slo_class=slo_class or classes.interactive,
            arrival_s=arrival_s,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            ttft_target_s=ttft_target_s,
            tpot_target_s=tpot_target_s,
        )

    return make


@pytest.fixture(scope="session")
def latency() -> latency_model.LatencyModel:
    """The synthetic profile's true model, in seconds."""
    a, b, c, d = DECODE_COEFFICIENTS_MS
    return latency_model.LatencyModel(
        prefill=latency_model.PrefillModel(
            # Where the line 0.02·C + 2 ms reaches the 10 ms floor.
            threshold_tokens=400,
            floor_s=PREFILL_FLOOR_MS / 1e3,
            slope_s_per_token=PREFILL_SLOPE_MS_PER_TOKEN / 1e3,
        ),
        decode=latency_model.DecodeStepModel(
            batch_context_s=a / 1e3, batch_s=b / 1e3, context_s=c / 1e3, constant_s=d / 1e3
        ),
        cpu_overhead_s=CPU_OVERHEAD_MS / 1e3,
    )


@pytest.fixture
def profile_document() -> Callable[..., dict[str, Any]]:
    """Build a profile document whose times follow the ground truth, times `noise(i)` for
    point i when given."""

    def build(
        *,
        name: str = "synthetic",
        noise: Callable[[int], float] = lambda _: 1.0,
        prefill_tokens: tuple[int, ...] = (16, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
        batches: tuple[int, ...] = (1, 4, 16, 64, 256),
        contexts: tuple[int, ...] = (128, 1024, 4096),
    ) -> dict[str, Any]:
        prefill = [
            {"tokens": tokens, "ms": prefill_ms(tokens) * noise(index)}
            for index, tokens in enumerate(prefill_tokens)
        ]
        grid = [(batch, context) for batch in batches for context in contexts]
        decode = [
            {"batch": batch, "context": context, "ms": decode_ms(batch, context) * noise(index)}
            for index, (batch, context) in enumerate(grid)
        ]
        return {
            "schema": "sloserve.latency-profile/v1",
            "name": name,
            "device": "synthetic",
            "model": {
                "shape": "llama-3-8b",
                "layers": 32,
                "hidden": 4096,
                "heads": 32,
                "kv_heads": 8,
                "intermediate": 14336,
                "vocab": 128256,
                "dtype": "bfloat16",
            },
            "weights_bytes": 16_060_522_496,
            "gpu_memory_bytes": 85_520_809_984,
            "kv_bytes_per_token": 131072,
            "cpu_overhead_ms_per_step": CPU_OVERHEAD_MS,
            "prefill": prefill,
            "decode": decode,
            "provenance": {
                "script": "tests/scheduling/conftest.py",
                "command": "generated from known coefficients",
                "measured_at": "never",
                "torch": "none",
                "driver": "none",
            },
        }

    return build
