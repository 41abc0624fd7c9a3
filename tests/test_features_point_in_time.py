"""Point in time: a row as of t uses only what the bureau knew before t, whatever is added later."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features._features_synthetic import synthetic_city
from features.build import build_feature_panel, build_features, feature_catalogue

AS_OF = pd.Timestamp("2023-09-15")


@pytest.fixture(scope="module")
def city() -> dict[str, pd.DataFrame]:
    return synthetic_city(seed=7, n_institutions=40, start="2021-06-01", months=40, claims_per_institution_year=150)


def _after(frame: pd.DataFrame, column: str, cut: pd.Timestamp) -> pd.DataFrame:
    return frame[frame[column] >= cut]


def known_before(city: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The city as the bureau saw it just before ``cut``: later events removed, later outcomes blanked."""
    seen = {name: table.copy() for name, table in city.items()}
    seen["violations"] = seen["violations"][seen["violations"]["found_date"] < cut]
    reports = seen["self_inspections"]
    reports = reports[reports["submitted_date"] < cut].copy()
    later = reports["verified_date"] >= cut
    reports.loc[later, ["verified", "problems_found", "amount_found"]] = [pd.NA, pd.NA, np.nan]
    reports.loc[later, "verified_date"] = pd.NaT
    seen["self_inspections"] = reports
    complaints = seen["complaints"]
    complaints = complaints[complaints["received_date"] < cut].copy()
    open_at_cut = complaints["closed_date"] >= cut
    complaints.loc[open_at_cut, "substantiated"] = pd.NA
    complaints.loc[open_at_cut, "closed_date"] = pd.NaT
    seen["complaints"] = complaints
    seen["referrals"] = seen["referrals"][seen["referrals"]["date"] < cut]
    seen["staff_points"] = seen["staff_points"][seen["staff_points"]["date"] < cut]
    seen["claims"] = seen["claims"][seen["claims"]["settle_date"] < cut]
    seen["claim_items"] = seen["claim_items"][seen["claim_items"]["claim_id"].isin(seen["claims"]["claim_id"])]
    seen["deaths"] = seen["deaths"][seen["deaths"]["death_date"] < cut]
    return seen


def test_future_events_do_not_change_earlier_rows(city):
    full = build_features(AS_OF, tables=city)
    past_only = build_features(AS_OF, tables=known_before(city, AS_OF))
    assert not full.missing_families
    # the city really has events after as_of in every table, else this test could not fail
    for name, column in [
        ("violations", "found_date"),
        ("claims", "settle_date"),
        ("complaints", "received_date"),
        ("self_inspections", "submitted_date"),
        ("staff_points", "date"),
        ("referrals", "date"),
    ]:
        assert len(_after(city[name], column, AS_OF)) > 0, name
    pd.testing.assert_frame_equal(full.frame, past_only.frame)


def test_adding_events_on_the_as_of_date_changes_nothing_but_the_day_after_does(city):
    base = build_features(AS_OF, tables=city)
    code = base.frame.index[0]
    extra = city["violations"].iloc[:1].copy()
    extra["violation_id"], extra["institution_code"], extra["status"] = "VX", code, "confirmed"
    extra["found_date"] = AS_OF
    with_same_day = {**city, "violations": pd.concat([city["violations"], extra], ignore_index=True)}
    pd.testing.assert_frame_equal(build_features(AS_OF, tables=with_same_day).frame, base.frame)
    later = build_features(AS_OF + pd.Timedelta(days=1), tables=with_same_day)
    assert (
        later.frame.loc[code, "viol_n_12m"]
        == build_features(AS_OF + pd.Timedelta(days=1), tables=city).frame.loc[code, "viol_n_12m"] + 1
    )


def test_claims_enter_once_their_settlement_month_has_closed(city):
    claims = city["claims"]
    code = claims["institution_code"].iloc[0]
    extra = claims[claims["institution_code"] == code].iloc[:1].copy()
    extra["claim_id"] = "CX"
    extra["settle_date"] = extra["admit_date"] = extra["discharge_date"] = pd.Timestamp("2023-09-02")
    extra["discharge_date"] = extra["discharge_date"].where(extra["visit_type"] == "inpatient")
    more = {**city, "claims": pd.concat([claims, extra], ignore_index=True)}
    before = build_features(AS_OF, tables=city).frame
    assert build_features(AS_OF, tables=more).frame.loc[code, "clm_claims_12m"] == before.loc[code, "clm_claims_12m"]
    after = build_features("2023-10-01", tables=more).frame.loc[code, "clm_claims_12m"]
    assert after == build_features("2023-10-01", tables=city).frame.loc[code, "clm_claims_12m"] + 1


def test_panel_rows_equal_single_date_builds(city):
    dates = ["2023-01-01", "2023-06-17", "2023-09-15"]
    panel = build_feature_panel(dates, tables=city)
    assert panel.frame.index.names == ["institution_code", "as_of"]
    for date in dates:
        single = build_features(date, tables=city).frame
        rows = panel.frame.xs(pd.Timestamp(date), level="as_of")
        pd.testing.assert_frame_equal(rows, single)


def test_panel_of_chosen_pairs_matches_the_full_rows(city):
    full = build_feature_panel(["2023-03-01", "2023-09-15"], tables=city).frame
    chosen = full.index[[0, 5, len(full) - 1]]
    pairs = pd.DataFrame({"institution_code": chosen.get_level_values(0), "as_of": chosen.get_level_values(1)})
    panel = build_feature_panel(pairs, tables=city).frame
    pd.testing.assert_frame_equal(panel, full.loc[chosen].sort_index())


def test_rows_are_the_institutions_active_at_as_of(city):
    institutions = city["institutions"].copy()
    codes = institutions["institution_code"]
    institutions.loc[0, ["designated_since", "status", "status_since"]] = [AS_OF, "active", pd.NaT]
    institutions.loc[1, ["designated_since"]] = [AS_OF + pd.Timedelta(days=1)]
    institutions.loc[2, ["status", "status_since"]] = ["terminated", AS_OF - pd.Timedelta(days=1)]
    institutions.loc[3, ["status", "status_since"]] = ["terminated", AS_OF]
    institutions.loc[4, ["status", "status_since"]] = ["terminated", pd.NaT]
    institutions.loc[5, ["designated_since", "status", "status_since"]] = [
        pd.Timestamp("2010-01-01"),
        "suspended",
        AS_OF - pd.Timedelta(days=3),
    ]
    institutions.loc[6, ["designated_since", "status", "status_since"]] = [
        pd.Timestamp("2010-01-01"),
        "suspended",
        AS_OF + pd.Timedelta(days=3),
    ]
    frame = build_features(AS_OF, tables={**city, "institutions": institutions}).frame
    rows = set(frame.index)
    assert codes[0] in rows and codes[3] in rows
    assert codes[1] not in rows and codes[2] not in rows and codes[4] not in rows
    assert frame.loc[codes[5], "status"] == "suspended" and frame.loc[codes[6], "status"] == "active"
    assert frame.loc[codes[0], "years_designated"] == 0.0


def test_frame_columns_are_the_catalogue(city):
    result = build_features(AS_OF, tables=city)
    assert list(result.frame.columns) == list(feature_catalogue()["name"])
    assert result.frame.index.name == "institution_code" and result.frame.index.is_unique
    assert result.as_of == AS_OF
    numeric = result.frame.drop(columns=["kind", "ownership", "status"])
    assert all(pd.api.types.is_numeric_dtype(t) for t in numeric.dtypes)


def test_as_of_is_validated(city):
    with pytest.raises(ValueError, match=r"as_of must be a date such as '2024-07-01'; got 'soon'"):
        build_features("soon", tables=city)
    with pytest.raises(ValueError, match=r"engine_kind must be one of \['duckdb', 'spark'\]; got 'polars'"):
        build_features(AS_OF, tables=city, engine_kind="polars")
