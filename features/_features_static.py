"""Static features (机构基本情况) and the institutions active at a date.

An institution is active at ``t`` when it was designated on or before ``t`` and not terminated before
``t``. The contract keeps only the current status and the date it took effect (``status_since``):
before that date the institution is taken to have been active; a termination or suspension without
a date is taken to hold at every date (it cannot be placed in time, and scoring an institution whose
agreement has ended would be worse than leaving it out of history).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._features_catalogue import FeatureSpec
from ._features_windows import NO_DAY, Queries, day_numbers

FAMILY = "static"


def active_mask(institutions: pd.DataFrame, as_of_day: int) -> np.ndarray:
    """Which institutions (rows) are active on day ``as_of_day``."""
    designated = day_numbers(institutions["designated_since"])
    since = (
        day_numbers(institutions["status_since"])
        if "status_since" in institutions
        else np.full(len(institutions), NO_DAY)
    )
    terminated = institutions["status"].astype(str).to_numpy() == "terminated"
    ended = terminated & ((since == NO_DAY) | (since < as_of_day))
    return (designated != NO_DAY) & (designated <= as_of_day) & ~ended


def status_at(institutions: pd.DataFrame, rows: np.ndarray, as_of_day: np.ndarray) -> np.ndarray:
    """The agreement status in force on each query day: the current status once it took effect."""
    status = institutions["status"].astype(str).to_numpy()[rows]
    since = (
        day_numbers(institutions["status_since"])[rows]
        if "status_since" in institutions
        else np.full(len(rows), NO_DAY)
    )
    in_force = (since == NO_DAY) | (since <= as_of_day)
    return np.where(in_force, status, "active")


def static_features(institutions: pd.DataFrame, queries: Queries) -> dict[str, object]:
    rows = queries.institution
    designated = pd.DatetimeIndex(pd.to_datetime(institutions["designated_since"]))[rows]
    level = institutions["level"].astype("Int64").to_numpy()[rows] if "level" in institutions else None
    years = (queries.as_of - designated).days.to_numpy(np.float64) / 365.25
    return {
        "kind": pd.array(institutions["kind"].astype(str).to_numpy()[rows], dtype="str"),
        "level": pd.array(level, dtype="Int64") if level is not None else pd.array([pd.NA] * len(rows), dtype="Int64"),
        "ownership": pd.array(institutions["ownership"].astype(str).to_numpy()[rows], dtype="str"),
        "beds": pd.array(_int_column(institutions, "beds")[rows], dtype="Int64"),
        "staff_count": pd.array(_int_column(institutions, "staff_count")[rows], dtype="Int64"),
        "years_designated": years,
        "status": pd.array(status_at(institutions, rows, queries.day), dtype="str"),
    }


def _int_column(institutions: pd.DataFrame, name: str) -> np.ndarray:
    if name not in institutions:
        return pd.array([pd.NA] * len(institutions), dtype="Int64").to_numpy()
    return institutions[name].astype("Int64").to_numpy()


def static_catalogue() -> list[FeatureSpec]:
    src = "institutions"
    rows = [
        (
            "kind",
            "机构类型",
            "institution kind (hospital, primary_care, village_clinic, clinic, pharmacy)",
            "never missing (required)",
        ),
        (
            "level",
            "医院等级",
            "hospital level 3/2/1, 0 unrated; peer groups are kind × level",
            "missing when not given (peer groups then use level 0)",
        ),
        (
            "ownership",
            "所有制",
            "public or private (for disparity audits; identity, not conduct)",
            "never missing (required)",
        ),
        ("beds", "床位数", "beds (size)", "missing when not given"),
        ("staff_count", "职工人数", "staff (size)", "missing when not given"),
        ("years_designated", "定点年限", "years from designated_since to as_of", "never missing (required)"),
        (
            "status",
            "协议状态",
            "agreement status in force at as_of: active or suspended (the current status once "
            "status_since has passed; undated statuses hold at every date)",
            "never missing (required)",
        ),
    ]
    return [FeatureSpec(name, zh, meaning, FAMILY, src, "as of as_of", missing) for name, zh, meaning, missing in rows]
