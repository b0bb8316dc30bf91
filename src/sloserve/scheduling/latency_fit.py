"""Fit the latency models to a measured profile, and report the fit error.

Each model form has a few break points (prefill: threshold and knee; decode: the attention batch
floor and the batch knee). The fit tries them at the measured token counts and batch sizes, solves
the remaining coefficients by least squares on *relative* error (each row divided by its measured
time: profile times span two orders of magnitude, and an absolute fit would let the longest
prefills decide the coefficients while short prompts, which decide interactive TTFTs, went badly
predicted), keeps only candidates whose model is non-decreasing, then refines the best few with
Lawson's reweighting towards the least *maximum* relative error, the figure the profile's fit
target is stated in. This is the only module of the package that uses numpy.
"""

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from sloserve.scheduling import latency_model, latency_profile

_MS = 1e-3
_FloatArray = npt.NDArray[np.float64]
Model = TypeVar("Model")
# How many of the best least-squares candidates are refined towards the least maximum error, and
# for how many reweighting rounds: enough to bring every shipped profile's fit within 5 %, few
# enough that fitting one stays in the milliseconds a process spends at start-up.
_REFINED_CANDIDATES = 4
_LAWSON_ROUNDS = 40
# Candidates within this relative error of each other count as equal: the simpler one wins.
_TIE = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class FitReport:
    """Relative error |predicted − measured| / measured over the profile's points."""

    points: int
    max_rel_error: float
    mean_rel_error: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedLatency:
    """A latency model with the error of each of its fits on the profile it came from."""

    model: latency_model.LatencyModel
    prefill_fit: FitReport
    decode_fit: FitReport
    # the fitted model's chunked-prefill steps against the measured ones (None: none measured)
    mixed_fit: FitReport | None = None


def fit_latency_model(
    profile: latency_profile.LatencyProfile, *, max_batched_tokens: int = 8192
) -> FittedLatency:
    """Fit prefill and decode-step models on `profile`; `max_batched_tokens` is the engine's
    prefill chunk (vLLM's `max_num_batched_tokens`). Raises ValueError naming the profile section
    whose points cannot determine a model."""
    prefill, prefill_fit = fit_prefill(profile.prefill)
    decode, decode_fit = fit_decode(profile.decode)
    model = latency_model.LatencyModel(
        prefill=prefill,
        decode=decode,
        cpu_overhead_s=profile.cpu_overhead_ms_per_step * _MS,
        max_batched_tokens=max_batched_tokens,
    )
    mixed_fit = None
    if profile.mixed:
        model = dataclasses.replace(model, mixed_factor=fit_mixed_factor(profile.mixed, model))
        predicted = np.array(
            [model.mixed_step_gpu_s(m.prefill_tokens, m.batch, m.context) for m in profile.mixed]
        )
        measured = np.array([m.ms * _MS for m in profile.mixed], dtype=np.float64)
        mixed_fit = _report(predicted, measured)
    return FittedLatency(
        model=model, prefill_fit=prefill_fit, decode_fit=decode_fit, mixed_fit=mixed_fit
    )


def fit_mixed_factor(
    points: Sequence[latency_profile.MixedPoint], model: latency_model.LatencyModel
) -> float:
    """The factor on `model`'s composed chunked-prefill step (decode step plus the chunk's extra
    token rows) that best fits the measured mixed steps: the geometric mean of measured over
    composed, the least squares of the log error, so an over- and an under-prediction of the
    same ratio weigh alike."""
    unit = dataclasses.replace(model, mixed_factor=1.0)
    ratios = [
        point.ms * _MS / unit.mixed_step_gpu_s(point.prefill_tokens, point.batch, point.context)
        for point in points
    ]
    return float(np.exp(np.mean(np.log(ratios))))


def fit_prefill(
    points: Sequence[latency_profile.PrefillPoint],
) -> tuple[latency_model.PrefillModel, FitReport]:
    """Fit `PrefillModel` over the prefill points.

    Candidates: SCORPIO's flat-then-line split (the flat constant over the first points, a line,
    with or without the quadratic term, over the rest, joined where they cross), and a threshold
    and optional knee at measured token counts with every coefficient fitted over all points."""
    ordered = sorted(points, key=lambda point: point.tokens)
    tokens = np.array([point.tokens for point in ordered], dtype=np.float64)
    seconds = np.array([point.ms * _MS for point in ordered], dtype=np.float64)
    if np.unique(tokens).size < 2:
        raise ValueError("profile prefill: needs points at two or more distinct token counts")
    candidates = [*_prefill_splits(tokens, seconds)]
    hinged = [*_prefill_hinges(tokens, seconds)]
    model = _best(candidates + hinged, hinged, tokens, seconds, _predict_prefill)
    if model is None:
        raise ValueError(
            "profile prefill: no non-decreasing prefill model fits the points; check that "
            "prefill times grow with the token count"
        )
    return model, _report(_predict_prefill(model, tokens), seconds)


def fit_decode(
    points: Sequence[latency_profile.DecodePoint],
) -> tuple[latency_model.DecodeStepModel, FitReport]:
    """Fit `DecodeStepModel` over the decode points, its attention batch floor and batch knee
    tried at the measured batch sizes (a floor at the smallest batch and no knee is SCORPIO's
    bilinear form)."""
    batch = np.array([point.batch for point in points], dtype=np.float64)
    context = np.array([point.context for point in points], dtype=np.float64)
    seconds = np.array([point.ms * _MS for point in points], dtype=np.float64)
    sample = np.column_stack([batch, context])
    candidates = [*_decode_candidates(batch, context, seconds)]
    model = _best(candidates, candidates, sample, seconds, _predict_decode)
    if model is None:
        raise ValueError(
            "profile decode: the points must vary batch and context independently "
            "(at least two batch sizes at each of two context lengths), with step times that "
            "grow with both"
        )
    return model, _report(_predict_decode(model, sample), seconds)


class _Candidate(Generic[Model]):
    """A model form with its break points fixed: `design` columns, `build` from coefficients
    (None when the coefficients give a model that decreases somewhere)."""

    def __init__(
        self,
        design: _FloatArray | None,
        build: Callable[[_FloatArray], Model | None],
        coefficients: _FloatArray | None = None,
        fixed: Model | None = None,
    ) -> None:
        self.design = design
        self.build = build
        self.coefficients = coefficients
        self.fixed = fixed
        self.size = 0 if design is None else design.shape[1]

    def model(self) -> Model | None:
        if self.fixed is not None:
            return self.fixed
        assert self.coefficients is not None
        return self.build(self.coefficients)


def _best(
    candidates: list[_Candidate[Model]],
    refinable: list[_Candidate[Model]],
    sample: _FloatArray,
    seconds: _FloatArray,
    predict: Callable[[Model, _FloatArray], _FloatArray],
) -> Model | None:
    """The valid candidate model with the least maximum relative error (ties: fewer
    coefficients), after refining the best few refinable ones towards the least maximum."""
    scored: list[tuple[float, int, Model, _Candidate[Model]]] = []
    for candidate in candidates:
        if candidate.fixed is None:
            assert candidate.design is not None
            solved = _relative_least_squares(candidate.design, seconds)
            if solved is None:
                continue
            candidate.coefficients = solved
        built = candidate.model()
        if built is not None:
            error = float(_relative_errors(predict(built, sample), seconds).max())
            scored.append((error, candidate.size, built, candidate))
    if not scored:
        return None
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    refinable_ids = {id(candidate) for candidate in refinable}
    best_error, best_size, best_model, _ = scored[0]
    for error, size, model, chosen in scored[:_REFINED_CANDIDATES]:
        if id(chosen) in refinable_ids:
            error, model = _refine(chosen, sample, seconds, predict, error, model)
        if error < best_error - _TIE or (abs(error - best_error) <= _TIE and size < best_size):
            best_error, best_size, best_model = error, size, model
    return best_model


def _refine(
    candidate: _Candidate[Model],
    sample: _FloatArray,
    seconds: _FloatArray,
    predict: Callable[[Model, _FloatArray], _FloatArray],
    error: float,
    model: Model,
) -> tuple[float, Model]:
    """Lawson's algorithm: reweight each point by its relative error, refit, keep the valid
    model with the least maximum error seen."""
    assert candidate.design is not None
    weights = np.full(seconds.size, 1.0 / seconds.size)
    coefficients = candidate.coefficients
    for _ in range(_LAWSON_ROUNDS):
        assert coefficients is not None
        residuals = _relative_errors(candidate.design @ coefficients, seconds)
        weights = weights * residuals
        total = float(weights.sum())
        if total <= 0:
            break
        weights = weights / total
        solved = _relative_least_squares(candidate.design, seconds, weights)
        if solved is None:
            break
        coefficients = solved
        refined = candidate.build(coefficients)
        if refined is None:
            continue
        refined_error = float(_relative_errors(predict(refined, sample), seconds).max())
        if refined_error < error:
            error, model = refined_error, refined
    return error, model


def _prefill_splits(
    tokens: _FloatArray, seconds: _FloatArray
) -> Iterator[_Candidate[latency_model.PrefillModel]]:
    """SCORPIO's split: a constant over the first `flat_count` points, a polynomial over the rest,
    joined at their crossing."""

    for flat_count, quadratic in itertools.product(range(tokens.size - 1), (False, True)):
        line_tokens = tokens[flat_count:]
        if np.unique(line_tokens).size < (3 if quadratic else 2):
            continue
        if flat_count and tokens[flat_count - 1] == tokens[flat_count]:
            continue
        columns = [line_tokens, np.ones_like(line_tokens)]
        if quadratic:
            columns.append(line_tokens**2)
        solved = _relative_least_squares(np.column_stack(columns), seconds[flat_count:])
        if solved is None:
            continue
        slope, intercept = float(solved[0]), float(solved[1])
        curve = float(solved[2]) if quadratic else 0.0
        if flat_count:
            flat_seconds = seconds[:flat_count]
            # The constant minimising Σ((f − y) / y)² over the flat region.
            floor = float(np.sum(1 / flat_seconds) / np.sum(1 / flat_seconds**2))
            threshold = _crossing(
                floor, slope, intercept, curve, tokens[flat_count - 1], tokens[flat_count]
            )
        else:
            threshold = float(tokens[0])
            floor = slope * threshold + intercept + curve * threshold**2
        model = _prefill_model(floor, threshold, slope, curve)
        if model is not None:
            yield _Candidate(None, _no_build, fixed=model)


def _crossing(
    floor: float, slope: float, intercept: float, curve: float, low: float, high: float
) -> float:
    """The token count in [low, high] where the polynomial reaches the floor (an end when it
    does not cross there); integral, as the model's threshold is."""
    if curve > 0:
        root = (-slope + np.sqrt(max(slope**2 - 4 * curve * (intercept - floor), 0.0))) / (
            2 * curve
        )
    elif slope > 0:
        root = (floor - intercept) / slope
    else:
        root = low
    return float(round(min(max(float(root), low), high)))


def _prefill_hinges(
    tokens: _FloatArray, seconds: _FloatArray
) -> Iterator[_Candidate[latency_model.PrefillModel]]:
    """Threshold and optional knee at measured token counts, every coefficient fitted jointly."""
    distinct = np.unique(tokens)[:-1]
    for threshold in distinct:
        for knee in [None, *(value for value in distinct if value > threshold)]:
            for quadratic in (False, True):
                columns = [np.ones_like(tokens), np.maximum(tokens - threshold, 0)]
                if knee is not None:
                    columns.append(np.maximum(tokens - knee, 0))
                if quadratic:
                    columns.append(np.maximum(tokens**2 - threshold**2, 0))
                yield _Candidate(
                    np.column_stack(columns),
                    _hinge_builder(float(threshold), knee, quadratic),
                )


def _hinge_builder(
    threshold: float, knee: float | None, quadratic: bool
) -> Callable[[_FloatArray], latency_model.PrefillModel | None]:
    def build(coefficients: _FloatArray) -> latency_model.PrefillModel | None:
        knee_slope = float(coefficients[2]) if knee is not None else 0.0
        curve = float(coefficients[-1]) if quadratic else 0.0
        return _prefill_model(
            float(coefficients[0]),
            threshold,
            float(coefficients[1]),
            curve,
            knee=knee,
            knee_slope=knee_slope,
        )

    return build


def _prefill_model(
    floor: float,
    threshold: float,
    slope: float,
    curve: float,
    *,
    knee: float | None = None,
    knee_slope: float = 0.0,
) -> latency_model.PrefillModel | None:
    if floor <= 0 or slope < 0 or curve < 0 or slope + knee_slope < 0:
        return None
    return latency_model.PrefillModel(
        threshold_tokens=int(threshold),
        floor_s=floor,
        slope_s_per_token=slope,
        knee_tokens=int(knee) if knee is not None else 0,
        knee_slope_s_per_token=knee_slope,
        quadratic_s_per_token2=curve,
    )


def _no_build(_coefficients: _FloatArray) -> None:
    return None


def _decode_candidates(
    batch: _FloatArray, context: _FloatArray, seconds: _FloatArray
) -> Iterator[_Candidate[latency_model.DecodeStepModel]]:
    sizes = np.unique(batch)
    for floor in sizes:
        for knee in [None, *(size for size in sizes if size > sizes[0])]:
            columns = [
                context * np.maximum(batch, floor),
                batch,
                context,
                np.ones_like(batch),
            ]
            if knee is not None:
                columns.append(np.maximum(batch - knee, 0))
            yield _Candidate(np.column_stack(columns), _decode_builder(float(floor), knee))


def _decode_builder(
    floor: float, knee: float | None
) -> Callable[[_FloatArray], latency_model.DecodeStepModel | None]:
    def build(coefficients: _FloatArray) -> latency_model.DecodeStepModel | None:
        attention, per_sequence, per_token, constant = (float(c) for c in coefficients[:4])
        knee_s = float(coefficients[4]) if knee is not None else 0.0
        # Non-decreasing in batch and in context, for every batch from 0 up.
        if attention < 0 or per_sequence < 0 or per_sequence + knee_s < 0:
            return None
        if per_token + attention * floor < 0 or constant <= 0:
            return None
        return latency_model.DecodeStepModel(
            batch_context_s=attention,
            batch_s=per_sequence,
            context_s=per_token,
            constant_s=constant,
            attention_batch_floor=floor,
            batch_knee=float(knee) if knee is not None else 0.0,
            batch_knee_s=knee_s,
        )

    return build


def _relative_least_squares(
    design: _FloatArray, measured: _FloatArray, weights: _FloatArray | None = None
) -> _FloatArray | None:
    """Coefficients minimising Σ wᵢ·((design·x − y) / y)ᵢ², or None when the design cannot
    determine them all."""
    weighted = design / measured[:, np.newaxis]
    target = np.ones_like(measured)
    if weights is not None:
        root = np.sqrt(weights)
        weighted = weighted * root[:, np.newaxis]
        target = root
    coefficients, _, rank, _ = np.linalg.lstsq(weighted, target, rcond=None)
    if int(rank) < design.shape[1]:
        return None
    return coefficients.astype(np.float64)


def _predict_prefill(model: latency_model.PrefillModel, tokens: _FloatArray) -> _FloatArray:
    return np.array([model.predict_s(float(count)) for count in tokens], dtype=np.float64)


def _predict_decode(model: latency_model.DecodeStepModel, sample: _FloatArray) -> _FloatArray:
    return np.array([model.predict_s(float(b), float(c)) for b, c in sample], dtype=np.float64)


def _relative_errors(predicted: _FloatArray, measured: _FloatArray) -> _FloatArray:
    return np.abs(predicted - measured) / measured


def _report(predicted: _FloatArray, measured: _FloatArray) -> FitReport:
    errors = _relative_errors(predicted, measured)
    return FitReport(
        points=int(errors.size),
        max_rel_error=float(errors.max()),
        mean_rel_error=float(errors.mean()),
    )
