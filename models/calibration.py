"""Probability calibration fitted on a later time slice than the model it calibrates.

A boosted model's raw probabilities rank well but are not honest rates: they drift with class
balance, the number of rounds and the time the model was fitted. Mapping them on a slice of
inspections that comes after the fitting data turns them into rates a planner can multiply by an
amount. Two methods, both monotone so that the ranking is untouched:

- ``platt``: a logistic regression on the raw log-odds (two parameters; stable on small slices);
- ``isotonic``: a non-decreasing step function (flexible; wants a few hundred of each class).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

__all__ = ["CALIBRATION_METHODS", "ProbabilityCalibrator"]

CALIBRATION_METHODS = ("platt", "isotonic")
_EPS = 1e-6


class ProbabilityCalibrator(BaseEstimator):
    """Maps a raw log-odds score to a calibrated probability (``fit`` → ``transform``)."""

    def __init__(self, method: str = "platt") -> None:
        self.method = method

    def fit(self, raw_logit: np.ndarray, y: np.ndarray) -> ProbabilityCalibrator:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"method must be one of {list(CALIBRATION_METHODS)}; got {self.method!r}")
        raw_logit = np.asarray(raw_logit, dtype="float64")
        y = np.asarray(y, dtype="float64")
        if len(np.unique(y)) < 2:
            raise ValueError("the calibration slice must contain inspections with and without violations")
        if self.method == "platt":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(raw_logit.reshape(-1, 1), y)
        else:
            self.model_ = IsotonicRegression(y_min=_EPS, y_max=1 - _EPS, out_of_bounds="clip").fit(raw_logit, y)
        return self

    def transform(self, raw_logit: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        raw_logit = np.asarray(raw_logit, dtype="float64")
        if self.method == "platt":
            return self.model_.predict_proba(raw_logit.reshape(-1, 1))[:, 1]
        return np.clip(self.model_.predict(raw_logit), _EPS, 1 - _EPS)
