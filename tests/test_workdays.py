"""Working days on China's official schedule (调休 included) and the 20-working-day publication deadline."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from scoring.workdays import (
    CalendarNotPublishedError,
    add_working_days,
    is_working_day,
    overdue,
    publication_due,
)

# --------------------------------------------------------------------------- working days (2025 official schedule)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2025-09-28", True),  # Sunday made a working day for National Day
        ("2025-10-11", True),  # Saturday made a working day
        ("2025-10-01", False),
        ("2025-10-06", False),  # Mid-Autumn inside the National Day break
        ("2025-10-08", False),  # weekday given as a day off
        ("2025-10-09", True),
        ("2025-10-12", False),  # an ordinary Sunday
        ("2025-01-26", True),  # Sunday before Spring Festival
        ("2025-02-08", True),  # Saturday after Spring Festival
    ],
)
def test_working_days_follow_the_official_2025_schedule(day, working):
    assert is_working_day(day) is working


def test_next_working_day_after_a_friday_can_be_a_make_up_sunday():
    assert add_working_days("2025-09-26", 1) == dt.date(2025, 9, 28)


def test_the_national_day_break_is_skipped():
    assert add_working_days("2025-09-30", 1) == dt.date(2025, 10, 9)
    assert add_working_days("2025-10-09", 2) == dt.date(2025, 10, 11)


def test_zero_working_days_is_the_same_date_and_negative_is_refused():
    assert add_working_days("2025-10-01", 0) == dt.date(2025, 10, 1)
    with pytest.raises(ValueError, match="n must be an integer >= 0; got -1"):
        add_working_days("2025-10-01", -1)


def test_publication_is_due_twenty_working_days_after_the_inspection():
    # 9-16..19 (4), 9-22..26 (9), Sun 9-28 (10), 9-29..30 (12), 10-9..10 (14), Sat 10-11 (15), 10-13..17 (20)
    assert publication_due("2025-09-15") == dt.date(2025, 10, 17)


def test_publication_deadline_crosses_new_year_with_its_make_up_sunday():
    # 12-22..26 (5), 12-29..31 (8), Sun 2026-01-04 (9), 1-5..9 (14), 1-12..16 (19), 1-19 (20)
    assert publication_due("2025-12-20") == dt.date(2026, 1, 19)


def test_years_the_installed_calendar_does_not_carry_are_refused():
    with pytest.raises(CalendarNotPublishedError, match="upgrade"):
        publication_due("2099-06-01")


def test_overdue_lists_late_and_missing_publications_with_working_days_late():
    inspections = pd.DataFrame(
        {
            "inspection_id": ["on_time", "on_due_date", "late", "missing", "not_yet_due"],
            "institution_code": ["H1", "H2", "H3", "H4", "H5"],
            "start_date": pd.to_datetime(["2025-09-15", "2025-09-15", "2025-09-15", "2025-09-15", "2025-10-20"]),
            "result_published": pd.to_datetime(["2025-10-09", "2025-10-17", "2025-10-21", None, None]),
        }
    )
    late = overdue(inspections, "2025-11-03")
    assert late[["inspection_id", "status", "working_days_late"]].values.tolist() == [
        ["late", "published_late", 2],
        ["missing", "unpublished", 11],
    ]
    assert (late["due_date"] == pd.Timestamp("2025-10-17")).all()


def test_unpublished_result_is_not_overdue_on_its_due_date():
    inspections = pd.DataFrame(
        {
            "inspection_id": ["X1"],
            "institution_code": ["H1"],
            "start_date": pd.to_datetime(["2025-09-15"]),
            "result_published": pd.to_datetime([None]),
        }
    )
    assert overdue(inspections, "2025-10-17").empty
    assert overdue(inspections, "2025-10-18")["working_days_late"].tolist() == [0]  # Saturday: still 0 working days
    assert overdue(inspections, "2025-10-20")["working_days_late"].tolist() == [1]
