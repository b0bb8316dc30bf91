"""Online calibration of a latency model from observed TTFT and TPOT, with the profile as prior.

The profile's fitted model keeps its *shape* (how times grow with tokens, batch and context);
calibration learns two factors on top, one on prefill times and one on decode-step times, from
engine steps the caller observes: a step's measured duration against the calibrated model's time
for the same work (a decode step of its batch and mean context; a prefill, or a chunked-prefill
step whose prefill dominates, of its tokens).

Why steps, not each request's TTFT and TPOT: those include what the guards deliberately leave
out or bound (waits in the gateway's queue, the margin, prefill chunks interleaved with a
request's decode), so their ratio to a prediction is biased even when the profile is exact — in
the simulator at SCORPIO's load, observed TTFT ran at 0.2–0.4 of the guard's prediction and TPOT
at about twice the decode step, with the true profile. Calibrating on them would pull an exact
model off. Engines that publish per-step timing give the unbiased signal.

Update rule, per observation, in log space (bounded, so no observation moves a factor far):

    r = clip(ln(observed / predicted), −max_step, +max_step)
    ln f ← clamp(ln f + gain · r, ln f_min, ln f_max)

`predicted` is the *calibrated* model's prediction, so the factor stops moving where the model's
predictions are right on average. The clip bounds an outlier's pull to gain·max_step (a request
stalled behind a preemption moves the factor by at most that), and the clamp keeps the factors
within [f_min, f_max] of the prior. Each factor also keeps an exponentially weighted mean of |r|
(the calibrated model's error) and of r (its bias): a bias beyond `drift_threshold` after
`warmup` observations means the engines' speed moved from what the model holds — a slower GPU, a
noisy neighbour, a different model — which the caller exposes (metrics, `/debug/engines`).

Pure and clock-free: the caller passes each observation when it sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sloserve.scheduling import latency_model

__all__ = ["CalibrationSettings", "CalibrationState", "FactorState", "LatencyCalibrator"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationSettings:
    """`gain`: the share of an observation's log error a factor moves by. `max_step`: the
    largest log error one observation counts with. `min_factor`, `max_factor`: the factors'
    bounds. `error_weight`: the weight of the newest observation in the error and bias means.
    `warmup`: observations of a kind before its factor is trusted and drift is judged.
    `drift_threshold`: the |bias| (log) beyond which the model is drifting. `republish`: the
    relative change in a factor before `model` is rebuilt (rebuilding rebuilds the guards that
    hold it, so not on every observation)."""

    gain: float = 0.05
    max_step: float = math.log(2.0)
    min_factor: float = 0.2
    max_factor: float = 8.0
    error_weight: float = 0.05
    warmup: int = 20
    drift_threshold: float = 0.1
    republish: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.gain <= 1:
            raise ValueError(f"calibration gain must be in (0, 1], got {self.gain!r}")
        if not self.max_step > 0:
            raise ValueError(f"calibration max_step must be above zero, got {self.max_step!r}")
        if not 0 < self.min_factor <= 1 <= self.max_factor < math.inf:
            raise ValueError(
                "calibration factors need 0 < min_factor <= 1 <= max_factor, got "
                f"{self.min_factor!r} and {self.max_factor!r}"
            )
        if not 0 < self.error_weight <= 1:
            raise ValueError(
                f"calibration error_weight must be in (0, 1], got {self.error_weight!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorState:
    """One factor: its value, how many observations moved it, the mean |log error| and mean
    log error (bias) of the calibrated model's recent predictions, and whether it drifts."""

    factor: float
    observations: int
    mean_abs_log_error: float
    mean_log_error: float
    drifting: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationState:
    prefill: FactorState
    decode: FactorState


class _Factor:
    def __init__(self, settings: CalibrationSettings) -> None:
        self._settings = settings
        self.log_factor = 0.0
        self.observations = 0
        self.mean_abs = 0.0
        self.mean = 0.0

    def observe(self, predicted_s: float, observed_s: float) -> None:
        if not (predicted_s > 0 and observed_s > 0):
            return
        if not (math.isfinite(predicted_s) and math.isfinite(observed_s)):
            return
        settings = self._settings
        error = math.log(observed_s / predicted_s)
        step = min(max(error, -settings.max_step), settings.max_step)
        self.log_factor = min(
            max(self.log_factor + settings.gain * step, math.log(settings.min_factor)),
            math.log(settings.max_factor),
        )
        self.observations += 1
        weight = max(settings.error_weight, 1.0 / self.observations)
        self.mean_abs += weight * (abs(step) - self.mean_abs)
        self.mean += weight * (step - self.mean)

    def state(self) -> FactorState:
        settings = self._settings
        return FactorState(
            factor=math.exp(self.log_factor),
            observations=self.observations,
            mean_abs_log_error=self.mean_abs,
            mean_log_error=self.mean,
            drifting=self.observations >= settings.warmup
            and abs(self.mean) > settings.drift_threshold,
        )


class LatencyCalibrator:
    """The calibrated latency model of one engine pool, learnt from observations."""

    def __init__(
        self,
        prior: latency_model.LatencyModel,
        settings: CalibrationSettings | None = None,
    ) -> None:
        self._prior = prior
        self._settings = settings or CalibrationSettings()
        self._prefill = _Factor(self._settings)
        self._decode = _Factor(self._settings)
        self._published = (1.0, 1.0)
        self._model = prior

    @property
    def prior(self) -> latency_model.LatencyModel:
        return self._prior

    @property
    def model(self) -> latency_model.LatencyModel:
        """The calibrated model (the prior scaled by the factors last published)."""
        return self._model

    def observe_prefill(self, *, predicted_s: float, observed_s: float) -> bool:
        """A prefill step that took `observed_s`, for which `model` predicts `predicted_s`.
        True when `model` changed."""
        self._prefill.observe(predicted_s, observed_s)
        return self._republish()

    def observe_decode(self, *, predicted_s: float, observed_s: float) -> bool:
        """A decode step that took `observed_s`, for which `model` predicts `predicted_s`.
        True when `model` changed."""
        self._decode.observe(predicted_s, observed_s)
        return self._republish()

    def state(self) -> CalibrationState:
        return CalibrationState(prefill=self._prefill.state(), decode=self._decode.state())

    def factors(self) -> tuple[float, float]:
        """The current (prefill, decode) factors, published or not."""
        return math.exp(self._prefill.log_factor), math.exp(self._decode.log_factor)

    def _republish(self) -> bool:
        prefill, decode = self.factors()
        published_prefill, published_decode = self._published
        threshold = self._settings.republish
        if (
            abs(prefill / published_prefill - 1) < threshold
            and abs(decode / published_decode - 1) < threshold
        ):
            return False
        self._published = (prefill, decode)
        self._model = self._prior.scaled(prefill=prefill, decode=decode)
        return True
