"""Whether a request could ever be served on the given engines, were they idle: when not,
waiting cannot help and the scheduler rejects it instead of holding it.

- TPOT: the TPOT guard refuses it on every engine even alone there (`tpot_guard.check_alone`);
- TTFT: its own prefill on the least slowed idle engine already exceeds its slack
  (`ttft_guard.idle_ttft_s`); with a prefix index, the prefill it would leave on each engine
  (a cached prefix is still there when the engine is idle).
"""

from collections.abc import Mapping, Sequence

from sloserve.scheduling import (
    engine_state,
    latency_model,
    outcomes,
    rejections,
    slo,
    tpot_guard,
    ttft_guard,
)


class Feasibility:
    """The idle-engine checks of one scheduler. `use_tpot_guard` False skips the TPOT check."""

    def __init__(
        self,
        *,
        latency: latency_model.LatencyModel,
        use_tpot_guard: bool,
        margin_s: float = ttft_guard.DEFAULT_MARGIN_S,
        inefficiency: float = tpot_guard.DEFAULT_INEFFICIENCY,
        headroom: float = tpot_guard.DEFAULT_HEADROOM,
    ) -> None:
        self._latency = latency
        self._use_tpot_guard = use_tpot_guard
        self._margin_s = margin_s
        self._inefficiency = inefficiency
        self._headroom = headroom

    def tpot_attainable_somewhere(
        self, request: slo.Request, engines: Sequence[engine_state.EngineState]
    ) -> bool:
        """Whether some engine, were it idle, would pass `request` through the TPOT guard."""
        if not self._use_tpot_guard:
            return True
        for engine in engines:
            if tpot_guard.check_alone(
                engine=engine,
                tpot_s=request.tpot_s,
                context_tokens=request.prompt_tokens,
                latency=self._latency,
                inefficiency=self._inefficiency,
                headroom=self._headroom,
            ).admitted:
                return True
        return False

    def unattainable(
        self,
        request: slo.Request,
        engines: Sequence[engine_state.EngineState],
        now_s: float,
        prefill_tokens: Mapping[str, int] | None = None,
    ) -> outcomes.Rejected | None:
        """A rejection when the request misses a target on every engine even were it idle;
        `prefill_tokens`: what its prefill would be on each engine (by id), when known."""
        if not engines:
            return None
        if not self.tpot_attainable_somewhere(request, engines):
            return rejections.tpot_unattainable(request, now_s=now_s)
        idle_s = min(
            ttft_guard.idle_ttft_s(
                engine=engine,
                latency=self._latency,
                prompt_tokens=(
                    request.prompt_tokens
                    if prefill_tokens is None
                    else prefill_tokens.get(engine.engine_id, request.prompt_tokens)
                ),
                margin_s=self._margin_s,
            )
            for engine in engines
        )
        if idle_s > request.slack_s(now_s):
            return rejections.ttft_unattainable(request, predicted_ttft_s=idle_s, now_s=now_s)
        return None
