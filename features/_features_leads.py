"""Leads (线索): complaints, referrals from other departments, staff points and suspended staff.

Dates of knowledge: a complaint from its ``received_date``; its outcome from its ``closed_date``, or,
when the outcome is filled but the closing date is not, from the end of the statutory handling time
(``COMPLAINT_HANDLING_DAYS`` after receipt). A referral from its ``date``; a staff point from its
``date``. The staff table's current ``status`` is not dated, so suspensions are derived from points:
a person is suspended when the year's points reach 9 and loses the qualification at 12 (national rule
of 2024, domain.md §3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._features_catalogue import FeatureSpec
from ._features_windows import NO_DAY, Queries, day_numbers, event_index, safe_ratio, window_label, window_text
from .contract import CODE_LISTS

COMPLAINT_HANDLING_DAYS = 90  # 60 working days under the 2022 complaint-handling measures
SUSPENSION_POINTS, TERMINATION_POINTS = 9, 12

# --- complaints -------------------------------------------------------------------------------------


def complaint_features(complaints: pd.DataFrame, institutions: pd.Index, queries: Queries) -> dict[str, np.ndarray]:
    inst = institutions.get_indexer(complaints["institution_code"].astype(str))
    received = day_numbers(complaints["received_date"])
    closed = day_numbers(complaints["closed_date"])
    outcome = complaints["substantiated"].astype("boolean")
    deadline = np.where(received == NO_DAY, NO_DAY, received + COMPLAINT_HANDLING_DAYS)
    resolved = np.where(closed != NO_DAY, np.maximum(closed, received), np.where(outcome.notna(), deadline, NO_DAY))
    substantiated = outcome.fillna(False).to_numpy(dtype=np.float64)
    unfounded = (~outcome.fillna(True)).to_numpy(dtype=np.float64)
    received_index = event_index(inst, received, pd.DataFrame({"n": np.ones(len(complaints))}))
    resolved_index = event_index(
        inst, resolved, pd.DataFrame({"n": 1.0, "substantiated": substantiated, "unfounded": unfounded})
    )
    out: dict[str, np.ndarray] = {}
    for window in (12, 36):
        label = window_label(window)
        out[f"cmp_received_{label}"] = queries.sums(received_index, window)["n"]
        out[f"cmp_substantiated_{label}"] = queries.sums(resolved_index, window)["substantiated"]
    resolved_36 = queries.sums(resolved_index, 36)
    out["cmp_unfounded_36m"] = resolved_36["unfounded"]
    out["cmp_substantiated_share_36m"] = safe_ratio(
        resolved_36["substantiated"], resolved_36["substantiated"] + resolved_36["unfounded"]
    )
    out["cmp_pending"] = queries.sums(received_index, None)["n"] - queries.sums(resolved_index, None)["n"]
    return out


def complaint_catalogue() -> list[FeatureSpec]:
    missing = "0 when none; missing when the complaints table is absent"
    outcome = "closed_date, else received_date + 90 days when the outcome is filled"
    specs = []
    for window in (12, 36):
        label = window_label(window)
        specs += [
            FeatureSpec(
                f"cmp_received_{label}",
                f"近{window}个月投诉举报数",
                "complaints received",
                "complaints",
                "complaints (received_date)",
                window_text(window, "received_date"),
                missing,
            ),
            FeatureSpec(
                f"cmp_substantiated_{label}",
                f"近{window}个月查实投诉数",
                "complaints found substantiated",
                "complaints",
                f"complaints ({outcome})",
                window_text(window, "outcome date"),
                missing,
            ),
        ]
    specs += [
        FeatureSpec(
            "cmp_unfounded_36m",
            "近36个月不实投诉数",
            "complaints closed as unfounded",
            "complaints",
            f"complaints ({outcome})",
            window_text(36, "outcome date"),
            missing,
        ),
        FeatureSpec(
            "cmp_substantiated_share_36m",
            "近36个月投诉查实率",
            "substantiated / complaints with an outcome",
            "complaints",
            f"complaints ({outcome})",
            window_text(36, "outcome date"),
            "missing when no complaint had an outcome in the window or the table is absent",
        ),
        FeatureSpec(
            "cmp_pending",
            "在办投诉数",
            "complaints received before as_of without an outcome by as_of",
            "complaints",
            "complaints (received_date, outcome date)",
            "as of as_of",
            missing,
        ),
    ]
    return specs


# --- referrals --------------------------------------------------------------------------------------

DEPARTMENTS = tuple(CODE_LISTS["department"])


def referral_features(referrals: pd.DataFrame, institutions: pd.Index, queries: Queries) -> dict[str, np.ndarray]:
    department = referrals["department"].astype(str).to_numpy()
    weights = pd.DataFrame({"n": np.ones(len(referrals))} | {d: (department == d).astype(float) for d in DEPARTMENTS})
    index = event_index(
        institutions.get_indexer(referrals["institution_code"].astype(str)), day_numbers(referrals["date"]), weights
    )
    s12, s36 = queries.sums(index, 12), queries.sums(index, 36)
    return {"ref_n_12m": s12["n"], "ref_n_36m": s36["n"]} | {f"ref_{d}_36m": s36[d] for d in DEPARTMENTS}


def referral_catalogue() -> list[FeatureSpec]:
    missing = "0 when none; missing when the referrals table is absent"
    src = "referrals (date)"
    specs = [
        FeatureSpec(
            "ref_n_12m",
            "近12个月部门通报数",
            "referrals from other departments",
            "referrals",
            src,
            window_text(12, "date"),
            missing,
        ),
        FeatureSpec(
            "ref_n_36m",
            "近36个月部门通报数",
            "referrals from other departments",
            "referrals",
            src,
            window_text(36, "date"),
            missing,
        ),
    ]
    for code, zh in CODE_LISTS["department"].items():
        specs.append(
            FeatureSpec(
                f"ref_{code}_36m",
                f"近36个月{zh}部门通报数",
                f"referrals from {code}",
                "referrals",
                src,
                window_text(36, "date"),
                missing,
            )
        )
    return specs


# --- staff points -----------------------------------------------------------------------------------


def _threshold_days(points: pd.DataFrame) -> pd.DataFrame:
    """Per staff event: the year's running total, and whether this event crossed 9 or 12 points."""
    frame = pd.DataFrame(
        {
            "staff_code": points["staff_code"].astype(str).to_numpy(),
            "institution_code": points["institution_code"].astype(str).to_numpy(),
            "date": pd.to_datetime(points["date"]).to_numpy(),
            "points": points["points"].astype("Float64").fillna(0).to_numpy(np.float64),
            "event_id": points["event_id"].astype(str).to_numpy(),
        }
    ).dropna(subset=["date"])
    frame["year"] = pd.DatetimeIndex(frame["date"]).year
    frame = frame.sort_values(["staff_code", "year", "date", "event_id"], kind="stable")
    running = frame.groupby(["staff_code", "year"], sort=False)["points"].cumsum()
    before = running - frame["points"]
    frame["crossed_suspension"] = ((before < SUSPENSION_POINTS) & (running >= SUSPENSION_POINTS)).astype(float)
    frame["crossed_termination"] = ((before < TERMINATION_POINTS) & (running >= TERMINATION_POINTS)).astype(float)
    return frame


def _distinct_staff(frame: pd.DataFrame, institutions: pd.Index, queries: Queries, window: int) -> np.ndarray:
    """Staff with at least one point event in the window before each query."""
    out = np.zeros(len(queries))
    if frame.empty:
        return out
    q = pd.DataFrame(
        {
            "row": np.arange(len(queries)),
            "inst": queries.institution,
            "end": queries.day,
            "start": queries.starts[window],
        }
    )
    events = pd.DataFrame(
        {
            "inst": institutions.get_indexer(frame["institution_code"]),
            "staff": frame["staff_code"].to_numpy(),
            "day": day_numbers(frame["date"]),
        }
    )
    pairs = q.merge(events[events["inst"] >= 0], on="inst")
    inside = pairs[(pairs["day"] >= pairs["start"]) & (pairs["day"] < pairs["end"])]
    counts = inside.groupby("row")["staff"].nunique()
    out[counts.index.to_numpy()] = counts.to_numpy()
    return out


def staff_point_features(points: pd.DataFrame, institutions: pd.Index, queries: Queries) -> dict[str, np.ndarray]:
    frame = _threshold_days(points)
    index = event_index(
        institutions.get_indexer(frame["institution_code"]),
        day_numbers(frame["date"]),
        frame[["points", "crossed_suspension", "crossed_termination"]].assign(n=1.0),
    )
    s12, s36 = queries.sums(index, 12), queries.sums(index, 36)
    return {
        "stf_points_12m": s12["points"],
        "stf_events_12m": s12["n"],
        "stf_staff_scored_12m": _distinct_staff(frame, institutions, queries, 12),
        "stf_points_36m": s36["points"],
        "stf_suspended_12m": s12["crossed_suspension"],
        "stf_terminated_36m": s36["crossed_termination"],
    }


def staff_point_catalogue() -> list[FeatureSpec]:
    missing = "0 when none; missing when the staff_points table is absent"
    src = "staff_points (date)"
    rows = [
        ("stf_points_12m", "近12个月人员记分合计", "points given to the institution's staff", 12),
        ("stf_events_12m", "近12个月人员记分次数", "point events", 12),
        ("stf_staff_scored_12m", "近12个月被记分人数", "distinct staff scored", 12),
        ("stf_points_36m", "近36个月人员记分合计", "points given to the institution's staff", 36),
        (
            "stf_suspended_12m",
            "近12个月暂停支付资格人数",
            f"staff whose points in a calendar year reached {SUSPENSION_POINTS} (payment qualification suspended)",
            12,
        ),
        (
            "stf_terminated_36m",
            "近36个月终止支付资格人数",
            f"staff whose points in a calendar year reached {TERMINATION_POINTS} (payment qualification terminated)",
            36,
        ),
    ]
    return [
        FeatureSpec(name, zh, meaning, "staff_points", src, window_text(window, "date"), missing)
        for name, zh, meaning, window in rows
    ]
