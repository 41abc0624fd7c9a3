"""DataFrames from the layers below → JSON-ready records (None for missing, Python scalars)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, datetime | date):
        return value
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, in frame order."""
    columns = [str(c) for c in frame.columns]
    return [dict(zip(columns, map(_plain, row), strict=True)) for row in frame.itertuples(index=False, name=None)]


def as_date(value: Any) -> date | None:
    """A date from a date, datetime or Timestamp (None stays None)."""
    value = _plain(value)
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value
