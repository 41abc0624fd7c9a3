"""The smart-audit rules (domain.md §5) on hand-built claims with known answers, boundaries included."""

from __future__ import annotations

import pandas as pd
import pytest

from features.claim_features import (
    ClaimRules,
    ClaimSource,
    MonthRange,
    claim_sql_plan,
    flag_claims,
    monthly_claim_aggregates,
)

MONTHS = MonthRange(2024 * 12, 2024 * 12 + 12)  # January to December 2024
H1, H2, P1 = "H44150200001", "H44150200002", "P44150200003"


def claim(claim_id: str, patient: str, admit: str, *, inst: str = H1, visit: str = "outpatient", **extra) -> dict:
    """One claim; inpatient stays default to a settlement on the discharge date."""
    discharge = extra.pop("discharge", admit if visit == "inpatient" else None)
    row = {
        "claim_id": claim_id,
        "institution_code": inst,
        "patient_id": patient,
        "visit_type": visit,
        "admit_date": admit,
        "discharge_date": discharge,
        "settle_date": extra.pop("settle", discharge or admit),
        "diagnosis_code": extra.pop("dx", "J18.900"),
        "emergency": extra.pop("emergency", False),
        "total_amount": extra.pop("total", 1000.0),
        "fund_amount": extra.pop("fund", 500.0),
        "exam_amount": extra.pop("exam", 100.0),
        "days_supply": extra.pop("supply", None),
    }
    assert not extra, f"unknown claim fields {extra}"
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    claims = pd.DataFrame(rows)
    for column in ("admit_date", "discharge_date", "settle_date"):
        claims[column] = pd.to_datetime(claims[column]).astype("datetime64[ns]")
    claims["emergency"] = claims["emergency"].astype("boolean")
    claims["days_supply"] = claims["days_supply"].astype("Int64")
    return claims


def flagged(rows: list[dict], rule: str, *, items=None, deaths=None, **parameters) -> set[str]:
    source = ClaimSource(frame(rows), items, deaths)
    flags = flag_claims(source, MONTHS, ClaimRules(**parameters))
    return set(flags.loc[flags["rule"] == rule, "claim_id"])


def stay(claim_id: str, patient: str, admit: str, discharge: str, **extra) -> dict:
    return claim(claim_id, patient, admit, visit="inpatient", discharge=discharge, **extra)


# --- split admission -----------------------------------------------------------------------------


def test_readmission_on_day_15_is_a_split_admission_and_on_day_16_is_not():
    rows = [
        stay("A1", "p1", "2024-02-20", "2024-03-01"),
        stay("A2", "p1", "2024-03-16", "2024-03-20"),  # 15 days after discharge
        stay("B1", "p2", "2024-02-20", "2024-03-01"),
        stay("B2", "p2", "2024-03-17", "2024-03-20"),  # 16 days after discharge
    ]
    assert flagged(rows, "split_admission") == {"A2"}


def test_readmission_window_is_configurable():
    rows = [stay("A1", "p1", "2024-02-20", "2024-03-01"), stay("A2", "p1", "2024-03-09", "2024-03-12")]
    assert flagged(rows, "split_admission", readmit_days=7) == set()
    assert flagged(rows, "split_admission", readmit_days=8) == {"A2"}


def test_same_day_readmission_counts_and_the_first_stay_is_never_flagged():
    rows = [stay("A1", "p1", "2024-03-01", "2024-03-05"), stay("A2", "p1", "2024-03-05", "2024-03-09")]
    assert flagged(rows, "split_admission") == {"A2"}


@pytest.mark.parametrize(
    "second",
    [
        stay("A2", "p1", "2024-03-05", "2024-03-09", emergency=True),  # an emergency
        stay("A2", "p1", "2024-03-05", "2024-03-09", dx="C34.900"),  # a chemotherapy cycle
        stay("A2", "p1", "2024-03-05", "2024-03-09", dx="Z51.100"),  # encounter for chemotherapy
        stay("A2", "p1", "2024-03-05", "2024-03-09", dx="I63.900"),  # another diagnosis group
        stay("A2", "p1", "2024-03-05", "2024-03-09", inst=H2),  # another institution
        stay("A2", "p1", "2024-03-05", "2024-03-09", dx=None),  # no diagnosis
    ],
    ids=["emergency", "cancer", "Z51", "other-diagnosis", "other-institution", "no-diagnosis"],
)
def test_readmissions_that_are_not_split_admissions(second):
    first = stay("A1", "p1", "2024-02-25", "2024-03-01", dx=second["diagnosis_code"] or "J18.900")
    if second["diagnosis_code"] == "I63.900":
        first["diagnosis_code"] = "J18.900"
    assert flagged([first, second], "split_admission") == set()


def test_diagnosis_group_is_the_first_three_characters():
    rows = [
        stay("A1", "p1", "2024-02-25", "2024-03-01", dx="J18.900"),
        stay("A2", "p1", "2024-03-05", "2024-03-09", dx="j18.0"),
    ]
    assert flagged(rows, "split_admission") == {"A2"}


def test_pair_rule_is_known_when_the_later_claim_settles():
    rows = [
        stay("A1", "p1", "2024-02-25", "2024-03-01", settle="2024-05-10"),  # settled late
        stay("A2", "p1", "2024-03-05", "2024-03-09"),
    ]
    flags = flag_claims(ClaimSource(frame(rows)), MONTHS)
    split = flags[flags["rule"] == "split_admission"].iloc[0]
    assert split["claim_id"] == "A2" and split["known_from"] == pd.Timestamp("2024-06-01")


def test_leads_are_sorted_and_known_from_the_month_after_their_event():
    rows = [
        stay("A1", "p1", "2024-11-25", "2024-11-28"),
        stay("A2", "p1", "2024-12-02", "2024-12-05"),  # split admission, settled in December
        claim("B2", "p2", "2024-03-01", supply=40),  # over the limit, settled in March
        claim("B1", "p3", "2024-01-31", supply=40),
    ]
    flags = flag_claims(ClaimSource(frame(rows)), MONTHS)
    assert list(zip(flags["rule"], flags["claim_id"], strict=True)) == [
        ("long_supply", "B1"),
        ("long_supply", "B2"),
        ("split_admission", "A2"),
    ]
    assert list(flags["known_from"]) == [
        pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-04-01"),
        pd.Timestamp("2025-01-01"),
    ]


def test_each_duckdb_statement_is_timed_in_the_debug_log(caplog):
    rows = [stay("A1", "p1", "2024-02-25", "2024-03-01"), stay("A2", "p1", "2024-03-05", "2024-03-09")]
    with caplog.at_level("DEBUG", logger="features.claim_features"):
        monthly_claim_aggregates(ClaimSource(frame(rows)), MONTHS)
    labels = [record.statement for record in caplog.records if hasattr(record, "statement")]
    assert labels[:2] == ["_mc_institutions", "_mc_claims"] and labels[-1] == "monthly"
    assert "_mc_flags:split_admission" in labels and "_mc_flags:supply_ahead" in labels


def test_partners_beyond_the_context_window_are_not_looked_at():
    rows = [
        stay("A1", "p1", "2024-02-25", "2024-03-01", settle="2024-03-01"),
        stay("A2", "p1", "2024-03-05", "2024-03-09", settle="2024-09-20"),  # settled 203 days after A1
    ]
    assert flagged(rows, "split_admission") == set()
    assert flagged(rows, "split_admission", context_days=210) == {"A2"}


# --- phantom beds ------------------------------------------------------------------------------------


def test_overlapping_stays_at_two_institutions_but_not_a_same_day_transfer():
    rows = [
        stay("A1", "p1", "2024-03-01", "2024-03-10"),
        stay("B1", "p1", "2024-03-08", "2024-03-12", inst=H2),  # overlaps A1
        stay("C1", "p2", "2024-03-01", "2024-03-10"),
        stay("D1", "p2", "2024-03-10", "2024-03-15", inst=H2),  # transferred on the discharge day
    ]
    assert flagged(rows, "overlap_stay") == {"A1", "B1"}


def test_settlement_elsewhere_during_a_stay():
    rows = [
        stay("A1", "p1", "2024-03-01", "2024-03-10"),
        claim("O1", "p1", "2024-03-05", inst=P1, visit="pharmacy"),  # during the stay
        stay("A2", "p2", "2024-03-01", "2024-03-10"),
        claim("O2", "p2", "2024-03-01", inst=P1, visit="pharmacy"),  # on the admission day
        claim("O3", "p2", "2024-03-10", inst=P1, visit="pharmacy"),  # on the discharge day
        stay("A3", "p3", "2024-03-01", "2024-03-10"),
        claim("O4", "p3", "2024-03-05", inst=H1),  # at the same institution
    ]
    assert flagged(rows, "elsewhere_during_stay") == {"A1"}


def test_exam_fees_above_80_percent_of_the_bill():
    rows = [
        stay("A1", "p1", "2024-03-01", "2024-03-05", total=1000.0, exam=800.01),
        stay("A2", "p2", "2024-03-01", "2024-03-05", total=1000.0, exam=800.0),  # exactly 80 %: not above
        stay("A3", "p3", "2024-03-01", "2024-03-05", total=1000.0, exam=None),
    ]
    assert flagged(rows, "exam_heavy_stay") == {"A1"}


def items(lines: list[tuple[str, int, str, str]], trace: dict[tuple[str, int], str] | None = None) -> pd.DataFrame:
    rows = [
        {
            "claim_id": c,
            "line_no": n,
            "item_code": code,
            "item_type": "service",
            "item_date": day,
            "quantity": 1.0,
            "unit_price": 10.0,
            "amount": 10.0,
            "trace_code": (trace or {}).get((c, n)),
        }
        for c, n, code, day in lines
    ]
    out = pd.DataFrame(rows)
    out["item_date"] = pd.to_datetime(out["item_date"]).astype("datetime64[ns]")
    out["line_no"] = out["line_no"].astype("Int64")
    return out


def test_stay_with_two_whole_days_without_items_is_idle_and_one_day_is_not():
    rows = [stay("A1", "p1", "2024-03-01", "2024-03-06"), stay("A2", "p2", "2024-03-01", "2024-03-06")]
    lines = items(
        [
            ("A1", 1, "X", "2024-03-01"),
            ("A1", 2, "X", "2024-03-04"),
            ("A1", 3, "X", "2024-03-05"),  # 2nd, 3rd idle
            ("A2", 1, "X", "2024-03-01"),
            ("A2", 2, "X", "2024-03-03"),
            ("A2", 3, "X", "2024-03-05"),
        ]  # 2nd, 4th idle
    )
    assert flagged(rows, "idle_stay", items=lines) == {"A1"}


def test_idle_days_at_the_start_or_end_of_a_stay_count():
    rows = [stay("A1", "p1", "2024-03-01", "2024-03-06"), stay("A2", "p2", "2024-03-01", "2024-03-06")]
    lines = items(
        [
            ("A1", 1, "X", "2024-03-03"),
            ("A1", 2, "X", "2024-03-05"),  # 1st and 2nd idle
            ("A2", 1, "X", "2024-03-01"),
            ("A2", 2, "X", "2024-03-02"),
            ("A2", 3, "X", "2024-03-04"),
        ]
    )
    assert flagged(rows, "idle_stay", items=lines) == {"A1"}


def test_phantom_bed_signal_counts_a_stay_once_whatever_the_number_of_signals():
    rows = [
        stay("A1", "p1", "2024-03-01", "2024-03-10", total=1000.0, exam=900.0),
        stay("B1", "p1", "2024-03-08", "2024-03-12", inst=H2),
        claim("O1", "p1", "2024-03-05", inst=P1, visit="pharmacy"),
    ]
    source = ClaimSource(frame(rows))
    from features.claim_features import monthly_claim_aggregates

    monthly = monthly_claim_aggregates(source, MONTHS)
    by_rule = monthly.rules.groupby(["institution_code", "rule"])["flagged"].sum()
    assert by_rule[(H1, "phantom_bed_signal")] == 1
    assert by_rule[(H1, "exam_heavy_stay")] == 1 and by_rule[(H1, "overlap_stay")] == 1
    assert by_rule[(H2, "phantom_bed_signal")] == 1


def test_low_standard_admission_short_and_manageable_as_outpatient():
    rows = [
        stay("A1", "p1", "2024-03-01", "2024-03-04", dx="J06.900"),  # 3 days, a cold
        stay("A2", "p2", "2024-03-01", "2024-03-05", dx="J06.900"),  # 4 days
        stay("A3", "p3", "2024-03-01", "2024-03-02", dx="I63.900"),  # a stroke
        stay("A4", "p4", "2024-03-01", "2024-03-02", dx="J06.900", emergency=True),
    ]
    assert flagged(rows, "low_standard_stay") == {"A1"}


# --- over-prescription ------------------------------------------------------------------------------------


def test_days_supply_limits_7_28_and_3():
    rows = [
        claim("O1", "p1", "2024-03-01", supply=7),
        claim("O2", "p2", "2024-03-01", supply=8),
        claim("C1", "p3", "2024-03-01", visit="chronic", supply=28),
        claim("C2", "p4", "2024-03-01", visit="chronic", supply=29),
        claim("E1", "p5", "2024-03-01", emergency=True, supply=3),
        claim("E2", "p6", "2024-03-01", emergency=True, supply=4),
        stay("S1", "p7", "2024-03-01", "2024-03-05", supply=30),  # inpatient: not a prescription
    ]
    assert flagged(rows, "long_supply") == {"O2", "C2", "E2"}


def test_cumulative_supply_running_ahead_of_the_days_elapsed():
    rows = [
        claim("A1", "p1", "2024-03-01", visit="chronic", supply=28, dx="I10"),
        claim("A2", "p1", "2024-03-11", visit="chronic", supply=28, dx="I10"),  # 18 days left: ahead
        claim("B1", "p2", "2024-03-01", visit="chronic", supply=28, dx="I10"),
        claim("B2", "p2", "2024-03-22", visit="chronic", supply=28, dx="I10"),  # 7 days left: tolerated
        claim("C1", "p3", "2024-03-01", visit="chronic", supply=28, dx="I10"),
        claim("C2", "p3", "2024-03-11", visit="chronic", supply=28, dx="E11.900"),  # another condition
        claim("D1", "p4", "2024-03-01", visit="pharmacy", supply=28, dx="I10", inst=P1),
        claim("D2", "p4", "2024-03-05", visit="chronic", supply=28, dx="I10"),  # across institutions
    ]
    assert flagged(rows, "supply_ahead") == {"A2", "D2"}


def test_cumulative_supply_builds_up_over_early_refills():
    rows = [
        claim("A1", "p1", "2024-03-01", visit="chronic", supply=28, dx="I10"),
        claim("A2", "p1", "2024-03-24", visit="chronic", supply=28, dx="I10"),  # 5 days left
        claim("A3", "p1", "2024-04-16", visit="chronic", supply=28, dx="I10"),  # 10 days left
    ]
    assert flagged(rows, "supply_ahead") == {"A3"}
    assert flagged(rows, "supply_ahead", supply_tolerance_days=10) == set()


# --- deaths, items, fake visits ------------------------------------------------------------------------


def test_visit_that_began_after_death():
    deaths = pd.DataFrame({"patient_id": ["p1", "p2"], "death_date": pd.to_datetime(["2024-03-10", "2024-03-10"])})
    rows = [
        claim("A1", "p1", "2024-03-11"),  # after death
        stay("A2", "p2", "2024-03-01", "2024-03-10", settle="2024-03-12"),  # died in hospital, settled later
        claim("A3", "p3", "2024-03-11"),
    ]
    assert flagged(rows, "deceased_settlement", deaths=deaths) == {"A1"}


def test_deaths_rule_needs_the_deaths_table():
    source = ClaimSource(frame([claim("A1", "p1", "2024-03-11")]))
    steps = claim_sql_plan(ClaimRules(), MONTHS, source.available())
    assert "deceased_settlement" not in " ".join(step.sql for step in steps)


def test_same_item_billed_twice_on_one_day():
    rows = [
        claim("A1", "p1", "2024-03-05"),
        claim("A2", "p1", "2024-03-05"),
        claim("B1", "p2", "2024-03-05"),
        claim("B2", "p2", "2024-03-06"),
    ]
    lines = items(
        [
            ("A1", 1, "X100", "2024-03-05"),
            ("A2", 1, "X100", "2024-03-05"),
            ("B1", 1, "X100", "2024-03-05"),
            ("B2", 1, "X100", "2024-03-06"),
        ]
    )
    assert flagged(rows, "duplicate_item", items=lines) == {"A1", "A2"}


def test_trace_code_settled_twice():
    rows = [
        claim("A1", "p1", "2024-03-05", inst=P1, visit="pharmacy"),
        claim("A2", "p2", "2024-04-05", visit="pharmacy"),
        claim("A3", "p3", "2024-04-05", visit="pharmacy"),
    ]
    lines = items(
        [("A1", 1, "D1", "2024-03-05"), ("A2", 1, "D1", "2024-04-05"), ("A3", 1, "D1", "2024-04-05")],
        trace={("A1", 1): "T1", ("A2", 1): "T1", ("A3", 1): "T2"},
    )
    assert flagged(rows, "trace_reuse", items=lines) == {"A2"}


def test_fourth_low_value_visit_within_30_days():
    near = [
        claim(f"A{k}", "p1", day, total=99.0)
        for k, day in enumerate(["2024-03-01", "2024-03-08", "2024-03-15", "2024-03-30", "2024-03-31"])
    ]
    far = [
        claim(f"B{k}", "p2", day, total=30.0)
        for k, day in enumerate(["2024-03-01", "2024-03-11", "2024-03-21", "2024-03-31"])
    ]
    dear = [
        claim(f"C{k}", "p3", day, total=100.0)
        for k, day in enumerate(["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"])
    ]
    assert flagged(near + far + dear, "frequent_low_value") == {"A3", "A4"}


def ring(patients: tuple[str, ...], days: list[str], **extra) -> list[dict]:
    return [claim(f"{p}-{d}", p, day, **({"total": 40.0} | extra)) for p in patients for d, day in enumerate(days)]


def test_group_of_patients_turning_up_together():
    days = ["2024-03-03", "2024-03-10", "2024-04-17"]
    group = ring(("p1", "p2", "p3"), days)
    once = ring(("p4",), ["2024-03-10"])  # with the group once: not one of them
    dear = ring(("p5", "p6", "p7"), days, total=400.0, inst=H2)  # not low-value visits
    expected = {f"{p}-{d}" for p in ("p1", "p2", "p3") for d in (1, 2)}  # known from the second day together
    assert flagged(group + once + dear, "group_visit") == expected


def test_group_visits_must_recur_within_the_window():
    group = ring(("p1", "p2", "p3"), ["2024-01-03", "2024-04-03"])  # 91 days apart
    assert flagged(group, "group_visit") == set()
    assert len(flagged(group, "group_visit", group_window_days=92)) == 3


def test_group_rule_parameters():
    group = ring(("p1", "p2", "p3"), ["2024-03-03", "2024-03-10"])
    assert len(flagged(group, "group_visit", group_min_days=1)) == 6
    assert flagged(group, "group_visit", group_min_patients=4) == set()
    crowd = group + ring(("p4",), ["2024-03-03", "2024-03-10"])
    assert len(flagged(crowd, "group_visit")) == 4 * 1
    assert flagged(crowd, "group_visit", group_max_visitors=3) == set()


def test_rule_parameters_are_validated_with_the_value_received():
    with pytest.raises(ValueError, match=r"readmit_days must be an integer from 1 to 90; got 0"):
        ClaimRules(readmit_days=0)
    with pytest.raises(ValueError, match=r"planned_cycle_prefixes .* got 'C'"):
        ClaimRules(planned_cycle_prefixes="C")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"context_days must be an integer from 90 to 3660; got 30"):
        ClaimRules(context_days=30)


def test_group_min_days_above_two_needs_that_many_days_together():
    group = ring(("p1", "p2", "p3"), ["2024-03-03", "2024-03-10", "2024-03-17"])
    assert {c.split("-")[1] for c in flagged(group, "group_visit", group_min_days=3)} == {"2"}
    assert flagged(group, "group_visit", group_min_days=4) == set()


# --- monthly aggregates and leads ---------------------------------------------------------------------


def test_monthly_counts_are_the_leads_counted():
    """Monthly aggregates (which do not read claim_id without claim items) count exactly the leads."""
    from features._features_synthetic import synthetic_city
    from features.claim_features import PHANTOM_SIGNALS, monthly_claim_aggregates

    tables = synthetic_city(seed=5, n_institutions=40, start="2023-01-01", months=14, items=False)
    claims = tables["claims"]
    stays = claims[claims["visit_type"] == "inpatient"].head(50)
    day_stays = stays.assign(admit_date=stays["discharge_date"], emergency=False, diagnosis_code="J18.900")
    twins = day_stays.assign(claim_id=day_stays["claim_id"] + "-twin")  # ties: which of two is the readmission
    claims = pd.concat([claims.drop(stays.index), day_stays, twins], ignore_index=True)
    months = MonthRange(2023 * 12, 2023 * 12 + 14)
    source = ClaimSource(claims, deaths=tables["deaths"])
    leads = flag_claims(source, months)
    monthly = monthly_claim_aggregates(source, months)
    assert source.available() == {"claims", "deaths"}
    phantom = leads[leads["rule"].isin(PHANTOM_SIGNALS)].sort_values("event_month")
    phantom = phantom.drop_duplicates("claim_id").assign(rule="phantom_bed_signal")
    counted = pd.concat([leads, phantom]).groupby(["institution_code", "event_month", "rule"]).size()
    counted = counted.rename_axis(["institution_code", "month", "rule"]).sort_index()
    by_month = monthly.rules.set_index(["institution_code", "month", "rule"])["flagged"].sort_index()
    assert len(set(leads["rule"])) >= 7, f"too few rules fire: {sorted(set(leads['rule']))}"
    pd.testing.assert_series_equal(by_month, counted, check_names=False, check_dtype=False)


def test_a_callers_duckdb_connection_is_left_as_it_was():
    """Intermediate tables live in the caller's connection only while the plan runs."""
    import duckdb

    from features.claim_features import contract_arrow, monthly_claim_aggregates

    con = duckdb.connect()
    rows = [stay("A1", "p1", "2024-03-01", "2024-03-10"), claim("B1", "p2", "2024-03-05")]
    con.register("claims_frame", contract_arrow(frame(rows), "claims"))
    con.execute("CREATE TEMP TABLE claims AS SELECT * FROM claims_frame")
    before = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    monthly = monthly_claim_aggregates(ClaimSource(con), MONTHS)
    assert monthly.claims["claims"].sum() == 2 and monthly.claims["stays"].sum() == 1
    assert con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == before
    con.close()


# --- running the plan ------------------------------------------------------------------------------


def test_a_callers_connection_gives_what_the_engines_own_connection_gives():
    """A caller's connection (tables of many rows, claim items, deaths) gives the same aggregates and leads."""
    import duckdb

    from features._features_synthetic import synthetic_city
    from features.claim_features import contract_arrow, monthly_claim_aggregates

    tables = synthetic_city(seed=7, n_institutions=30, start="2023-01-01", months=14)
    months = MonthRange(2023 * 12, 2023 * 12 + 14)
    own = ClaimSource(tables["claims"], tables["claim_items"], tables["deaths"])
    con = duckdb.connect()
    con.register("claims", contract_arrow(tables["claims"], "claims"))
    con.register("claim_items", contract_arrow(tables["claim_items"], "claim_items"))
    callers = ClaimSource(con, deaths=tables["deaths"])
    assert own.available() == callers.available() == {"claims", "claim_items", "deaths"}
    ours, theirs = monthly_claim_aggregates(own, months), monthly_claim_aggregates(callers, months)
    assert ours.equals(theirs)
    assert ours.rules["rule"].nunique() >= 10
    leads = flag_claims(own, months).sort_values(["rule", "claim_id"], ignore_index=True)
    pd.testing.assert_frame_equal(
        leads, flag_claims(callers, months).sort_values(["rule", "claim_id"], ignore_index=True)
    )
    con.close()
