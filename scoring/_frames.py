"""Small DataFrame and argument helpers shared by the inspection-selection modules.

Private to ``scoring``: ``draws``, ``assignment``, ``targeting`` and ``plan`` use them so that
their inputs are checked, and their list cells split, in one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["as_timestamp", "is_int", "isin", "known_keys", "require_columns", "split_list"]


def isin(values: pd.Series, allowed: Iterable[Any]) -> pd.Series:
    """``values.isin(allowed)`` through a hash table (pandas' Arrow-string isin is slow for long lists)."""
    allowed = np.asarray(
        list(allowed) if not isinstance(allowed, pd.Series | pd.Index | np.ndarray) else allowed, dtype=object
    )
    return values.astype(object).isin(allowed)


def split_list(values: pd.Series) -> pd.Series:
    """``;``-joined list cells (also tolerating the full-width ``；``) as lists of stripped codes.

    Missing cells give empty lists. Plain Python over an object array: for short cells this is
    several times faster than pandas' string accessor over Arrow strings.
    """
    cells = values.astype(object).where(values.notna(), "").tolist()
    lists = [[part.strip() for part in str(cell).replace("；", ";").split(";") if part.strip()] for cell in cells]
    return pd.Series(lists, index=values.index, dtype=object)


def require_columns(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    """Raise ValueError naming the columns ``frame`` lacks (and the ones it has)."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{table} is missing column(s) {missing}; it has {list(frame.columns)}")


def as_timestamp(value: Any, name: str = "as_of") -> pd.Timestamp:
    """A date argument as a midnight Timestamp; ValueError naming ``name`` otherwise."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a date such as '2025-03-01'; got {value!r}") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date such as '2025-03-01'; got {value!r}")
    return stamp.normalize()


def is_int(value: Any) -> bool:
    """A true integer (``bool`` is not one, although Python says it is)."""
    return isinstance(value, int) and not isinstance(value, bool)


def known_keys(cls: type, mapping: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``mapping`` as constructor arguments of dataclass ``cls``; unknown keys are an error."""
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"{name} has unknown key(s) {unknown}; allowed: {allowed}")
    return dict(mapping)
