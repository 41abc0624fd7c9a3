"""Conduct, not size: raw volumes become rates, the size control is never a reason, violations are counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import metrics
from models.conduct import SIZE_PREFIX, conduct_catalogue, conduct_features, conduct_monotone, is_size_control
from models.dataset import attach_violation_records, infer_spec, inspection_outcomes, institution_outcomes
from models.synthetic import synthetic_panel
from models.training import RiskModel, RiskModelConfig

SMALL = RiskModelConfig(n_estimators=60, amount_estimators=40, num_leaves=7, min_child_samples=20)


def _raw(n: int = 4) -> pd.DataFrame:
    """Catalogue-style raw rows: a small clinic and a large hospital with the same conduct rates, and two more."""
    return pd.DataFrame(
        {
            "institution_code": [f"I{i}" for i in range(n)],
            "as_of": pd.Timestamp("2025-01-01"),
            "kind": ["clinic", "hospital", "clinic", "pharmacy"][:n],
            "level": [0, 3, 0, 0][:n],
            "beds": [0.0, 800.0, 0.0, 0.0][:n],
            "staff_count": [10.0, 1000.0, 5.0, 4.0][:n],
            "years_designated": [10.0, 10.0, 0.2, 2.0][:n],
            "clm_claims_12m": [1000.0, 100000.0, 0.0, 500.0][:n],
            "clm_fund_12m": [1e5, 1e7, 0.0, 5e4][:n],
            "clm_claims_n_dummy": [1.0, 2.0, 3.0, 4.0][:n],
            "clm_split_admission_n_12m": [10.0, 1000.0, 0.0, 0.0][:n],
            "clm_split_admission_rate_12m": [0.01, 0.01, np.nan, 0.0][:n],
            "viol_n_12m": [1.0, 100.0, 1.0, 0.0][:n],
            "viol_n_36m": [3.0, 300.0, 1.0, 0.0][:n],
            "viol_n_ever": [10.0, 1000.0, 1.0, 0.0][:n],
            "viol_amount_36m": [3e4, 3e6, 5e3, 0.0][:n],
            "viol_amount_to_fund_12m": [0.1, 0.1, np.nan, 0.0][:n],
            "viol_penalty_36m": [3e3, 3e5, 0.0, 0.0][:n],
            "viol_fraud_n_36m": [0.0, 2.0, 0.0, 0.0][:n],
            "viol_days_since_last": [30.0, 30.0, 10.0, np.nan][:n],
            "stf_points_12m": [5.0, 500.0, 0.0, 0.0][:n],
            "cmp_substantiated_36m": [3.0, 300.0, 0.0, 0.0][:n],
        }
    )


def test_volumes_and_identity_are_replaced_by_rates():
    frame = conduct_features(_raw())
    for gone in ("beds", "staff_count", "level", "kind", "clm_claims_12m", "clm_fund_12m", "viol_n_12m"):
        assert gone not in frame.columns
    assert "clm_split_admission_n_12m" not in frame.columns
    assert "clm_split_admission_rate_12m" in frame.columns  # already a rate: passes through
    assert "viol_days_since_last" in frame.columns
    assert "viol_amount_to_fund_12m" in frame.columns  # already per fund yuan: passes through
    assert {"viol_penalty_36m", "viol_fraud_n_36m"} & set(frame.columns) == set()
    assert frame["viol_fraud_36m"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert SIZE_PREFIX + "log_claims_12m" in frame.columns


def test_same_conduct_gives_the_same_rates_whatever_the_size():
    frame = conduct_features(_raw()).set_index("institution_code")
    rates = [
        "viol_per_10k_claims_36m",
        "viol_amount_to_fund_36m",
        "viol_penalty_to_fund_36m",
        "stf_points_per_staff_12m",
        "cmp_substantiated_per_10k_claims_36m",
    ]
    small, large = frame.loc["I0", rates], frame.loc["I1", rates]
    assert np.allclose(small.to_numpy(dtype=float), large.to_numpy(dtype=float))
    assert frame.loc["I0", "viol_per_10k_claims_36m"] == pytest.approx(3 / 3000 * 1e4)
    # Violations per year are the record of being caught (what credit deducts for), kept as a rate in time.
    assert frame.loc["I0", "viol_per_year_ever"] == pytest.approx(1.0)
    assert frame.loc["I1", SIZE_PREFIX + "log_claims_12m"] > frame.loc["I0", SIZE_PREFIX + "log_claims_12m"]


def test_short_exposure_and_zero_denominators():
    frame = conduct_features(_raw()).set_index("institution_code")
    # Designated 0.2 years: one violation is read over the minimum exposure of half a year, not 0.2.
    assert frame.loc["I2", "viol_per_year_ever"] == pytest.approx(2.0)
    # No claims: per-claim rates are unknown, not infinite.
    assert np.isnan(frame.loc["I2", "viol_per_10k_claims_36m"])


def test_keep_retains_audit_columns_and_missing_inputs_add_no_empty_columns():
    frame = conduct_features(_raw(), keep=["kind"])
    assert "kind" in frame.columns
    assert "si_no_problem_share_36m" not in frame.columns  # no self-inspection inputs at all
    catalogue = conduct_catalogue(pd.DataFrame({"name": ["viol_n_12m"], "zh": ["近12个月违规次数"]}))
    assert {"viol_n_12m", "viol_per_year_12m", SIZE_PREFIX + "log_claims_12m"} <= set(catalogue["name"])


def test_monotone_directions_follow_the_domain():
    directions = conduct_monotone(
        [
            "clm_split_admission_rate_12m",
            "clm_split_admission_rate_12m_pz",
            "viol_days_since_last",
            "clm_drug_share_12m",
        ]
    )
    assert directions == {
        "clm_split_admission_rate_12m": 1,
        "clm_split_admission_rate_12m_pz": 1,
        "viol_days_since_last": -1,
    }


def test_size_control_is_fitted_but_never_a_reason():
    panel = synthetic_panel(2000, seed=5)
    # A size control that carries signal, so the trees use it.
    panel[SIZE_PREFIX + "log_claims_12m"] = panel["conduct"] * 2.0 + 5.0
    spec = infer_spec(panel, exclude=["conduct"])
    model = RiskModel(SMALL).fit(panel, spec)
    assert model.importance(50).get(SIZE_PREFIX + "log_claims_12m", 0.0) > 0
    contributions = model.contributions(panel.head(100))
    assert not any(is_size_control(c) for c in contributions.columns)
    assert "_size_control" in contributions.columns
    # The parts still add up to the raw score.
    raw = model.classifier_.predict(model._prepare(panel.head(100), neutral=True), raw_score=True)
    assert np.allclose(contributions.sum(axis=1), raw)
    reasons = model.reasons(panel.head(100), top=5)
    assert not reasons["feature"].map(is_size_control).any()


def test_monotone_constraint_is_enforced():
    panel = synthetic_panel(2000, seed=6)
    panel["viol_per_year_36m"] = np.where(panel["conduct"] > 0, 0.0, 2.0)  # a perverse signal in this draw
    spec = infer_spec(panel, exclude=["conduct"])
    model = RiskModel(SMALL).fit(panel, spec)
    assert model.monotone_directions(["viol_per_year_36m"]) == {"viol_per_year_36m": 1}
    low, high = panel.head(200).copy(), panel.head(200).copy()
    low["viol_per_year_36m"], high["viol_per_year_36m"] = 0.0, 2.0
    assert np.all(model.predict_proba(high) >= model.predict_proba(low) - 1e-12)
    free = RiskModel(RiskModelConfig(**{**SMALL.to_dict(), "conduct_monotone": False}))
    assert free.monotone_directions(["viol_per_year_36m"]) == {"viol_per_year_36m": 0}


def test_violation_records_count_per_inspection_and_institution():
    inspections = pd.DataFrame(
        {
            "inspection_id": ["J1", "J2", "J3", "J4"],
            "institution_code": ["A", "A", "B", "C"],
            "start_date": pd.to_datetime(["2025-02-01", "2025-06-01", "2025-03-01", "2025-04-01"]),
            "kind": ["routine"] * 4,
            "inspector_codes": ["X"] * 4,
            "found_violation": [True, True, True, False],
            "amount_found": [100.0, 50.0, 10.0, 0.0],
        }
    )
    violations = pd.DataFrame(
        {
            "inspection_id": ["J1", "J1", "J1", "J2", "J2", None],
            "status": ["confirmed", "confirmed", "overturned", "confirmed", "under_appeal", "confirmed"],
        }
    )
    outcomes = attach_violation_records(inspection_outcomes(inspections), violations)
    assert outcomes.set_index("inspection_id")["violation_records"].to_dict() == {
        "J1": 2.0,
        "J2": 2.0,
        "J3": 1.0,  # found, no linked record: the finding counts once
        "J4": 0.0,
    }
    per_institution = institution_outcomes(outcomes, pd.Timestamp("2025-01-01"), pd.Timestamp("2026-01-01"))
    assert per_institution["violation_records"].to_dict() == {"A": 4.0, "B": 1.0, "C": 0.0}


def test_share_at_budget_counts_weight_and_random_finds_the_budget():
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    records = np.array([6.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    assert metrics.share_at_budget(score, records, budget_fraction=0.1) == pytest.approx(0.6)
    assert metrics.share_at_budget(score, records, budget_fraction=0.3) == pytest.approx(0.8)
    # A constant score finds, on average, the budget share of the total (ties by expectation).
    assert metrics.share_at_budget(np.zeros(10), records, budget_fraction=0.2) == pytest.approx(0.2)
    assert np.isnan(metrics.share_at_budget(score, np.zeros(10), budget_fraction=0.1))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.share_at_budget(score, -records, budget_fraction=0.1)
    with pytest.raises(ValueError, match="budget_fraction"):
        metrics.share_at_budget(score, records, budget_fraction=1.5)


def test_best_share_bounds_the_institution_share():
    violating = np.array([1.0] * 5 + [0.0] * 5)
    # Half violating: a 10 % budget (one institution) finds at most 1 / 5 of them, a lift of 2.
    best = metrics.best_share_at_budget(violating, budget_fraction=0.1)
    assert best == pytest.approx(0.2)
    assert metrics.capture_lift(best, 0.1) == pytest.approx(2.0)
    assert metrics.best_share_at_budget(np.array([10.0, 1.0, 1.0, 0.0]), budget_fraction=0.25) == pytest.approx(10 / 12)
