"""Working days on China's official schedule, and the 20-working-day publication deadline.

The calendar is PyPI's ``holidays`` package (``holidays.China``), which carries the State Council's
yearly schedule: public holidays, the weekdays given as days off, and the weekend days made working
days (调休, e.g. Sunday 2025-09-28 and Saturday 2025-10-11 around National Day 2025). A year whose
schedule the installed package does not yet carry is refused rather than guessed: upgrade
``holidays`` once the State Council publishes it (usually in November of the year before).

Counting rule: ``add_working_days(d, n)`` is the n-th working day strictly after d (d itself never
counts, whether or not it is a working day); results of an inspection that started on d are due
on ``publication_due(d) = add_working_days(d, 20)`` and are late if published after that day.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

import holidays
import numpy as np
import pandas as pd

__all__ = [
    "PUBLICATION_WORKING_DAYS",
    "CalendarNotPublishedError",
    "add_working_days",
    "is_working_day",
    "last_published_year",
    "overdue",
    "publication_due",
]

logger = logging.getLogger(__name__)

PUBLICATION_WORKING_DAYS = 20
_FIRST_YEAR = 2001  # the package's China schedule with make-up working days starts here


class CalendarNotPublishedError(LookupError):
    """The installed calendar has no official schedule for a year the computation needs."""


def last_published_year() -> int:
    """The last year whose official schedule (with 调休 days) the installed ``holidays`` carries."""
    years = getattr(holidays.China, "special_public_holidays", None) or {}
    return max(years) if years else dt.date.today().year


def is_working_day(date: Any) -> bool:
    """Whether ``date`` is a working day (weekdays that are not holidays, plus make-up weekend days)."""
    day = _as_date(date, "date")
    return day in _working_days_set(day.year)


def add_working_days(date: Any, n: int) -> dt.date:
    """The n-th working day after ``date`` (``n`` >= 0; n = 0 gives ``date`` itself)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be an integer >= 0; got {n!r}")
    day = _as_date(date, "date")
    if n == 0:
        return day
    due = _add_working_days_array(np.array([np.datetime64(day, "D")]), n)[0]
    return due.astype(dt.date)


def publication_due(date: Any) -> dt.date:
    """Last day on which results of an inspection started on ``date`` may be published (20 working days)."""
    return add_working_days(date, PUBLICATION_WORKING_DAYS)


def overdue(inspections: pd.DataFrame, today: Any) -> pd.DataFrame:
    """Inspections whose results were not published in time.

    Returns inspection_id, institution_code, start_date, due_date, result_published, status
    (``unpublished`` — not published and ``today`` is past the due date; ``published_late`` —
    published after the due date) and working_days_late (working days after the due date up to
    the publication date, or up to ``today`` when unpublished), sorted by due_date.
    """
    today = np.datetime64(_as_date(today, "today"), "D")
    missing = [
        c for c in ("inspection_id", "institution_code", "start_date", "result_published") if c not in inspections
    ]
    if missing:
        raise ValueError(f"inspections is missing column(s) {missing}; it has {list(inspections.columns)}")
    data = inspections[inspections["start_date"].notna()]
    start = pd.to_datetime(data["start_date"]).to_numpy().astype("datetime64[D]")
    published = pd.to_datetime(data["result_published"]).to_numpy().astype("datetime64[D]")
    due = _add_working_days_array(start, PUBLICATION_WORKING_DAYS)
    unpublished = np.isnat(published) & (today > due)
    late = ~np.isnat(published) & (published > due)
    flagged = unpublished | late
    until = np.where(unpublished, today, published)
    result = pd.DataFrame(
        {
            "inspection_id": data["inspection_id"].to_numpy()[flagged],
            "institution_code": data["institution_code"].to_numpy()[flagged],
            "start_date": start[flagged].astype("datetime64[ns]"),
            "due_date": due[flagged].astype("datetime64[ns]"),
            "result_published": published[flagged].astype("datetime64[ns]"),
            "status": np.where(unpublished[flagged], "unpublished", "published_late"),
            "working_days_late": _working_days_between(due[flagged], until[flagged]),
        }
    )
    result = result.astype({"inspection_id": "string", "institution_code": "string", "status": "string"})
    return result.sort_values(["due_date", "inspection_id"], ignore_index=True)


# --------------------------------------------------------------------------- the calendar


def _add_working_days_array(days: np.ndarray, n: int) -> np.ndarray:
    """Vectorised: the n-th working day strictly after each day (the calendar grows a year at a time)."""
    if len(days) == 0:
        return days.astype("datetime64[D]")
    first, last = days.min().astype(dt.date).year, days.max().astype(dt.date).year
    while True:
        calendar = _working_days(first, last)
        positions = np.searchsorted(calendar, days, side="right") + n - 1
        if positions.max() < len(calendar):
            return calendar[positions]
        last += 1


def _working_days_between(due: np.ndarray, until: np.ndarray) -> np.ndarray:
    """Working days d with due < d <= until."""
    if len(due) == 0:
        return np.zeros(0, dtype="int64")
    first, last = due.min().astype(dt.date).year, until.max().astype(dt.date).year
    calendar = _working_days(first, last)
    return (np.searchsorted(calendar, until, side="right") - np.searchsorted(calendar, due, side="right")).astype(
        "int64"
    )


@functools.lru_cache(maxsize=64)
def _working_days(first_year: int, last_year: int) -> np.ndarray:
    """Sorted working days of the years first_year..last_year (inclusive)."""
    published = last_published_year()
    if last_year > published or first_year < _FIRST_YEAR:
        raise CalendarNotPublishedError(
            f"国务院节假日安排：已安装的 holidays 包只收录到 {published} 年，计算需要 {first_year}–{last_year} 年；"
            f"请升级 holidays / the installed holidays package carries China's official schedule for "
            f"{_FIRST_YEAR}–{published} only; {first_year}–{last_year} is needed: upgrade it"
        )
    calendar = holidays.China(years=range(first_year, last_year + 1))
    days = pd.date_range(f"{first_year}-01-01", f"{last_year}-12-31", freq="D").date
    working = [day for day in days if calendar.is_working_day(day)]
    return np.array(working, dtype="datetime64[D]")


def _working_days_set(year: int) -> frozenset:
    return frozenset(_working_days(year, year).tolist())


def _as_date(value: Any, name: str) -> dt.date:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a date such as '2025-10-09'; got {value!r}") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date such as '2025-10-09'; got {value!r}")
    return stamp.date()
