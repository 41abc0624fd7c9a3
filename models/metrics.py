"""Pure metric functions for risk models and inspection targeting (no I/O, no state).

One definition for the whole service: ``scoring.metrics`` re-exports these so that model evaluation
and inspection planning report the same figures the same way.

Conventions: ``y``/``found`` is a 0/1 (or boolean) outcome, ``score`` any ranking score where higher
means riskier, ``weight`` an optional non-negative sampling weight. Ties in a ranking are resolved
by default by their expectation under random tie-breaking (``ties="expected"``), so that a coarse
score (a credit grade, a risk level) is neither flattered nor penalised by how the rows happen to
be sorted; ``ties="order"`` breaks them by input order instead.

* ``roc_auc``, ``pr_auc``, ``brier_score``, ``expected_calibration_error``, ``calibration_table`` —
  how well a probability ranks and how honest it is.
* ``hit_rate`` — share of inspections that found a violation.
* ``lift`` — hit rate of a selection over the random arm's (optionally design-weighted) hit rate;
  ``capture_lift`` — share of violations found at a budget over the share random choice finds.
* ``prevalence_horvitz_thompson`` / ``prevalence_hajek`` — share of the population in violation,
  estimated from a probability sample by weighting each inspected unit by 1 / inclusion probability.
  Only random draws give unbiased prevalence: targeted inspections find more because they are targeted.
* ``capture_at_budget`` — share of violations (and of amount) found if only the top fraction of a
  ranking were inspected.
* ``days_earlier`` — Chicago's food-inspection metric: how many days sooner violations would have
  been found had the period's inspections been done in score order on the same dates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "BudgetCapture",
    "DaysEarlier",
    "best_share_at_budget",
    "brier_score",
    "calibration_table",
    "capture_at_budget",
    "capture_lift",
    "days_earlier",
    "expected_calibration_error",
    "hit_rate",
    "lift",
    "pr_auc",
    "prevalence_hajek",
    "prevalence_horvitz_thompson",
    "roc_auc",
    "share_at_budget",
]

ArrayLike = Sequence[float] | np.ndarray | pd.Series


def _as_float(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(pd.Series(values).astype("float64"), dtype="float64")
    if np.isnan(array).any():
        raise ValueError(f"{name} must not contain missing values; got {int(np.isnan(array).sum())} missing")
    return array


def _as_outcome(y: ArrayLike) -> np.ndarray:
    array = _as_float("y", y)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"y must be 0/1 or boolean; got values {sorted(set(array.tolist()) - {0.0, 1.0})[:5]}")
    return array


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length; got {lengths}")


def roc_auc(y: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Area under the ROC curve; NaN when only one class is present (AUC is then undefined)."""
    y_, s_ = _as_outcome(y), _as_float("score", score)
    _same_length(y=y_, score=s_)
    if len(np.unique(y_)) < 2:
        return float("nan")
    w_ = None if weight is None else _as_float("weight", weight)
    return float(roc_auc_score(y_, s_, sample_weight=w_))


def pr_auc(y: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Area under the precision-recall curve as average precision; NaN without positives."""
    y_, s_ = _as_outcome(y), _as_float("score", score)
    _same_length(y=y_, score=s_)
    if y_.sum() == 0:
        return float("nan")
    w_ = None if weight is None else _as_float("weight", weight)
    return float(average_precision_score(y_, s_, sample_weight=w_))


def brier_score(y: ArrayLike, probability: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Mean squared difference between the predicted probability and the outcome (lower is better)."""
    y_, p_ = _as_outcome(y), _as_float("probability", probability)
    _same_length(y=y_, probability=p_)
    if len(y_) == 0:
        return float("nan")
    w_ = np.ones_like(y_) if weight is None else _as_float("weight", weight)
    return float(np.sum(w_ * (p_ - y_) ** 2) / np.sum(w_))


def calibration_table(y: ArrayLike, probability: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Predicted against observed rate in equal-count bins of the probability.

    Columns: ``bin`` (0-based), ``count``, ``mean_predicted``, ``observed_rate``.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}")
    y_, p_ = _as_outcome(y), _as_float("probability", probability)
    _same_length(y=y_, probability=p_)
    if len(y_) == 0:
        return pd.DataFrame(columns=["bin", "count", "mean_predicted", "observed_rate"])
    order = np.argsort(p_, kind="stable")
    labels = np.empty(len(p_), dtype=np.int64)
    labels[order] = np.minimum(np.arange(len(p_)) * bins // len(p_), bins - 1)
    frame = pd.DataFrame({"bin": labels, "y": y_, "p": p_})
    table = frame.groupby("bin").agg(count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return table.reset_index()


def expected_calibration_error(y: ArrayLike, probability: ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean absolute gap between predicted and observed rates over equal-count bins."""
    table = calibration_table(y, probability, bins)
    if table.empty:
        return float("nan")
    gaps = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float(np.sum(gaps * table["count"]) / table["count"].sum())


_TIES = ("expected", "order")


def _check_ties(ties: str) -> None:
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {list(_TIES)}; got {ties!r}")


def hit_rate(found: Any) -> float:
    """Share of inspections with a violation found (missing outcomes are ignored); NaN when none."""
    values = pd.Series(found, dtype="object")
    values = _as_outcome(values[values.notna()])
    return float(values.mean()) if len(values) else math.nan


def _weights(found: Any, inclusion_probability: Any) -> tuple[np.ndarray, np.ndarray]:
    values = _as_outcome(found)
    pi = _as_float("inclusion_probability", inclusion_probability)
    _same_length(found=values, inclusion_probability=pi)
    if ((pi <= 0) | (pi > 1)).any():
        bad = pi[(pi <= 0) | (pi > 1)][:5].tolist()
        raise ValueError(f"inclusion_probability must be in (0, 1] for every inspected unit; got {bad}")
    return values, 1.0 / pi


def prevalence_hajek(found: Any, inclusion_probability: Any) -> float:
    """Hájek (ratio) estimate of prevalence: ``Σ(y/π) / Σ(1/π)`` over the inspected sample; NaN when empty.

    Consistent whatever the draw's strata or risk weights, as long as every π is the true
    probability that the unit was drawn.
    """
    values, weights = _weights(found, inclusion_probability)
    total = np.sum(weights)
    return float(np.sum(values * weights) / total) if total > 0 else math.nan


def prevalence_horvitz_thompson(found: Any, inclusion_probability: Any, population_size: int) -> float:
    """Horvitz–Thompson estimate of prevalence: ``Σ(y/π) / N`` over the inspected sample."""
    if isinstance(population_size, bool) or not isinstance(population_size, int | np.integer) or population_size < 1:
        raise ValueError(f"population_size must be an integer >= 1; got {population_size!r}")
    values, weights = _weights(found, inclusion_probability)
    return float(np.sum(values * weights) / population_size)


def lift(selected_found: Any, random_found: Any, random_inclusion_probability: Any = None) -> float:
    """Hit rate of a selection divided by the random arm's hit rate.

    With ``random_inclusion_probability`` the random arm's rate is the Hájek prevalence estimate
    (right when the random draw was stratified or risk-weighted). NaN when the random rate is 0 or
    either arm is empty.
    """
    selected = hit_rate(selected_found)
    if random_inclusion_probability is None:
        baseline = hit_rate(random_found)
    else:
        baseline = prevalence_hajek(random_found, random_inclusion_probability)
    if math.isnan(selected) or math.isnan(baseline) or baseline == 0:
        return math.nan
    return selected / baseline


def capture_lift(share_found: float, budget_fraction: float) -> float:
    """Share of violations a strategy finds at a budget over the share random choice finds (= the budget)."""
    if not 0 < budget_fraction <= 1:
        raise ValueError(f"budget_fraction must be in (0, 1]; got {budget_fraction!r}")
    return float(share_found / budget_fraction)


@dataclass(frozen=True)
class BudgetCapture:
    """What a budget of the top ``inspected`` units would find, as shares of the total."""

    inspected: int
    violations_share: float
    amount_share: float | None


def _selection_weights(score: np.ndarray, k: int, ties: str) -> np.ndarray:
    """Probability that each unit is among the top ``k``."""
    selected = np.zeros(len(score))
    if k <= 0:
        return selected
    if k >= len(score):
        return np.ones(len(score))
    if ties == "order":
        selected[np.argsort(-score, kind="stable")[:k]] = 1.0
        return selected
    threshold = np.sort(score)[::-1][k - 1]
    above = score > threshold
    tied = score == threshold
    selected[above] = 1.0
    selected[tied] = (k - above.sum()) / tied.sum()
    return selected


def capture_at_budget(
    score: Any, found: Any, *, budget_fraction: float, amount: Any = None, ties: str = "expected"
) -> BudgetCapture:
    """Share of all violations (and of their amount) found in the top ``budget_fraction`` by score.

    The budget is ``floor(budget_fraction × n)`` units (the product is rounded to 9 decimals first,
    so 0.1 × 30 is 3). With ``ties="expected"`` units tied at the cut count by their chance of being
    picked, so a constant score finds exactly what random choice finds on average. Amounts count
    only where ``found``. Shares are NaN when there is nothing to find.
    """
    if (
        isinstance(budget_fraction, bool)
        or not isinstance(budget_fraction, int | float)
        or not 0 <= budget_fraction <= 1
    ):
        raise ValueError(f"budget_fraction must be a number in [0, 1]; got {budget_fraction!r}")
    _check_ties(ties)
    scores, outcomes = _as_float("score", score), _as_outcome(found)
    _same_length(score=scores, found=outcomes)
    budget = math.floor(round(budget_fraction * len(scores), 9))
    chosen = _selection_weights(scores, budget, ties)
    total = outcomes.sum()
    violations_share = float(chosen @ outcomes / total) if total > 0 else math.nan
    amount_share = None
    if amount is not None:
        amounts = _as_float("amount", amount)
        _same_length(score=scores, amount=amounts)
        amounts = np.where(outcomes > 0, amounts, 0.0)
        amount_total = amounts.sum()
        amount_share = float(chosen @ amounts / amount_total) if amount_total > 0 else math.nan
    return BudgetCapture(inspected=budget, violations_share=violations_share, amount_share=amount_share)


def share_at_budget(score: Any, weight: Any, *, budget_fraction: float, ties: str = "expected") -> float:
    """Share of the total ``weight`` (violation records, yuan, ...) in the top ``budget_fraction`` by score.

    The same budget and tie rule as :func:`capture_at_budget`: ``floor(budget_fraction × n)`` units,
    ties at the cut counted by their chance of being picked, so a constant score finds, on average,
    ``budget / n`` of the total — what random choice finds. NaN when the total weight is 0.
    """
    if (
        isinstance(budget_fraction, bool)
        or not isinstance(budget_fraction, int | float)
        or not 0 <= budget_fraction <= 1
    ):
        raise ValueError(f"budget_fraction must be a number in [0, 1]; got {budget_fraction!r}")
    _check_ties(ties)
    scores, weights = _as_float("score", score), _as_float("weight", weight)
    _same_length(score=scores, weight=weights)
    if np.any(weights < 0):
        raise ValueError(f"weight must be non-negative; got {int((weights < 0).sum())} negative values")
    total = weights.sum()
    if total <= 0:
        return math.nan
    budget = math.floor(round(budget_fraction * len(scores), 9))
    return float(_selection_weights(scores, budget, ties) @ weights / total)


def best_share_at_budget(weight: Any, *, budget_fraction: float) -> float:
    """The largest share of the total ``weight`` any ranking can find in ``floor(budget_fraction × n)`` units.

    For a 0/1 weight (violating or not) this is ``min(1, budget / violating)``: with half the units
    violating, a 10 % budget finds at most 20 % of them, a lift of 2.0 whatever the model.
    """
    weights = _as_float("weight", weight)
    total = weights.sum()
    if total <= 0:
        return math.nan
    budget = math.floor(round(budget_fraction * len(weights), 9))
    return float(np.sort(weights)[::-1][:budget].sum() / total)


@dataclass(frozen=True)
class DaysEarlier:
    """How much sooner violations would be found.

    ``violations``: inspections with a violation; ``mean_days`` / ``total_days``: days gained by them.
    """

    violations: int
    mean_days: float
    total_days: float


def days_earlier(inspection_dates: Any, found: Any, score: Any, *, ties: str = "order") -> DaysEarlier:
    """How many days sooner violations would be found if the period's inspections were reordered by score.

    The period keeps its inspection dates (the same slots, sorted); the inspections are given the
    slots in descending score order. Each violation's gain is its original date minus its new date in
    days; a negative total means the score is worse than the actual order. Ties: ``"order"`` keeps
    the earlier original date first (Chicago's evaluation); ``"expected"`` gives tied inspections the
    mean of the slots they share.
    """
    _check_ties(ties)
    dates = pd.to_datetime(pd.Series(inspection_dates)).to_numpy().astype("datetime64[D]")
    outcomes, scores = _as_outcome(found), _as_float("score", score)
    _same_length(inspection_dates=dates, found=outcomes, score=scores)
    if np.isnat(dates).any():
        raise ValueError("inspection_dates has missing dates")
    day = (dates - dates.min()).astype("int64").astype("float64") if len(dates) else dates.astype("float64")
    by_date = np.argsort(day, kind="stable")
    slots = day[by_date]
    order = np.lexsort((np.argsort(by_date, kind="stable"), -scores))  # score desc, then original date order
    new_day = np.empty_like(day)
    new_day[order] = slots
    if ties == "expected":
        new_day = pd.Series(new_day).groupby(scores).transform("mean").to_numpy()
    gains = (day - new_day)[outcomes > 0]
    total = float(gains.sum())
    return DaysEarlier(
        violations=len(gains), mean_days=total / len(gains) if len(gains) else math.nan, total_days=total
    )
