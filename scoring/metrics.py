"""Inspection metrics shared by selection reports and model evaluation (pure functions).

* ``hit_rate`` — share of inspections that found a violation.
* ``lift`` — hit rate of a selection over the random arm's (optionally design-weighted) hit rate.
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BudgetCapture",
    "DaysEarlier",
    "capture_at_budget",
    "days_earlier",
    "hit_rate",
    "lift",
    "prevalence_hajek",
    "prevalence_horvitz_thompson",
]


def hit_rate(found: Any) -> float:
    """Share of inspections with a violation found (missing outcomes are ignored); NaN when none."""
    values = _outcomes(found, "found")
    return float(values.mean()) if len(values) else math.nan


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


def prevalence_horvitz_thompson(found: Any, inclusion_probability: Any, population_size: int) -> float:
    """Horvitz–Thompson estimate of prevalence: sum(y_i / pi_i) / N over the inspected sample."""
    if not isinstance(population_size, int | np.integer) or population_size < 1:
        raise ValueError(f"population_size must be an integer >= 1; got {population_size!r}")
    values, weights = _weighted(found, inclusion_probability)
    return float(np.sum(values * weights) / population_size)


def prevalence_hajek(found: Any, inclusion_probability: Any) -> float:
    """Hájek (ratio) estimate of prevalence: sum(y_i / pi_i) / sum(1 / pi_i); NaN for an empty sample."""
    values, weights = _weighted(found, inclusion_probability)
    total = np.sum(weights)
    return float(np.sum(values * weights) / total) if total > 0 else math.nan


@dataclass(frozen=True)
class BudgetCapture:
    """What a budget of the top ``inspected`` institutions would find, as shares of the total."""

    inspected: int
    violations_share: float
    amount_share: float | None


def capture_at_budget(score: Any, found: Any, *, budget_fraction: float, amount: Any = None) -> BudgetCapture:
    """Share of all violations (and of their amount) found in the top ``budget_fraction`` by score.

    The budget is floor(budget_fraction x n) institutions (the product is rounded to 9 decimals first,
    so 0.1 x 30 is 3). Ties in score are broken by input order, so pass the rows in a fixed order.
    Shares are NaN when there is nothing to find.
    """
    if (
        isinstance(budget_fraction, bool)
        or not isinstance(budget_fraction, int | float)
        or not 0 <= budget_fraction <= 1
    ):
        raise ValueError(f"budget_fraction must be a number in [0, 1]; got {budget_fraction!r}")
    scores = _numbers(score, "score")
    outcomes = _numbers(found, "found")
    if len(outcomes) != len(scores):
        raise ValueError(f"found has {len(outcomes)} values, score has {len(scores)}")
    budget = math.floor(round(budget_fraction * len(scores), 9))
    top = np.argsort(-scores, kind="stable")[:budget]
    total = outcomes.sum()
    violations_share = float(outcomes[top].sum() / total) if total > 0 else math.nan
    amount_share = None
    if amount is not None:
        amounts = _numbers(amount, "amount")
        if len(amounts) != len(scores):
            raise ValueError(f"amount has {len(amounts)} values, score has {len(scores)}")
        amounts = np.where(outcomes > 0, amounts, 0.0)
        amount_total = amounts.sum()
        amount_share = float(amounts[top].sum() / amount_total) if amount_total > 0 else math.nan
    return BudgetCapture(inspected=budget, violations_share=violations_share, amount_share=amount_share)


@dataclass(frozen=True)
class DaysEarlier:
    """violations: inspections with a violation; mean_days / total_days: how much sooner they would be found."""

    violations: int
    mean_days: float
    total_days: int


def days_earlier(inspection_dates: Any, found: Any, score: Any) -> DaysEarlier:
    """How many days sooner violations would be found if the period's inspections were reordered by score.

    The period keeps its inspection dates (the same slots, sorted); the institutions are given the
    slots in descending score order (ties keep the earlier original date). Each violation's gain is
    its original date minus its new date in days; a negative total means the score is worse than
    the actual order.
    """
    dates = pd.to_datetime(pd.Series(inspection_dates)).to_numpy().astype("datetime64[D]")
    outcomes = _numbers(found, "found")
    scores = _numbers(score, "score")
    if not len(dates) == len(outcomes) == len(scores):
        raise ValueError(
            f"inspection_dates, found and score differ in length: {len(dates)}, {len(outcomes)}, {len(scores)}"
        )
    if np.isnat(dates).any():
        raise ValueError("inspection_dates has missing dates")
    by_date = np.argsort(dates, kind="stable")
    slots = dates[by_date]
    order = np.lexsort((np.argsort(by_date, kind="stable"), -scores))  # score desc, then original date order
    new_dates = np.empty_like(dates)
    new_dates[order] = slots
    gains = (dates - new_dates).astype("int64")[outcomes > 0]
    total = int(gains.sum())
    return DaysEarlier(
        violations=len(gains), mean_days=total / len(gains) if len(gains) else math.nan, total_days=total
    )


# --------------------------------------------------------------------------- helpers


def _outcomes(found: Any, name: str) -> np.ndarray:
    values = pd.Series(found, dtype="object")
    values = values[values.notna()]
    return _numbers(values, name)


def _numbers(values: Any, name: str) -> np.ndarray:
    series = pd.Series(values)
    if series.isna().any():
        raise ValueError(f"{name} has missing values")
    try:
        return series.astype("float64").to_numpy()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers or booleans; got dtype {series.dtype}") from None


def _weighted(found: Any, inclusion_probability: Any) -> tuple[np.ndarray, np.ndarray]:
    values = _numbers(found, "found")
    probabilities = _numbers(inclusion_probability, "inclusion_probability")
    if len(values) != len(probabilities):
        raise ValueError(f"found has {len(values)} values, inclusion_probability has {len(probabilities)}")
    if ((probabilities <= 0) | (probabilities > 1)).any():
        raise ValueError("inclusion_probability must be in (0, 1] for every inspected unit")
    return values, 1.0 / probabilities
