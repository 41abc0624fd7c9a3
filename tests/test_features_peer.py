"""Robust peer z-scores within kind × level among the institutions active at the date; claim trends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features._features_catalogue import PeerScale
from features._features_peer import robust_z
from features.build import build_features


def test_robust_z_against_the_peer_median_and_mad():
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0, 10.0, 10.0]})
    kind = pd.Series(["hospital"] * 5 + ["pharmacy"] * 2)
    level = pd.Series([3, 3, 3, 3, 3, 0, 0])
    z = robust_z(values, kind, level, np.ones(7, dtype=bool), {"x": PeerScale(absolute=0.1)}, min_peers=5)
    # hospitals: median 3, MAD 1 -> scale 1.4826; pharmacies: only 2 peers, no score
    expected = (np.array([1.0, 2.0, 3.0, 4.0, 100.0]) - 3) / 1.4826
    np.testing.assert_allclose(z["x_pz"].to_numpy()[:5], expected)
    assert z["x_pz"].iloc[5:].isna().all()


def test_mad_floor_keeps_scores_finite_when_peers_agree():
    values = pd.DataFrame({"rate": [0.0, 0.0, 0.0, 0.0, 0.0, 0.05]})
    kind, level = pd.Series(["clinic"] * 6), pd.Series([0] * 6)
    z = robust_z(values, kind, level, np.ones(6, dtype=bool), {"rate": PeerScale(absolute=0.01)})
    np.testing.assert_allclose(z["rate_pz"], [0, 0, 0, 0, 0, 5.0])


def test_relative_floor_scales_with_the_median():
    values = pd.DataFrame({"cost": [100.0] * 5 + [150.0]})
    kind, level = pd.Series(["clinic"] * 6), pd.Series([0] * 6)
    z = robust_z(values, kind, level, np.ones(6, dtype=bool), {"cost": PeerScale(absolute=1.0, relative=0.05)})
    assert z["cost_pz"].iloc[-1] == pytest.approx(50 / 5.0)


def test_small_kind_level_group_falls_back_to_the_kind():
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 30.0]})
    kind = pd.Series(["hospital"] * 6)
    level = pd.Series([2, 2, 2, 2, 2, 3])  # one level-3 hospital: compared with all hospitals
    z = robust_z(values, kind, level, np.ones(6, dtype=bool), {"x": PeerScale(absolute=0.1)})
    assert z["x_pz"].iloc[-1] == pytest.approx((30 - 3.5) / (1.4826 * 1.5))
    assert z["x_pz"].iloc[0] == pytest.approx((1 - 3) / 1.4826)


def test_inactive_institutions_are_not_peers_but_missing_values_are_skipped():
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 1000.0]})
    kind, level = pd.Series(["clinic"] * 7), pd.Series([0] * 7)
    active = np.array([True] * 6 + [False])
    z = robust_z(values, kind, level, active, {"x": PeerScale(absolute=0.1)})
    assert z["x_pz"].iloc[0] == pytest.approx(-2 / 1.4826)
    assert np.isnan(z["x_pz"].iloc[5])
    assert z["x_pz"].iloc[6] == pytest.approx(997 / 1.4826)  # scored against the active peers


def _clinics(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "institution_code": [f"H4415020{i:04d}" for i in range(n)],
            "name": [f"诊所{i}" for i in range(n)],
            "kind": ["clinic"] * n,
            "level": pd.array([0] * n, dtype="Int64"),
            "ownership": ["private"] * n,
            "region_code": ["441502"] * n,
            "designated_since": pd.to_datetime(["2015-01-01"] * n),
            "status": ["active"] * n,
        }
    )


def _monthly_claims(code: str, per_month: list[int], fund: float) -> list[dict]:
    rows = []
    for month, count in enumerate(per_month):
        day = pd.Timestamp("2023-07-01") + pd.DateOffset(months=month)
        for k in range(count):
            rows.append(
                {
                    "claim_id": f"{code}-{month}-{k}",
                    "institution_code": code,
                    "patient_id": f"{code}-{k}",
                    "visit_type": "outpatient",
                    "admit_date": day,
                    "settle_date": day,
                    "total_amount": 2 * fund,
                    "fund_amount": fund,
                }
            )
    return rows


def test_claim_features_get_peer_scores_and_monthly_trends():
    clinics = _clinics(6)
    rows = []
    for i, code in enumerate(clinics["institution_code"]):
        counts = list(range(1, 13)) if i == 0 else [5] * 12
        rows += _monthly_claims(code, counts, fund=100.0 + 10 * i)
    claims = pd.DataFrame(rows)
    empty_violations = pd.DataFrame(
        columns=[
            "violation_id",
            "institution_code",
            "found_date",
            "source",
            "category",
            "amount",
            "disposition",
            "status",
        ]
    )
    frame = build_features(
        "2024-07-01", tables={"institutions": clinics, "violations": empty_violations, "claims": claims}
    ).frame
    first, last = clinics["institution_code"].iloc[0], clinics["institution_code"].iloc[-1]
    # growth of 1 claim a month on a mean of 6.5
    assert frame.loc[first, "clm_claims_trend"] == pytest.approx(1 / 6.5)
    assert frame.loc[last, "clm_claims_trend"] == 0.0
    assert frame.loc[first, "clm_fund_per_visit_trend"] == pytest.approx(0.0, abs=1e-9)
    # fund per visit 100, 110, ..., 150: median 125, MAD 15
    expected = (150 - 125) / max(1.4826 * 15, 0.05 * 125)
    assert frame.loc[last, "clm_fund_per_visit_12m_pz"] == pytest.approx(expected)
    assert frame["clm_split_admission_rate_12m_pz"].isna().all()  # clinics have no stays
