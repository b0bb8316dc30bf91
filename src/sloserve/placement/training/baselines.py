"""The baselines the dual-branch model is measured against.

- heuristic: sum of utilizations. The GPU is shared in proportion to demand, so a candidate
  beside neighbours whose mean SM utilizations (NVML's `utilization.gpu`) add up to U percent
  gets P = min(1, 100 / U).
- linear: ridge regression (penalty chosen by cross-validation on the training rows) on summary
  features: per-metric mean, deviation and maximum of the candidate, and the sum and maximum of
  the neighbours' means, plus the sharing mode.
- gbdt: gradient-boosted regression trees on the same features.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sloserve.placement import features
from sloserve.placement.examples import Examples
from sloserve.placement.series import FloatArray
from sloserve.placement.training.model import P_MAX

__all__ = ["Baseline", "fit_baselines", "sum_of_utilizations"]


class Baseline(Protocol):
    def predict(self, examples: Examples) -> FloatArray: ...


def sum_of_utilizations(examples: Examples, metrics: tuple[str, ...]) -> FloatArray:
    """The heuristic's P for each example."""
    column = metrics.index(features.LOAD_METRIC)
    demand = examples.inputs[:, :, :, column].mean(axis=2).sum(axis=1)
    return np.asarray(np.minimum(1.0, 100.0 / np.maximum(demand, 1e-6)), dtype=np.float32)


class _Regression:
    """A scikit-learn regressor over the summary features, its output clipped to P's range."""

    def __init__(self, estimator: object, training: Examples) -> None:
        self._estimator = estimator
        self._estimator.fit(  # type: ignore[attr-defined]
            features.summary_features(training.inputs, training.modes), training.targets
        )

    def predict(self, examples: Examples) -> FloatArray:
        raw = self._estimator.predict(  # type: ignore[attr-defined]
            features.summary_features(examples.inputs, examples.modes)
        )
        return np.clip(np.asarray(raw, dtype=np.float32), 0.0, P_MAX)


def fit_baselines(training: Examples, *, seed: int) -> dict[str, Baseline]:
    """The linear and tree baselines fitted on `training` (the heuristic needs no fitting)."""
    linear = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    trees = GradientBoostingRegressor(
        n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=seed
    )
    return {"linear": _Regression(linear, training), "gbdt": _Regression(trees, training)}
