"""Staff points under the national rule: yearly cycle, suspension from 9, termination at 12, bans."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from scoring.staff_points import NATIONAL_RULE, StaffPointRule, staff_cycles, staff_qualification

H1, H2 = "H44150200001", "H44150200002"


def events(*rows: tuple[str, str, str, int], institution: str = H1) -> pd.DataFrame:
    """Rows of (event_id, staff_code, date, points)."""
    frame = pd.DataFrame(rows, columns=["event_id", "staff_code", "date", "points"])
    frame["institution_code"] = institution
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame["points"] = frame["points"].astype("Int64")
    return frame


def cycle(frame: pd.DataFrame, staff: str, year: int) -> pd.Series:
    rows = frame.loc[(frame["staff_code"] == staff) & (frame["cycle_year"] == year)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_eight_points_in_a_year_have_no_outcome():
    cycles = staff_cycles(events(("E1", "S1", "2025-02-01", 5), ("E2", "S1", "2025-05-01", 3)), date(2025, 12, 31))
    row = cycle(cycles, "S1", 2025)
    assert row["points"] == 8 and row["outcome"] == "none"
    assert row["event_ids"] == "E1;E2" and row["cycle_key"] == "S1/2025"


def test_nine_points_suspend_from_the_event_that_reaches_nine():
    cycles = staff_cycles(events(("E1", "S1", "2025-02-01", 6), ("E2", "S1", "2025-05-10", 3)), date(2025, 12, 31))
    row = cycle(cycles, "S1", 2025)
    assert row["outcome"] == "suspension"
    assert row["date"] == pd.Timestamp("2025-05-10")
    # 9 points: 1 month under the default mapping (national range 1–6 months).
    assert row["suspended_until"] == pd.Timestamp("2025-06-10")
    assert pd.isna(row["ban_years"])


def test_points_restart_each_calendar_year():
    cycles = staff_cycles(events(("E1", "S1", "2024-12-20", 6), ("E2", "S1", "2025-01-05", 6)), date(2025, 12, 31))
    assert cycle(cycles, "S1", 2024)["outcome"] == "none"
    assert cycle(cycles, "S1", 2025)["outcome"] == "none"
    assert cycle(cycles, "S1", 2025)["points"] == 6


def test_twelve_points_reached_cumulatively_terminate_with_a_one_year_ban():
    cycles = staff_cycles(
        events(("E1", "S1", "2025-01-10", 6), ("E2", "S1", "2025-03-01", 4), ("E3", "S1", "2025-04-01", 2)),
        date(2025, 12, 31),
    )
    row = cycle(cycles, "S1", 2025)
    assert row["outcome"] == "termination" and row["points"] == 12
    assert row["date"] == pd.Timestamp("2025-04-01")
    assert row["ban_years"] == 1 and row["banned_until"] == pd.Timestamp("2026-04-01")


def test_twelve_points_in_one_event_ban_for_three_years():
    row = cycle(staff_cycles(events(("E1", "S1", "2025-03-15", 12)), date(2025, 12, 31)), "S1", 2025)
    assert row["outcome"] == "termination"
    assert row["ban_years"] == 3 and row["banned_until"] == pd.Timestamp("2028-03-15")


def test_events_after_the_date_do_not_count():
    frame = events(("E1", "S1", "2025-02-01", 6), ("E2", "S1", "2025-05-10", 6))
    row = cycle(staff_cycles(frame, date(2025, 5, 9)), "S1", 2025)
    assert row["points"] == 6 and row["outcome"] == "none"


def test_outcome_is_attributed_to_the_institution_of_the_deciding_event():
    frame = pd.concat([events(("E1", "S1", "2025-01-01", 6)), events(("E2", "S1", "2025-02-01", 3), institution=H2)])
    assert cycle(staff_cycles(frame, date(2025, 12, 31)), "S1", 2025)["institution_code"] == H2


def test_qualification_status_on_a_date():
    frame = events(
        ("E1", "S1", "2025-02-01", 9),  # suspended 2025-02-01 .. 2025-03-01
        ("E2", "S2", "2025-02-10", 12),  # terminated, banned to 2028-02-10
        ("E3", "S3", "2025-01-01", 2),
    )
    during = staff_qualification(frame, date(2025, 2, 15)).set_index("staff_code")
    assert during.loc["S1", "status"] == "suspended"
    assert during.loc["S1", "until"] == pd.Timestamp("2025-03-01")
    assert during.loc["S1", "cycle_points"] == 9
    after = staff_qualification(frame, date(2025, 3, 1)).set_index("staff_code")
    assert after.loc["S1", "status"] == "active"
    assert after.loc["S2", "status"] == "terminated" and after.loc["S2", "until"] == pd.Timestamp("2028-02-10")
    assert after.loc["S2", "since"] == pd.Timestamp("2025-02-10")
    assert after.loc["S3", "status"] == "active"
    next_year = staff_qualification(frame, date(2026, 1, 2)).set_index("staff_code")
    assert next_year.loc["S1", "cycle_points"] == 0
    assert next_year.loc["S2", "status"] == "terminated"


def test_registered_staff_without_points_are_listed_active():
    staff = pd.DataFrame({"staff_code": ["S9"], "institution_code": [H1], "role": ["doctor"], "status": ["active"]})
    result = staff_qualification(events(("E1", "S1", "2025-01-01", 1)), date(2025, 6, 1), staff=staff)
    assert set(result["staff_code"]) == {"S1", "S9"}
    assert result.set_index("staff_code").loc["S9", "cycle_points"] == 0


def test_no_events_give_an_empty_table():
    empty = events()
    assert staff_cycles(empty, date(2025, 1, 1)).empty


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"suspension_at": 12}, "suspension_at"),
        ({"suspension_months": {9: 1, 10: 2}}, "suspension_months must give months"),
        ({"suspension_months": {9: 1, 10: 2, 11: 7}}, "1 to 6 months"),
        ({"ban_years_single_event": 0}, "ban_years_single_event"),
    ],
)
def test_rule_refuses_numbers_outside_the_national_rule(changes, message):
    with pytest.raises(ValueError, match=message):
        StaffPointRule(**changes)


def test_national_rule_defaults():
    assert (NATIONAL_RULE.suspension_at, NATIONAL_RULE.termination_at) == (9, 12)
    assert (NATIONAL_RULE.ban_years_cumulative, NATIONAL_RULE.ban_years_single_event) == (1, 3)
