"""Metering prompts into engines at the rate their tightest TPOT target allows.

A request's TPOT is the mean gap between its tokens, and with chunked prefill every step that
carries a prompt chunk is longer for every request decoding on that engine. If a decode step at
the virtual batch size takes d and the tightest target T_min allows steps of
s_max = headroom × T_min / inefficiency, the engine may spend at most a share 1 − d / s_max of its
time on prefill before the mean gap passes s_max. The TPOT guard's decode-only check cannot see
this: one 8192-token chunk takes about 236 ms on an H100, several times any TPOT target.

The meter remembers, per engine, until when the prompt work already sent there is paid for at
that share (a leaky bucket in seconds), and keeps an engine closed to new prompts while that time
is more than one T_min away. An engine with nothing running is always open: no decode to slow.
"""

import math

from sloserve.scheduling import engine_state, latency_model, tpot_guard

# Below this share the engine is effectively decode-bound at its target; charging at a tiny share
# would close it for minutes, so prompts are then charged as if 5% of the time were allowed.
MIN_PREFILL_SHARE = 0.05


class PrefillMeter:
    """Per-engine prefill budgets of one scheduler; times in seconds on the scheduler's clock."""

    def __init__(
        self,
        *,
        latency: latency_model.LatencyModel,
        inefficiency: float,
        headroom: float,
    ) -> None:
        self._latency = latency
        self._inefficiency = inefficiency
        self._headroom = headroom
        self._paid_until_s: dict[str, float] = {}

    def is_open(self, engine: engine_state.EngineState, *, now_s: float) -> bool:
        """Whether `engine` may take a new prompt at `now_s`."""
        if not engine.running:
            return True
        paid_until_s = self._paid_until_s.get(engine.engine_id, -math.inf)
        return paid_until_s - now_s <= engine.tightest_tpot_s

    def prefill_share(self, engine: engine_state.EngineState) -> float:
        """The share of `engine`'s time that may go to prefill (1 when nothing runs there)."""
        if not engine.running:
            return 1.0
        tightest_s = engine.tightest_tpot_s
        step_s = tpot_guard.predicted_step_s(
            virtual_batch=tightest_s * engine.inverse_tpot_sum,
            context=engine.mean_context_tokens(),
            slowdown=engine.slowdown,
            latency=self._latency,
        )
        allowed_step_s = self._headroom * tightest_s / self._inefficiency
        return max(MIN_PREFILL_SHARE, 1.0 - step_s / allowed_step_s)

    def charge(self, engine: engine_state.EngineState, *, prompt_tokens: int, now_s: float) -> None:
        """Record a prompt of `prompt_tokens` sent to `engine` (its snapshot after the dispatch)."""
        decoding = engine.decoding_requests
        prefill = self._latency.prefill
        # what the prompt's rows add to a step that decodes anyway (the engine's mixed-step cost)
        extra_s = engine.slowdown * (
            prefill.predict_s(prompt_tokens + decoding) - prefill.predict_s(decoding)
        )
        start_s = max(self._paid_until_s.get(engine.engine_id, now_s), now_s)
        self._paid_until_s[engine.engine_id] = start_s + extra_s / self.prefill_share(engine)
