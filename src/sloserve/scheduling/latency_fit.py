"""Fit the latency models to a measured profile by least squares, and report the fit error.

Both fits minimise squared *relative* error (each row divided by its measured time): profile times
span two orders of magnitude, and an absolute fit would let the longest prefills decide the
coefficients while short prompts, which decide interactive TTFTs, went badly predicted. This is the
only module of the package that uses numpy.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloserve.scheduling import latency_model, latency_profile

_MS = 1e-3
_FloatArray = npt.NDArray[np.float64]


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
    return FittedLatency(model=model, prefill_fit=prefill_fit, decode_fit=decode_fit)


def fit_prefill(
    points: Sequence[latency_profile.PrefillPoint],
) -> tuple[latency_model.PrefillModel, FitReport]:
    """Choose the flat-region threshold among the measured token counts and fit the constant and
    the line on either side of it; the split with the least squared relative error wins (ties to
    the shorter flat region)."""
    ordered = sorted(points, key=lambda point: point.tokens)
    tokens = np.array([point.tokens for point in ordered], dtype=np.float64)
    seconds = np.array([point.ms * _MS for point in ordered], dtype=np.float64)
    if np.unique(tokens).size < 2:
        raise ValueError("profile prefill: needs points at two or more distinct token counts")
    best: tuple[float, latency_model.PrefillModel] | None = None
    for flat_count in range(tokens.size - 1):
        candidate = _prefill_with_split(tokens, seconds, flat_count)
        if candidate is None:
            continue
        error = float(np.sum(_relative_errors(_predict_prefill(candidate, tokens), seconds) ** 2))
        if best is None or error < best[0]:
            best = (error, candidate)
    if best is None:
        raise ValueError(
            "profile prefill: no split of the points into a flat region and a non-decreasing "
            "line fits them; check that prefill times grow with the token count"
        )
    model = best[1]
    return model, _report(_predict_prefill(model, tokens), seconds)


def fit_decode(
    points: Sequence[latency_profile.DecodePoint],
) -> tuple[latency_model.DecodeStepModel, FitReport]:
    """Fit a·B·L + b·B + c·L + d over the decode points."""
    batch = np.array([point.batch for point in points], dtype=np.float64)
    context = np.array([point.context for point in points], dtype=np.float64)
    seconds = np.array([point.ms * _MS for point in points], dtype=np.float64)
    design = np.column_stack([batch * context, batch, context, np.ones_like(batch)])
    coefficients, rank = _relative_least_squares(design, seconds)
    if rank < design.shape[1]:
        raise ValueError(
            "profile decode: the points must vary batch and context independently "
            "(at least two batch sizes at each of two context lengths)"
        )
    model = latency_model.DecodeStepModel(
        batch_context_s=float(coefficients[0]),
        batch_s=float(coefficients[1]),
        context_s=float(coefficients[2]),
        constant_s=float(coefficients[3]),
    )
    predicted = np.array(
        [model.predict_s(b, c) for b, c in zip(batch, context, strict=True)], dtype=np.float64
    )
    return model, _report(predicted, seconds)


def _prefill_with_split(
    tokens: _FloatArray, seconds: _FloatArray, flat_count: int
) -> latency_model.PrefillModel | None:
    line_tokens = tokens[flat_count:]
    if np.unique(line_tokens).size < 2:
        return None
    if flat_count and tokens[flat_count - 1] == tokens[flat_count]:
        return None
    design = np.column_stack([line_tokens, np.ones_like(line_tokens)])
    (slope, intercept), _ = _relative_least_squares(design, seconds[flat_count:])
    if slope < 0:
        return None
    if flat_count:
        flat_seconds = seconds[:flat_count]
        # The constant minimising Σ((f − y) / y)² over the flat region.
        floor = float(np.sum(1 / flat_seconds) / np.sum(1 / flat_seconds**2))
        threshold = int(tokens[flat_count - 1])
    else:
        threshold = int(tokens[0])
        floor = float(slope * tokens[0] + intercept)
    if floor <= 0:
        return None
    return latency_model.PrefillModel(
        threshold_tokens=threshold,
        floor_s=floor,
        slope_s_per_token=float(slope),
        intercept_s=float(intercept),
    )


def _relative_least_squares(design: _FloatArray, measured: _FloatArray) -> tuple[_FloatArray, int]:
    weighted = design / measured[:, np.newaxis]
    coefficients, _, rank, _ = np.linalg.lstsq(weighted, np.ones_like(measured), rcond=None)
    return coefficients.astype(np.float64), int(rank)


def _predict_prefill(model: latency_model.PrefillModel, tokens: _FloatArray) -> _FloatArray:
    return np.array([model.predict_s(float(count)) for count in tokens], dtype=np.float64)


def _relative_errors(predicted: _FloatArray, measured: _FloatArray) -> _FloatArray:
    return np.abs(predicted - measured) / measured


def _report(predicted: _FloatArray, measured: _FloatArray) -> FitReport:
    errors = _relative_errors(predicted, measured)
    return FitReport(
        points=int(errors.size),
        max_rel_error=float(errors.max()),
        mean_rel_error=float(errors.mean()),
    )
