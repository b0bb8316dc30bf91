"""Controls of the simulation itself, under /sim: slowdown, simulated faults, state."""

from __future__ import annotations

from typing import Annotated, Any

import fastapi
import pydantic

from sloserve.engine.server import faults, runtime

router = fastapi.APIRouter(prefix="/sim", tags=["simulation"])

Runtime = Annotated[runtime.ServerRuntime, fastapi.Depends(runtime.get_runtime)]


class SlowdownSetting(pydantic.BaseModel):
    """Body of POST /sim/slowdown: the co-location slowdown factor for steps from now on."""

    model_config = pydantic.ConfigDict(extra="forbid")

    factor: float = pydantic.Field(gt=0, allow_inf_nan=False)


@router.post("/slowdown")
async def set_slowdown(setting: SlowdownSetting, state: Runtime) -> dict[str, float]:
    """Change the co-location slowdown (GPU time multiplier); applies to the next step."""
    state.timer.slowdown = setting.factor
    return {"slowdown": state.timer.slowdown}


@router.post("/fault")
async def set_fault(setting: faults.FaultSetting, state: Runtime) -> faults.FaultSetting:
    """Set the simulated fault (`{"mode": "none"}` clears it)."""
    state.fault = setting
    return state.fault


@router.get("/state")
async def get_state(state: Runtime) -> dict[str, Any]:
    """Timing settings, the fault setting and the engine's load."""
    load = state.runner.snapshot()
    engine = state.settings.engine
    return {
        "profile": state.settings.profile.name,
        "policy": engine.policy.value,
        "slowdown": state.timer.slowdown,
        "time_scale": state.timer.time_scale,
        "cpu_overhead_ms": state.timer.cpu_overhead_ms,
        "fault": state.fault.model_dump(),
        "max_num_seqs": engine.max_num_seqs,
        "max_num_batched_tokens": engine.max_num_batched_tokens,
        "block_size": engine.block_size,
        "num_gpu_blocks": engine.num_gpu_blocks,
        "max_model_len": engine.max_model_len,
        "num_requests_running": load.num_running,
        "num_requests_waiting": load.num_waiting,
        "kv_blocks_used": load.kv_blocks_used,
        "kv_cache_usage": load.kv_usage,
        "queued_prefill_tokens": load.queued_prefill_tokens,
    }
