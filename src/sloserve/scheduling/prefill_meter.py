"""Metering prompts into engines at the rate their tightest TPOT target allows.

A request's TPOT is the mean gap between its tokens, and with chunked prefill every step that
carries a prompt chunk is longer for every request decoding on that engine. If a decode step at
the virtual batch size takes d and the tightest target T_min allows steps of
s_max = headroom × T_min, the engine may spend at most a share 1 − d / s_max of its time on
prefill before the mean gap passes s_max. The TPOT guard's decode-only check cannot see
this: one 8192-token chunk takes about 236 ms on an H100, several times any TPOT target.

Two margins keep the share on the safe side of the model's errors: one on the predicted decode
step (m_d) and one on the priced prompt work (m_p), so the share is (1 − m_d × d / s_max) / m_p.
SCORPIO's step inefficiency (1.3) stays in the TPOT guard's admission test; used here on the
allowed step, as it once was, it left a decode-bound engine (a 32B model on an H200, whose step
at a small batch is near the standard class's allowed step) almost no prefill, and the TTFT
guard then refused much of what that engine could serve in time (`bench/sim/calibration.py`'s
32B rows; `bench/sim/tpot_at_load.py` for the 8B side).

The meter remembers, per engine, until when the prompt work already sent there is paid for at
that share (a leaky bucket in seconds), and keeps an engine closed to new prompts while that time
is more than one T_min away. An engine with nothing running is always open: no decode to slow.
"""

import math

from sloserve.scheduling import engine_state, latency_model, tpot_guard

# Below this share the engine is effectively decode-bound at its target; charging at a tiny share
# would close it for minutes, so prompts are then charged as if 5% of the time were allowed.
MIN_PREFILL_SHARE = 0.05

# The meter's margins: on the decode step, what a step's prediction may miss by (the fitted decode
# models come within 3.2 % of every measured step, calibration lags a speed change by seconds);
# on the prompt work, the fitted prefill models' error bound (5 %). Larger margins refuse prompts
# an engine could serve; smaller ones leave no room for a miss, and a TPOT is a mean that the
# meter then holds right at its target (an H100 profile calibrated onto H200 engines served most
# of the standard class late with no margins).
STEP_MARGIN = 1.15
PREFILL_MARGIN = 1.05


class PrefillMeter:
    """Per-engine prefill budgets of one scheduler; times in seconds on the scheduler's clock."""

    def __init__(
        self,
        *,
        latency: latency_model.LatencyModel,
        headroom: float,
        step_margin: float = STEP_MARGIN,
        prefill_margin: float = PREFILL_MARGIN,
    ) -> None:
        self._latency = latency
        self._headroom = headroom
        self._step_margin = step_margin
        self._prefill_margin = prefill_margin
        self._paid_until_s: dict[str, float] = {}
        # per engine: when the step that the last charged prompt rides on starts
        self._next_step_s: dict[str, float] = {}

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
        allowed_step_s = self._headroom * tightest_s
        share = (1.0 - self._step_margin * step_s / allowed_step_s) / self._prefill_margin
        return max(MIN_PREFILL_SHARE, share)

    def charge(self, engine: engine_state.EngineState, *, prompt_tokens: int, now_s: float) -> None:
        """Record a prompt of `prompt_tokens` sent to `engine` (its snapshot after the dispatch)."""
        engine_id = engine.engine_id
        # prompts sent before the next step starts share it: the engine batches every waiting
        # chunk into one step, so that step's own cost is paid once
        shares_step = now_s < self._next_step_s.get(engine_id, -math.inf)
        if not shares_step:
            self._next_step_s[engine_id] = now_s + engine.slowdown * (
                self._latency.decode_step_time_s(
                    _virtual_batch(engine), engine.mean_context_tokens()
                )
            )
        extra_s = self.prompt_extra_s(engine, prompt_tokens=prompt_tokens, shares_step=shares_step)
        start_s = max(self._paid_until_s.get(engine_id, now_s), now_s)
        self._paid_until_s[engine_id] = start_s + extra_s / self.prefill_share(engine)

    def prompt_extra_s(
        self, engine: engine_state.EngineState, *, prompt_tokens: int, shares_step: bool = False
    ) -> float:
        """The time a prompt of `prompt_tokens` adds to `engine`'s steps.

        Each of its chunks takes a step in place of a decode step of the virtual batch: a mixed
        step, in which every decoding request takes part (credit batching spends no credit on
        it), at the profile's mixed-step factor, plus the chunk's token rows. With `shares_step`
        the first chunk joins a step another prompt already pays for and adds only its rows.
        Chunks after the first also attend over the earlier ones. Slowdown applied; the CPU
        overhead cancels (one step for one step)."""
        if prompt_tokens <= 0:
            return 0.0
        latency = self._latency
        context = engine.mean_context_tokens()
        batch = float(engine.decoding_requests)
        chunk = latency.max_batched_tokens
        full_chunks, remainder = divmod(prompt_tokens, chunk)
        rows_s = full_chunks * latency.chunk_rows_gpu_s(chunk, batch)
        if remainder:
            rows_s += latency.chunk_rows_gpu_s(remainder, batch)
        steps = full_chunks + (1 if remainder else 0) - (1 if shares_step else 0)
        step_s = latency.mixed_step_gpu_s(0, batch, context) - latency.decode.predict_s(
            _virtual_batch(engine), context
        )
        # attention of later chunks over earlier ones (what one prompt adds over separate ones)
        across_chunks_s = latency.prompt_prefill_time_s(prompt_tokens) - latency.prefill_time_s(
            prompt_tokens
        )
        return engine.slowdown * max(0.0, rows_s + steps * step_s + across_chunks_s)


def _virtual_batch(engine: engine_state.EngineState) -> float:
    """Σ T_min / T_r over `engine`'s requests (0 when none run)."""
    return engine.tightest_tpot_s * engine.inverse_tpot_sum if engine.running else 0.0
