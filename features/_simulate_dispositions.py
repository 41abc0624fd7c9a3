"""How a found problem becomes a violation record: category, fraud, disposition, penalty, status.

Follows the ladder of shared/domain.md §6: severity grows with the amount, fraud and repetition;
a first minor violation promptly corrected is often handled leniently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import _simulate_config as cfg

RANK = {name: rank for rank, name in enumerate(cfg.DISPOSITIONS)}


@dataclass(frozen=True)
class Decision:
    category: str
    fraud: bool
    lenient: bool
    disposition: str
    penalty_cents: int | None
    status: str
    decision_day: int | None  # None while the case is still open at the end of the data


def category_for(rng: np.random.Generator, pattern: int, kind: int) -> str:
    choices = cfg.CATEGORIES_BY_PATTERN[pattern]
    if pattern == cfg.RESALE:
        return "resale" if kind == cfg.PHARMACY else "item_substitution"
    if pattern == cfg.FAKE_VISIT and kind == cfg.PHARMACY:
        return "fake_visit"
    return str(rng.choice(choices))


def decide(
    rng: np.random.Generator,
    *,
    pattern: int,
    kind: int,
    essential: bool,
    amount_cents: int,
    billing_share: float,
    propensity: float,
    prior_violations: int,
    found_day: int,
    end_day: int,
) -> Decision:
    """The bureau's handling of one violation.

    An essential institution (a public or level-2+ hospital or health centre) is not cut off from the
    insurance: the departments or doctors involved are suspended instead of the whole agreement.
    """
    category = category_for(rng, pattern, kind)
    yuan = amount_cents / 100
    fraud = pattern in cfg.FRAUD_PATTERNS and rng.random() < _fraud_chance(yuan, billing_share) * (0.4 + propensity)
    lenient = not fraud and prior_violations == 0 and yuan < 5_000 and rng.random() < cfg.LENIENT_SHARE_FIRST_MINOR
    if fraud:
        disposition = _fraud_disposition(rng, yuan)
    elif lenient:
        disposition = str(rng.choice(("interview", "rectification"), p=(0.85, 0.15)))
    elif category in ("management", "other"):
        names, weights = cfg.MANAGEMENT_DISPOSITIONS
        disposition = str(rng.choice(names, p=weights))
    else:
        disposition = _band_disposition(rng, yuan, prior_violations)
    if essential and disposition in ("agreement_suspension", "agreement_termination"):
        names, weights = cfg.ESSENTIAL_INSTEAD
        disposition = str(rng.choice(names, p=weights))
    heavy = disposition in cfg.HEAVY_DISPOSITIONS
    delay = int(rng.integers(7, 60)) + (int(rng.integers(20, 90)) if heavy else 0)
    decision_day = found_day + delay
    status = _status(rng, heavy, decision_day, end_day)
    return Decision(
        category,
        bool(fraud),
        bool(lenient),
        disposition,
        _penalty(rng, disposition, amount_cents),
        status,
        decision_day if decision_day <= end_day else None,
    )


def _band(bands: tuple[tuple[float, float], ...], value: float) -> float:
    return next(share for upper, share in bands if value < upper)


def _fraud_chance(yuan: float, billing_share: float) -> float:
    """Chance (before intent) that a fraud-type finding is ruled fraud: by its share of the
    institution's fund income, or by its absolute size for large sums (config)."""
    if yuan < cfg.FRAUD_MINIMUM_YUAN:
        return 0.0
    return max(_band(cfg.FRAUD_SHARE_BY_BILLING_SHARE, billing_share), _band(cfg.FRAUD_SHARE_BY_AMOUNT, yuan))


def _fraud_disposition(rng, yuan: float) -> str:
    if yuan >= 300_000:
        return str(rng.choice(("police_referral", "agreement_termination", "penalty_art40"), p=(0.5, 0.3, 0.2)))
    if yuan >= 100_000:
        return str(rng.choice(("agreement_termination", "penalty_art40", "police_referral"), p=(0.25, 0.5, 0.25)))
    return str(
        rng.choice(
            ("penalty_art40", "agreement_suspension", "agreement_termination", "police_referral"),
            p=(0.55, 0.2, 0.15, 0.1),
        )
    )


def _band_disposition(rng, yuan: float, prior_violations: int) -> str:
    for upper, names, weights in cfg.DISPOSITION_BANDS:
        if yuan < upper:
            disposition = str(rng.choice(names, p=weights))
            break
    if prior_violations >= 2 and rng.random() < 0.5:  # repeat offenders move one step up the ladder
        disposition = cfg.ESCALATION.get(disposition, disposition)
    return disposition


def _penalty(rng, disposition: str, amount_cents: int) -> int | None:
    if disposition == "liquidated_damages":
        return max(100_000, int(amount_cents * rng.uniform(0.1, 0.3)))
    if disposition == "penalty_art39":
        return int(rng.integers(10_000, 50_001)) * 100
    if disposition == "penalty_art38":
        return int(amount_cents * rng.uniform(1.0, 2.0))
    if disposition in ("penalty_art40", "agreement_termination", "police_referral"):
        return int(amount_cents * rng.uniform(2.0, 5.0))
    return None


def _status(rng, heavy: bool, decision_day: int, end_day: int) -> str:
    if heavy and end_day - 180 < decision_day and rng.random() < cfg.APPEAL_SHARE_HEAVY:
        return "under_appeal"
    overturn = cfg.OVERTURNED_SHARE * (2.0 if heavy else 1.0)
    if decision_day <= end_day - 90 and rng.random() < overturn:
        return "overturned"
    return "confirmed"
