"""The interpretable baseline: a logistic regression on binned features, read as a points scorecard.

Each numeric feature is cut into at most ``max_bins`` quantile bins learned on the training rows,
plus a bin for "missing"; each category is its own bin. The regression has one weight per bin, so
the model is a table that a credit officer can read line by line: an institution's score is the sum
of the points of the bins it falls in. It is trained beside the boosted model so that every
evaluation shows what the extra complexity buys.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

__all__ = ["BinnedScorecard"]

# Points scaling in the usual scorecard form: PDO points double the odds of good conduct.
_PDO = 20.0
_BASE_POINTS = 600.0


class BinnedScorecard(BaseEstimator):
    """Logistic regression on one-hot quantile bins (``fit`` → ``predict_proba`` / ``points_table``)."""

    def __init__(self, max_bins: int = 5, C: float = 0.5, max_iter: int = 2000) -> None:
        self.max_bins = max_bins
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> BinnedScorecard:
        if self.max_bins < 2:
            raise ValueError(f"max_bins must be at least 2; got {self.max_bins}")
        self.edges_: dict[str, np.ndarray] = {}
        self.categories_: dict[str, list[str]] = {}
        for column in X.columns:
            values = X[column]
            if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or values.dtype == "str":
                self.categories_[column] = sorted(values.dropna().astype(str).unique().tolist())
            else:
                self.edges_[column] = _quantile_edges(values.astype("float64"), self.max_bins)
        design = self._design(X)
        self.columns_ = design.columns.tolist()
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_.fit(design.to_numpy(dtype="float64"), np.asarray(y, dtype="float64"), sample_weight=sample_weight)
        return self

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, np.ndarray] = {}
        for column, edges in self.edges_.items():
            values = X[column].astype("float64").to_numpy()
            index = np.searchsorted(edges, values, side="right")  # 0 .. len(edges)
            for b in range(len(edges) + 1):
                parts[f"{column}={_bin_label(edges, b)}"] = ((index == b) & ~np.isnan(values)).astype("float64")
            parts[f"{column}=missing"] = np.isnan(values).astype("float64")
        for column, categories in self.categories_.items():
            values = X[column].astype(object).where(X[column].notna(), None).to_numpy()
            for category in categories:
                parts[f"{column}={category}"] = (values == category).astype("float64")
        return pd.DataFrame(parts, index=X.index)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a violation for each row (the positive-class column only)."""
        check_is_fitted(self, "model_")
        design = self._design(X).reindex(columns=self.columns_, fill_value=0.0)
        return self.model_.predict_proba(design.to_numpy(dtype="float64"))[:, 1]

    def points_table(self) -> pd.DataFrame:
        """One row per bin: ``feature``, ``bin``, ``weight`` (log-odds) and ``points`` (higher = safer)."""
        check_is_fitted(self, "model_")
        factor = _PDO / math.log(2)
        features = [name.split("=", 1) for name in self.columns_]
        table = pd.DataFrame(features, columns=["feature", "bin"])
        table["weight"] = self.model_.coef_[0]
        base = _BASE_POINTS - factor * float(self.model_.intercept_[0])
        per_feature = base / max(1, table["feature"].nunique())
        table["points"] = (per_feature - factor * table["weight"]).round(1)
        return table


def _quantile_edges(values: pd.Series, max_bins: int) -> np.ndarray:
    """Distinct inner cut points at equal-count quantiles (fewer when values repeat)."""
    present = values.dropna().to_numpy()
    if len(present) == 0:
        return np.array([], dtype="float64")
    quantiles = np.quantile(present, np.linspace(0, 1, max_bins + 1)[1:-1])
    edges = np.unique(quantiles)
    # A cut at the minimum would leave an empty first bin.
    return edges[edges > present.min()]


def _bin_label(edges: np.ndarray, b: int) -> str:
    if len(edges) == 0:
        return "all"
    if b == 0:
        return f"<{edges[0]:.4g}"
    if b == len(edges):
        return f">={edges[-1]:.4g}"
    return f"[{edges[b - 1]:.4g},{edges[b]:.4g})"
