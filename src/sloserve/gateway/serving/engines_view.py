"""What `/debug/engines` shows of one model: its engines, its latency model and its calibration,
and how its prompt tokens are counted. Plain JSON, for people and scripts; not a contract as the
metrics are."""

from __future__ import annotations

from typing import Any

from sloserve.gateway import runtime
from sloserve.scheduling import calibration, latency_model


def _factors(state: calibration.CalibrationState) -> dict[str, Any]:
    return {
        phase: {
            "factor": factor.factor,
            "observations": factor.observations,
            "mean_abs_log_error": factor.mean_abs_log_error,
            "mean_log_error": factor.mean_log_error,
            "drifting": factor.drifting,
        }
        for phase, factor in (("prefill", state.prefill), ("decode", state.decode))
    }


def _predictions(model: latency_model.LatencyModel) -> dict[str, float]:
    """A few of the model's predictions, to read its scale at a glance."""
    return {
        "prefill_1024_tokens_s": model.prompt_prefill_time_s(1024),
        "decode_step_batch_1_context_1024_s": model.decode_step_time_s(1, 1024),
        "decode_step_batch_32_context_1024_s": model.decode_step_time_s(32, 1024),
    }


def model_view(model_runtime: runtime.ModelRuntime) -> dict[str, Any]:
    definition = model_runtime.record.definition
    calibrated = model_runtime.calibration
    engine_states = calibrated.engine_states() if calibrated is not None else {}
    engines = []
    for url, ledger in sorted(model_runtime.ledgers.items()):
        state = engine_states.get(url)
        engines.append(
            {
                "url": url,
                "serving": url in model_runtime.record.engines,
                "healthy": ledger.healthy(),
                "reachable": ledger.reachable(),
                "inflight": ledger.inflight,
                "timing_from": (
                    None
                    if calibrated is None
                    else ("engine" if calibrated.engine_timed(url) else "stream")
                ),
                "calibration": None if state is None else _factors(state),
            }
        )
    latency: dict[str, Any] | None = None
    if calibrated is not None:
        latency = {
            "calibration": "on" if calibrated.enabled else "off",
            "factors": _factors(calibrated.state()),
            "observations": {
                f"{phase}/{source}": count
                for (phase, source), count in calibrated.observations.items()
            },
            "prior": _predictions(calibrated.prior),
            "calibrated": _predictions(calibrated.model),
        }
    return {
        "model": model_runtime.record.model,
        "profile": definition.profile,
        "profile_rule": definition.profile_rule,
        "prefill_scale": definition.prefill_scale,
        "decode_scale": definition.decode_scale,
        "latency_model": latency,
        "tokenizer": model_runtime.tokenizer_status,
        "engines": engines,
    }
