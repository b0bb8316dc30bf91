"""Online calibration of a model's latency model in the gateway, from what its engines show.

The update rule is the scheduling core's (`sloserve.scheduling.calibration`, the simulator's
too): two factors, on prefill and on decode-step times, learnt in log space with a bounded step,
the profile as prior. This module decides which observations are fair to it. A request's TTFT and
TPOT as the client sees them are not: they hold queueing, other requests' prefills interleaved
with its decode, and batches of many sizes. So only work whose cost the model can price exactly is
observed, from two sources:

- `engine`, the engine's own metrics (vLLM's, read at each scrape), as differences between two
  scrapes of one engine:
  - decode: an interval in which the engine prefilled nothing (`vllm:prompt_tokens_total` did
    not move, nothing waited at either scrape, and, where the engine counts its steps, no step
    held more tokens than the batch had sequences: a prefill chunk of a prompt not yet finished
    moves only that) and produced at least `min_decode_tokens` tokens. Its mean inter-token latency
    (`vllm:inter_token_latency_seconds`, or the older `vllm:time_per_output_token_seconds`) is the
    mean decode step, priced at the interval's mean batch (`vllm:iteration_tokens_total`: tokens
    per step, which a decode-only step makes its batch; else the running gauge at the two
    scrapes) and the mean context of the requests the gateway has there.
  - prefill: an interval that began with the engine idle (nothing running or waiting) in which
    exactly one request got its first token: its time to first token
    (`vllm:time_to_first_token_seconds`) is one prefill, alone, of the tokens
    `vllm:prompt_tokens_total` grew by, less those the prefix cache held
    (`vllm:prefix_cache_hits_total`; an engine that counts its hits only later, as the engine
    simulator does at a request's end, leaves them in).
- `stream`, the requests the gateway relays, for engines that publish no timing (once an engine's
  metrics show timings, its streams are not observed: they would count the same work twice, with
  the network in it):
  - prefill: a request sent to an engine where the gateway had nothing else (and the last scrape
    saw nothing from other clients) until its first token: dispatch to first token is its
    prefill.
  - decode: a request alone on its engine from dispatch to its last token, of at least
    `min_decode_tokens` tokens: its TPOT is the decode step of a batch of one at its mean
    context.

Every observation moves the model's pool calibrator (whose model the guards and routing use: one
model per ModelService, as its engines are alike) and the engine's own calibrator (whose factors
and error show which engine is off: a slower GPU, a noisy neighbour). Under sustained load an
engine is never idle, so its prefill factor holds where the last idle moments left it; decode is
observed whenever prefills pause. Off (`scheduling.calibration.enabled: false`), nothing is
observed and the prior is used throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sloserve.gateway import engine_metrics
from sloserve.scheduling import calibration, latency_model

__all__ = ["PHASES", "SOURCES", "ModelCalibration", "StreamObservation"]

Phase = Literal["prefill", "decode"]
Source = Literal["stream", "engine"]
PHASES: tuple[Phase, ...] = ("prefill", "decode")
SOURCES: tuple[Source, ...] = ("stream", "engine")

#: Fewest tokens an interval or a stream must show before its mean step is observed: a mean of
#: a few intervals is mostly noise (and the first token's wait).
MIN_DECODE_TOKENS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamObservation:
    """What a relayed stream showed: the engine, its prompt, when it was sent, its first and last
    tokens (monotonic seconds) and how many, and whether it had the engine to itself until its
    first token and until its end, as the gateway saw it."""

    engine: str
    prompt_tokens: int
    sent_s: float
    first_token_s: float
    last_token_s: float
    tokens: int
    alone_to_first_token: bool
    alone_throughout: bool


@dataclass(slots=True)
class _Scraped:
    timings: engine_metrics.EngineTimings
    running: int
    waiting: int


class ModelCalibration:
    """The calibrated latency model of one model's engines, and of each engine apart."""

    def __init__(
        self,
        prior: latency_model.LatencyModel,
        settings: calibration.CalibrationSettings | None = None,
        *,
        enabled: bool = True,
        min_decode_tokens: int = MIN_DECODE_TOKENS,
    ) -> None:
        self.enabled = enabled
        self._settings = settings or calibration.CalibrationSettings()
        self._pool = calibration.LatencyCalibrator(prior, self._settings)
        self._engines: dict[str, calibration.LatencyCalibrator] = {}
        self._scraped: dict[str, _Scraped] = {}
        self._engine_timed: set[str] = set()
        self._min_decode_tokens = min_decode_tokens
        self.observations: dict[tuple[Phase, Source], int] = {
            (phase, source): 0 for phase in PHASES for source in SOURCES
        }
        """Observations taken, by phase and source."""

    @property
    def prior(self) -> latency_model.LatencyModel:
        return self._pool.prior

    @property
    def model(self) -> latency_model.LatencyModel:
        """The model the guards and routing predict with: the calibrated one (the prior when
        calibration is off)."""
        return self._pool.model if self.enabled else self._pool.prior

    def state(self) -> calibration.CalibrationState:
        """The pool's factors, error, bias and drift."""
        return self._pool.state()

    def engine_states(self) -> dict[str, calibration.CalibrationState]:
        """Each observed engine's own factors, error, bias and drift."""
        return {url: calibrator.state() for url, calibrator in self._engines.items()}

    def engine_timed(self, engine: str) -> bool:
        """Whether the engine's own metrics carry its timing (its streams are then not
        observed)."""
        return engine in self._engine_timed

    def forget_engine(self, engine: str) -> None:
        self._engines.pop(engine, None)
        self._scraped.pop(engine, None)
        self._engine_timed.discard(engine)

    def observe_stream(self, seen: StreamObservation) -> bool:
        """A relayed stream that ended; True when the pool's model changed."""
        if not self.enabled or seen.engine in self._engine_timed:
            return False
        changed = False
        if seen.alone_to_first_token and seen.first_token_s >= seen.sent_s:
            changed |= self._observe(
                seen.engine,
                "prefill",
                "stream",
                observed_s=seen.first_token_s - seen.sent_s,
                tokens=seen.prompt_tokens,
            )
        if seen.alone_throughout and seen.tokens >= self._min_decode_tokens:
            changed |= self._observe(
                seen.engine,
                "decode",
                "stream",
                observed_s=(seen.last_token_s - seen.first_token_s) / (seen.tokens - 1),
                batch=1.0,
                context=seen.prompt_tokens + seen.tokens / 2,
            )
        return changed

    def observe_scrape(
        self, engine: str, load: engine_metrics.EngineLoad, *, context_tokens: float
    ) -> bool:
        """A scrape of `engine`; `context_tokens`: the mean context of the requests the gateway
        has there. True when the pool's model changed."""
        timings = load.timings
        if not self.enabled or timings is None:
            return False
        self._engine_timed.add(engine)
        previous = self._scraped.get(engine)
        self._scraped[engine] = _Scraped(
            timings=timings, running=load.running, waiting=load.waiting
        )
        if previous is None:
            return False
        before = previous.timings
        prompt = timings.prompt_tokens - before.prompt_tokens
        first_tokens = timings.ttft_count - before.ttft_count
        intervals = timings.inter_token_count - before.inter_token_count
        if min(prompt, first_tokens, intervals) < 0:
            # the engine restarted: its totals began again; the next scrape compares with this
            return False
        changed = False
        quiet = prompt == 0 and previous.waiting == load.waiting == 0
        if quiet and intervals >= self._min_decode_tokens:
            batch = _mean_batch(previous, timings, load.running)
            if batch is not None:
                changed |= self._observe(
                    engine,
                    "decode",
                    "engine",
                    observed_s=(timings.inter_token_sum_s - before.inter_token_sum_s) / intervals,
                    batch=batch,
                    context=context_tokens,
                )
        computed = prompt - max(0.0, timings.prefix_cache_hits - before.prefix_cache_hits)
        if previous.running == previous.waiting == 0 and first_tokens == 1 and computed >= 1:
            changed |= self._observe(
                engine,
                "prefill",
                "engine",
                observed_s=timings.ttft_sum_s - before.ttft_sum_s,
                tokens=round(computed),
            )
        return changed

    def _observe(
        self,
        engine: str,
        phase: Phase,
        source: Source,
        *,
        observed_s: float,
        tokens: int = 0,
        batch: float = 1.0,
        context: float = 0.0,
    ) -> bool:
        if not observed_s > 0:
            return False
        self.observations[(phase, source)] += 1
        own = self._engines.get(engine)
        if own is None:
            own = self._engines[engine] = calibration.LatencyCalibrator(
                self._pool.prior, self._settings
            )
        # the engine's own calibrator first: only the pool's model reaches the guards
        _feed(own, phase, observed_s=observed_s, tokens=tokens, batch=batch, context=context)
        return _feed(
            self._pool, phase, observed_s=observed_s, tokens=tokens, batch=batch, context=context
        )


def _feed(
    calibrator: calibration.LatencyCalibrator,
    phase: Phase,
    *,
    observed_s: float,
    tokens: int,
    batch: float,
    context: float,
) -> bool:
    """One observation against the calibrator's own (calibrated) prediction of the same work;
    True when its model changed."""
    model = calibrator.model
    if phase == "prefill":
        predicted_s = model.prompt_prefill_time_s(tokens)
        return calibrator.observe_prefill(predicted_s=predicted_s, observed_s=observed_s)
    predicted_s = model.decode_step_time_s(max(batch, 1.0), context)
    return calibrator.observe_decode(predicted_s=predicted_s, observed_s=observed_s)


# Slack on "no step held more tokens than sequences": the gauges are sampled at the scrapes.
_BATCH_SLACK = 0.5


def _mean_batch(
    previous: _Scraped, timings: engine_metrics.EngineTimings, running: int
) -> float | None:
    """The interval's mean decode batch: tokens per step when the engine counts its steps (a
    decode-only step makes one token per sequence), else the running gauge at its two ends.
    None when its steps held more tokens than it ran sequences: prefill chunks were among them."""
    steps_before = previous.timings.iteration_steps
    if timings.iteration_steps is not None and steps_before is not None:
        steps = timings.iteration_steps - steps_before
        tokens_before = previous.timings.iteration_tokens_sum or 0.0
        if steps > 0 and timings.iteration_tokens_sum is not None:
            per_step = (timings.iteration_tokens_sum - tokens_before) / steps
            if per_step > max(previous.running, running) + _BATCH_SLACK:
                return None
            return max(1.0, per_step)
    return max(1.0, (previous.running + running) / 2)
