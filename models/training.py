"""The risk model: how likely an inspection finds a violation, how much is at stake, and why.

``RiskModel.fit`` takes a panel (one row per inspection, features as of its date, its outcome and
its conditions) and a :class:`~models.dataset.PanelSpec`, and fits, in time order:

1. a LightGBM classifier on the earlier part of the training window, with the inspection's kind and
   the inspectors' record as nuisance inputs;
2. a calibrator (Platt or isotonic) on the later part, so probabilities are honest rates;
3. a LightGBM regressor of log amount on the inspections that found something (the amount model);
4. an interpretable baseline (:class:`~models.scorecard.BinnedScorecard`) on the same rows.

``RiskModel.score`` then rates institutions as for a random inspection by an average inspector:
probability, expected amount, priority (= probability × expected amount) and risk level.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import metrics
from .calibration import CALIBRATION_METHODS, ProbabilityCalibrator
from .conduct import conduct_monotone, is_size_control
from .dataset import PanelSpec
from .reasons import catalogue_entries, top_reasons
from .scorecard import BinnedScorecard

__all__ = ["RiskBands", "RiskModel", "RiskModelConfig"]

log = logging.getLogger(__name__)

RISK_LEVELS_ZH = ("低", "中", "高", "极高")
RISK_LEVELS_EN = ("low", "medium", "high", "very high")
# Fewer rows than this in the amount model and the expected amount is the overall mean instead.
MIN_AMOUNT_ROWS = 30


@dataclass(frozen=True)
class RiskBands:
    """Probability cut points between the risk levels 低 / 中 / 高 / 极高 (three increasing values)."""

    cuts: tuple[float, float, float] = (0.2, 0.4, 0.6)

    def __post_init__(self) -> None:
        cuts = tuple(float(c) for c in self.cuts)
        if len(cuts) != 3 or not (0 < cuts[0] < cuts[1] < cuts[2] < 1):
            raise ValueError(f"risk band cuts must be three increasing probabilities in (0, 1); got {self.cuts}")
        object.__setattr__(self, "cuts", cuts)

    def level_index(self, probability: np.ndarray) -> np.ndarray:
        """0 (低) .. 3 (极高) for each probability; a probability equal to a cut takes the higher level."""
        return np.searchsorted(np.asarray(self.cuts), np.asarray(probability, dtype="float64"), side="right")

    def levels(self, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = self.level_index(probability)
        return np.asarray(RISK_LEVELS_ZH, dtype=object)[index], np.asarray(RISK_LEVELS_EN, dtype=object)[index]


@dataclass(frozen=True)
class RiskModelConfig:
    """Hyper-parameters and policy of the risk model; validated on construction.

    ``calibration_share`` is the later share of the training inspections (by date) held back to
    calibrate the classifier; ``neutral_kind`` the inspection kind every institution is scored for.
    ``monotone`` maps feature names to +1 (more means riskier) or -1, enforced in the trees;
    ``conduct_monotone`` adds the domain's directions for conduct features
    (:func:`models.conduct.conduct_monotone`) under any explicit ``monotone`` entry.
    """

    n_estimators: int = 300
    learning_rate: float = 0.03
    num_leaves: int = 5
    min_child_samples: int = 30
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    reg_lambda: float = 5.0
    amount_estimators: int = 200
    calibration: str = "platt"
    calibration_share: float = 0.25
    neutral_kind: str = "random"
    bands: RiskBands = field(default_factory=RiskBands)
    monotone: Mapping[str, int] = field(default_factory=dict)
    conduct_monotone: bool = True
    baseline_bins: int = 5
    baseline_features: int = 15
    seed: int = 0
    n_jobs: int = 1

    def __post_init__(self) -> None:
        positive_ints = (
            "n_estimators",
            "num_leaves",
            "min_child_samples",
            "amount_estimators",
            "n_jobs",
            "baseline_features",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("learning_rate", "feature_fraction", "bagging_fraction"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1]; got {value!r}")
        if not 0.05 <= self.calibration_share <= 0.5:
            raise ValueError(f"calibration_share must be in [0.05, 0.5]; got {self.calibration_share!r}")
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(f"calibration must be one of {list(CALIBRATION_METHODS)}; got {self.calibration!r}")
        bad = {k: v for k, v in self.monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ValueError(f"monotone directions must be -1, 0 or 1; got {bad}")
        if isinstance(self.bands, Sequence):
            object.__setattr__(self, "bands", RiskBands(tuple(self.bands)))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RiskModelConfig:
        """A config from a plain mapping (a YAML/JSON file); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown risk-model settings {unknown}; allowed: {sorted(known)}")
        values = dict(mapping)
        if "bands" in values and not isinstance(values["bands"], RiskBands):
            values["bands"] = RiskBands(tuple(values["bands"]))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bands"] = list(self.bands.cuts)
        data["monotone"] = dict(self.monotone)
        return data


def _time_split(times: pd.Series, share: float) -> pd.Timestamp:
    """The first date of the calibration slice: the latest date with at least ``share`` of rows on or after it."""
    ordered = np.sort(times.to_numpy())
    cut = ordered[min(len(ordered) - 1, math.floor(len(ordered) * (1 - share)))]
    return pd.Timestamp(cut)


class RiskModel(BaseEstimator):
    """Classifier + calibrator + amount model + scorecard baseline, fitted on one panel."""

    def __init__(self, config: RiskModelConfig | None = None) -> None:
        self.config = config or RiskModelConfig()

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, panel: pd.DataFrame, spec: PanelSpec, *, catalogue: Any = None) -> RiskModel:
        """Fit on ``panel`` (rows of inspections) described by ``spec``; returns ``self``.

        ``catalogue`` (the feature catalogue) is kept with the model to word its reasons.
        """
        spec.check(panel)
        if panel.empty:
            raise ValueError("panel has no rows to train on")
        self.spec_ = spec
        self.catalogue_ = {name: vars(entry) for name, entry in catalogue_entries(catalogue).items()}
        self.neutral_ = self._neutral_values(spec)
        times = pd.to_datetime(panel[spec.time])
        self.calibration_start_ = _time_split(times, self.config.calibration_share)
        fit_rows = (times < self.calibration_start_).to_numpy()
        if fit_rows.sum() == 0 or (~fit_rows).sum() == 0:
            raise ValueError(
                f"panel needs inspections on more than one date to hold back a calibration slice; "
                f"dates {times.min().date()} .. {times.max().date()}"
            )
        X = self._prepare(panel, fit=True)
        y = panel[spec.label].astype("float64").to_numpy()
        self._check_classes(y[fit_rows], "fitting slice")
        self._check_classes(y[~fit_rows], "calibration slice")
        self.classifier_ = self._classifier(X.columns).fit(X[fit_rows], y[fit_rows])
        raw = self._raw_logit(X)
        self.calibrator_ = ProbabilityCalibrator(self.config.calibration).fit(raw[~fit_rows], y[~fit_rows])
        self._fit_amount(X, panel, fit_rows)
        self.baseline_columns_ = self._baseline_columns(X.columns)
        self.baseline_ = BinnedScorecard(max_bins=self.config.baseline_bins).fit(
            X.loc[fit_rows, self.baseline_columns_], y[fit_rows]
        )
        self.medians_ = X[list(spec.features)].median(numeric_only=True).to_dict()
        self.training_window_ = (times.min(), times.max())
        self.n_rows_ = {"fit": int(fit_rows.sum()), "calibration": int((~fit_rows).sum())}
        self.metrics_ = self._slice_metrics(panel.loc[~fit_rows], X[~fit_rows], y[~fit_rows])
        log.info("risk model fitted: %s", self.metrics_["overall"])
        return self

    @staticmethod
    def _check_classes(y: np.ndarray, where: str) -> None:
        if len(np.unique(y)) < 2:
            raise ValueError(f"the {where} must contain inspections with and without violations")

    def _neutral_values(self, spec: PanelSpec) -> dict[str, float]:
        from .dataset import KIND_PREFIX, neutral_nuisance

        neutral = neutral_nuisance(spec.nuisance, kind=self.config.neutral_kind)
        neutral.update({k: v for k, v in spec.neutral.items() if not k.startswith(KIND_PREFIX)})
        kinds = [c for c in spec.nuisance if c.startswith(KIND_PREFIX)]
        if kinds and KIND_PREFIX + self.config.neutral_kind not in kinds:
            raise ValueError(
                f"neutral_kind must be one of {[k.removeprefix(KIND_PREFIX) for k in kinds]}; "
                f"got {self.config.neutral_kind!r}"
            )
        return neutral

    def monotone_directions(self, columns: Sequence[str]) -> dict[str, int]:
        """The monotone direction enforced on each column (0: free)."""
        directions = conduct_monotone(columns) if self.config.conduct_monotone else {}
        directions.update(self.config.monotone)
        return {c: int(directions.get(c, 0)) for c in columns}

    def _classifier(self, columns: Sequence[str]) -> lgb.LGBMClassifier:
        monotone = list(self.monotone_directions(columns).values())
        return lgb.LGBMClassifier(**self._booster_params(), monotone_constraints=monotone)

    def _booster_params(self) -> dict[str, Any]:
        c = self.config
        return {
            "n_estimators": c.n_estimators,
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_child_samples": c.min_child_samples,
            "colsample_bytree": c.feature_fraction,
            "subsample": c.bagging_fraction,
            "subsample_freq": 1,
            "reg_lambda": c.reg_lambda,
            "random_state": c.seed,
            "n_jobs": c.n_jobs,
            "verbose": -1,
        }

    def _baseline_columns(self, columns: Sequence[str]) -> list[str]:
        """The scorecard's characteristics: the classifier's most useful features (by gain), plus nuisance.

        A scorecard is read line by line, so it keeps a handful of characteristics, as credit
        scorecards do, rather than every feature the boosted model can sift.
        """
        gain = pd.Series(self.classifier_.booster_.feature_importance("gain"), index=list(columns))
        features = gain[list(self.spec_.features)]
        top = features[features > 0].sort_values(ascending=False, kind="stable").index[: self.config.baseline_features]
        chosen = list(top) or list(self.spec_.features[: self.config.baseline_features])
        return [*chosen, *self.spec_.nuisance]

    def _fit_amount(self, X: pd.DataFrame, panel: pd.DataFrame, fit_rows: np.ndarray) -> None:
        """Log-amount regression on violating inspections, with Duan's smearing to return to yuan."""
        spec = self.spec_
        amount = panel[spec.amount].astype("float64").fillna(0.0).to_numpy() if spec.amount in panel else None
        positive = np.zeros(len(panel), dtype=bool) if amount is None else amount > 0
        self.amount_mean_ = float(amount[positive].mean()) if positive.any() else 0.0
        self.amount_model_ = None
        if positive.sum() < MIN_AMOUNT_ROWS:
            log.log(
                logging.WARNING if amount is not None else logging.INFO,
                "only %d inspections with an amount; expected amount is their mean",
                positive.sum(),
            )
            return
        target = np.log1p(amount)
        train = positive & fit_rows if (positive & fit_rows).sum() >= MIN_AMOUNT_ROWS else positive
        params = self._booster_params() | {"n_estimators": self.config.amount_estimators}
        self.amount_model_ = lgb.LGBMRegressor(**params).fit(X[train], target[train])
        held = positive & ~train if (positive & ~train).sum() >= MIN_AMOUNT_ROWS else train
        residual = target[held] - self.amount_model_.predict(X[held])
        self.smearing_ = float(np.mean(np.exp(residual)))

    # ------------------------------------------------------------------------------- preparation
    def _prepare(self, frame: pd.DataFrame, *, fit: bool = False, neutral: bool = False) -> pd.DataFrame:
        """Model inputs in a fixed column order: features as float or category, then nuisance."""
        spec = self.spec_
        columns: dict[str, object] = {}
        if fit:
            self.categories_ = {}
            self.dtypes_ = {}
        for column in spec.features:
            if column not in frame.columns:
                raise ValueError(f"frame lacks feature column {column!r} the model was trained with")
            values = frame[column]
            if fit:
                categorical = not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))
                self.dtypes_[column] = "category" if categorical else "float64"
                if categorical:
                    self.categories_[column] = sorted(values.dropna().astype(str).unique().tolist())
            if column in self.categories_:
                text = values.astype(object).where(values.notna(), None)
                columns[column] = pd.Categorical(text, categories=self.categories_[column])
            else:
                columns[column] = pd.to_numeric(values.astype("Float64"), errors="raise").to_numpy(
                    "float64", na_value=np.nan
                )
        for column in spec.nuisance:
            if neutral or column not in frame.columns:
                columns[column] = np.full(len(frame), float(self.neutral_[column]))
            else:
                columns[column] = frame[column].astype("float64").to_numpy()
        return pd.DataFrame(columns, index=frame.index)

    def _raw_logit(self, X: pd.DataFrame) -> np.ndarray:
        return self.classifier_.predict(X, raw_score=True)

    # ----------------------------------------------------------------------------------- scoring
    def predict_proba(self, frame: pd.DataFrame, *, neutral: bool = True) -> np.ndarray:
        """Calibrated probability that an inspection finds a violation.

        ``neutral=True`` (the institution's score) sets kind and inspectors to their neutral values;
        ``neutral=False`` uses the rows' own nuisance columns (to evaluate actual inspections).
        """
        check_is_fitted(self, "calibrator_")
        return self.calibrator_.transform(self._raw_logit(self._prepare(frame, neutral=neutral)))

    def expected_amount(self, frame: pd.DataFrame, *, neutral: bool = True) -> np.ndarray:
        """Expected amount (yuan) found if the inspection finds a violation."""
        check_is_fitted(self, "calibrator_")
        if self.amount_model_ is None:
            return np.full(len(frame), self.amount_mean_)
        log_amount = self.amount_model_.predict(self._prepare(frame, neutral=neutral))
        return np.maximum(0.0, np.expm1(log_amount) * self.smearing_)

    def baseline_proba(self, frame: pd.DataFrame, *, neutral: bool = True) -> np.ndarray:
        """The scorecard baseline's probability (uncalibrated logistic regression)."""
        check_is_fitted(self, "baseline_")
        return self.baseline_.predict_proba(self._prepare(frame, neutral=neutral)[self.baseline_columns_])

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rate each row (an institution as of a date) for a random inspection by an average inspector.

        Columns: entity and time keys (when present), ``probability``, ``expected_amount``,
        ``priority`` (probability × expected amount), ``risk_level`` (低/中/高/极高),
        ``risk_level_en`` and ``baseline_probability``.
        """
        spec = self.spec_
        keys = [c for c in (spec.entity, spec.time) if c in frame.columns]
        result = frame.loc[:, keys].copy()
        result["probability"] = self.predict_proba(frame)
        result["expected_amount"] = self.expected_amount(frame)
        result["priority"] = result["probability"] * result["expected_amount"]
        zh, en = self.config.bands.levels(result["probability"].to_numpy())
        result["risk_level"] = pd.Series(zh, index=frame.index, dtype="str")
        result["risk_level_en"] = pd.Series(en, index=frame.index, dtype="str")
        result["baseline_probability"] = self.baseline_proba(frame)
        return result

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's own per-feature contributions (log-odds) to each neutral score.

        Nuisance columns are fixed at their neutral values, so their contributions are the same for
        everyone; they are summed into ``_inspection_conditions`` with the bias in ``_baseline``.
        Size controls (``size__*``) are summed into ``_size_control``: they are fitted so that rates
        on few claims are read with care, but size is not conduct and is never given as a reason.
        """
        check_is_fitted(self, "classifier_")
        X = self._prepare(frame, neutral=True)
        values = self.classifier_.predict(X, pred_contrib=True)
        columns = [*X.columns, "_baseline"]
        contrib = pd.DataFrame(values, index=frame.index, columns=columns)
        nuisance = list(self.spec_.nuisance)
        size = [c for c in self.spec_.features if is_size_control(c)]
        contrib["_inspection_conditions"] = contrib[nuisance].sum(axis=1) if nuisance else 0.0
        contrib["_size_control"] = contrib[size].sum(axis=1) if size else 0.0
        return contrib.drop(columns=[*nuisance, *size])

    def reasons(self, frame: pd.DataFrame, *, top: int = 3, direction: str = "raises") -> pd.DataFrame:
        """Each row's ``top`` reasons as sentences in Chinese and English (see :mod:`models.reasons`)."""
        check_is_fitted(self, "classifier_")
        keys = frame.loc[:, [c for c in (self.spec_.entity, self.spec_.time) if c in frame.columns]]
        return top_reasons(
            self.contributions(frame),
            self.feature_values(frame),
            keys=keys,
            catalogue=self.catalogue_,
            typical=self.medians_,
            top=top,
            direction=direction,
        )

    def feature_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature values as the model sees them (for reasons and reports); size controls left out."""
        return self._prepare(frame, neutral=True)[[c for c in self.spec_.features if not is_size_control(c)]]

    # ----------------------------------------------------------------------------------- metrics
    def _slice_metrics(self, rows: pd.DataFrame, X: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
        """Metrics on the calibration slice (not used to fit the trees), overall and by audit group."""
        p = self.calibrator_.transform(self._raw_logit(X))
        base = self.baseline_.predict_proba(X[self.baseline_columns_])
        result: dict[str, Any] = {"overall": _metric_row(y, p, base), "by_group": {}}
        for group in self.spec_.groups:
            if group not in rows.columns:
                continue
            table = {}
            for value, index in rows.groupby(rows[group].astype(str)).indices.items():
                table[value] = _metric_row(y[index], p[index], base[index])
            result["by_group"][group] = table
        return result

    def importance(self, top: int = 30) -> dict[str, float]:
        """The features with the largest share of the classifier's total gain (nuisance excluded)."""
        check_is_fitted(self, "classifier_")
        columns = [*self.spec_.features, *self.spec_.nuisance]
        gain = pd.Series(self.classifier_.booster_.feature_importance("gain"), index=columns)
        share = gain[list(self.spec_.features)] / max(float(gain.sum()), 1e-12)
        share = share[share > 0].sort_values(ascending=False, kind="stable").head(top)
        return {name: round(float(value), 4) for name, value in share.items()}

    @property
    def metadata(self) -> dict[str, Any]:
        """What a bundle records about this model (features, window, metrics, config)."""
        check_is_fitted(self, "calibrator_")
        return {
            "features": [{"name": c, "dtype": self.dtypes_[c]} for c in self.spec_.features],
            "nuisance": list(self.spec_.nuisance),
            "neutral": dict(self.neutral_),
            "groups": list(self.spec_.groups),
            "importance": self.importance(top=30),
            "training_window": [str(self.training_window_[0].date()), str(self.training_window_[1].date())],
            "calibration_start": str(self.calibration_start_.date()),
            "rows": dict(self.n_rows_),
            "metrics": self.metrics_,
            "config": self.config.to_dict(),
        }


def _metric_row(y: np.ndarray, p: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    return {
        "inspections": len(y),
        "violation_rate": float(np.mean(y)) if len(y) else float("nan"),
        "roc_auc": metrics.roc_auc(y, p),
        "pr_auc": metrics.pr_auc(y, p),
        "brier": metrics.brier_score(y, p),
        "calibration_error": metrics.expected_calibration_error(y, p) if len(y) >= 10 else float("nan"),
        "baseline_roc_auc": metrics.roc_auc(y, baseline),
    }
