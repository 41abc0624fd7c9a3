"""Inspection metrics for selection reports (pure functions, no I/O).

The metrics that model evaluation uses too are defined once, in ``models.metrics``, and
re-exported here so that selection reports and model reports give the same figures the same way:

* ``hit_rate`` — share of inspections that found a violation.
* ``lift`` — hit rate of a selection over the random arm's (optionally design-weighted) hit rate.
* ``prevalence_horvitz_thompson`` / ``prevalence_hajek`` — share of the population in violation,
  estimated from a probability sample by weighting each inspected unit by 1 / inclusion probability.
  Only random draws give unbiased prevalence: targeted inspections find more because they are targeted.
* ``capture_at_budget`` — share of violations (and of amount) found if only the top fraction of a
  ranking were inspected (``ties="order"`` breaks ties by input order, the default counts tied
  units by their chance of being picked).
* ``days_earlier`` — Chicago's food-inspection metric: how many days sooner violations would have
  been found had the period's inspections been done in score order on the same dates.

Defined here because they read a draw document (``medcredit.draw/1``), which only scoring knows:

* ``draw_prevalence`` — both prevalence estimates for one random draw, from its published
  inclusion probabilities and the results recorded for the drawn institutions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.metrics import (
    BudgetCapture,
    DaysEarlier,
    capture_at_budget,
    days_earlier,
    hit_rate,
    lift,
    prevalence_hajek,
    prevalence_horvitz_thompson,
)

__all__ = [
    "BudgetCapture",
    "DaysEarlier",
    "DrawPrevalence",
    "capture_at_budget",
    "days_earlier",
    "draw_prevalence",
    "hit_rate",
    "lift",
    "prevalence_hajek",
    "prevalence_horvitz_thompson",
]


@dataclass(frozen=True)
class DrawPrevalence:
    """Prevalence of violations in a draw's pool, estimated from its inspected institutions.

    population: institutions in the pool; selected: drawn; inspected: drawn with a recorded result;
    found: of those, with a violation; pending: drawn without a result yet (left out of both
    estimates, which are then exact only if results do not depend on being pending).
    hajek / horvitz_thompson: NaN while nothing has been inspected.
    """

    population: int
    selected: int
    inspected: int
    found: int
    pending: int
    hajek: float
    horvitz_thompson: float


def draw_prevalence(document: Mapping[str, Any], found: Mapping[str, Any] | pd.Series) -> DrawPrevalence:
    """Estimate the pool's violation rate from a random draw document and its results.

    ``found`` maps institution_code → whether the inspection found a violation (missing = no
    result yet). Codes that were not drawn are refused: only the drawn institutions have the
    published inclusion probabilities that make the estimate unbiased.
    """
    probabilities = document.get("inclusion_probabilities")
    selected = [row["institution_code"] for row in document.get("selected") or []]
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise ValueError("document must be a draw document with inclusion_probabilities (medcredit.draw/1)")
    results = pd.Series(found, dtype="object") if not isinstance(found, pd.Series) else found.astype("object")
    not_drawn = sorted(set(results.index) - set(selected))
    if not_drawn:
        raise ValueError(
            f"found has results for {len(not_drawn)} institution(s) not drawn in {document.get('draw_id')!r} "
            f"(e.g. {not_drawn[:5]}); only drawn institutions estimate prevalence"
        )
    results = results.reindex(selected)
    known = results[results.notna()]
    pi = [probabilities[code] for code in known.index]
    outcome = known.astype(bool).astype("float64")
    nan = math.nan
    return DrawPrevalence(
        population=len(probabilities),
        selected=len(selected),
        inspected=len(known),
        found=int(outcome.sum()),
        pending=len(selected) - len(known),
        hajek=prevalence_hajek(outcome, pi) if len(known) else nan,
        horvitz_thompson=prevalence_horvitz_thompson(outcome, pi, len(probabilities)) if len(known) else nan,
    )
