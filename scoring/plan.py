"""The yearly inspection plan (年度检查计划): every active institution at least once (全覆盖).

Monthly capacity is what the inspectors can staff: inspectors x visits per inspector per month /
team size (rounded down). Random and targeted rounds sit in the months the bureau configures,
either as known lists of institutions or as a number of visits reserved before the draw; routine
visits fill what is left, spread over the working months in proportion to their spare capacity,
riskier grades first. Checks of one institution in the same month are one visit (综合查一次).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from scoring._frames import is_int
from scoring.targeting import merge_visits

__all__ = ["PlanCapacityError", "PlanRules", "PlannedRound", "YearlyPlan", "build_yearly_plan", "monthly_capacity"]

logger = logging.getLogger(__name__)

GRADE_PRIORITY = {"E": 0, "D": 1, "C": 2, "B": 3, "A": 4}
ROUND_ORIGINS = ("random", "targeted")
ORIGIN_ZH = {"random": "双随机抽查", "targeted": "重点检查"}


class PlanCapacityError(ValueError):
    """The inspectors cannot staff the plan; the message gives the numbers (Chinese / English)."""

    def __init__(self, message_zh: str, message_en: str, **numbers: int) -> None:
        self.message_zh = message_zh
        self.message_en = message_en
        self.numbers = numbers
        super().__init__(f"{message_zh} / {message_en}")


@dataclass(frozen=True)
class PlanRules:
    """Planning parameters for one calendar year."""

    year: int
    visits_per_inspector_per_month: int = 4
    team_size: int = 2
    working_months: tuple[int, ...] = tuple(range(1, 13))
    routine_items: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "working_months", tuple(sorted(set(self.working_months))))
        object.__setattr__(self, "routine_items", tuple(self.routine_items))
        if not is_int(self.year) or not 2000 <= self.year <= 2100:
            raise ValueError(f"year must be an integer between 2000 and 2100; got {self.year!r}")
        if not is_int(self.visits_per_inspector_per_month) or self.visits_per_inspector_per_month < 1:
            raise ValueError(
                f"visits_per_inspector_per_month must be an integer >= 1; got {self.visits_per_inspector_per_month!r}"
            )
        if not is_int(self.team_size) or self.team_size < 2:
            raise ValueError(f"team_size must be an integer >= 2; got {self.team_size!r}")
        if not self.working_months or not all(is_int(m) and 1 <= m <= 12 for m in self.working_months):
            raise ValueError(f"working_months must be a non-empty list of months 1-12; got {list(self.working_months)}")


@dataclass(frozen=True)
class PlannedRound:
    """A random or targeted round placed in one month.

    visits: the institutions (DataFrame with institution_code and optional items) when known, or the
        number of visits to reserve when the round is drawn later.
    items: check items added to every visit of the round.
    """

    origin: Literal["random", "targeted"]
    month: int
    visits: int | pd.DataFrame
    items: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.origin not in ROUND_ORIGINS:
            raise ValueError(f"origin must be one of {list(ROUND_ORIGINS)}; got {self.origin!r}")
        if not is_int(self.month) or not 1 <= self.month <= 12:
            raise ValueError(f"month must be an integer 1-12; got {self.month!r}")
        if isinstance(self.visits, pd.DataFrame):
            if "institution_code" not in self.visits.columns:
                raise ValueError(f"visits needs an institution_code column; got {list(self.visits.columns)}")
        elif not is_int(self.visits) or self.visits < 0:
            raise ValueError(f"visits must be a DataFrame of institutions or an integer >= 0; got {self.visits!r}")
        object.__setattr__(self, "items", tuple(self.items))

    @property
    def reserved(self) -> int:
        """Visits reserved without a list (0 when the list is known)."""
        return 0 if isinstance(self.visits, pd.DataFrame) else self.visits


@dataclass(frozen=True)
class YearlyPlan:
    """visits: institution_code, month, origins, items (one row per visit).
    months: month, capacity, random, targeted, routine, planned, spare (random/targeted include reservations).
    """

    visits: pd.DataFrame
    months: pd.DataFrame


def monthly_capacity(inspectors: int, visits_per_inspector_per_month: int, team_size: int) -> int:
    """Visits the inspectors can staff in a month: inspectors x visits per inspector / team size, rounded down."""
    return inspectors * visits_per_inspector_per_month // team_size


def build_yearly_plan(
    institutions: pd.DataFrame,
    *,
    inspectors: pd.DataFrame | int,
    rules: PlanRules,
    rounds: Sequence[PlannedRound] = (),
) -> YearlyPlan:
    """Place every active institution at least once in ``rules.year`` within monthly capacity.

    ``institutions`` has institution_code and optionally status (only ``active`` ones are planned)
    and grade (riskier grades are visited earlier). ``inspectors`` is the roster (active ones are
    counted) or a head count. Raises PlanCapacityError when a month or the year cannot be staffed.
    """
    active = _active_institutions(institutions)
    head_count = _inspector_count(inspectors)
    capacity = monthly_capacity(head_count, rules.visits_per_inspector_per_month, rules.team_size)
    capacities = {month: capacity if month in rules.working_months else 0 for month in range(1, 13)}
    round_visits = _round_visits(rounds)
    reserved = {(origin, month): 0 for origin in ROUND_ORIGINS for month in range(1, 13)}
    for planned in rounds:
        reserved[(planned.origin, planned.month)] += planned.reserved
    load = {month: reserved[("random", month)] + reserved[("targeted", month)] for month in range(1, 13)}
    for month, count in round_visits.groupby("month").size().items():
        load[int(month)] += int(count)
    _check_round_months(load, capacities, rules, head_count)
    covered = set(round_visits["institution_code"])
    uncovered = active[~active["institution_code"].isin(list(covered))]
    spare = {month: capacities[month] - load[month] for month in range(1, 13)}
    _check_coverage(len(uncovered), len(active), spare, reserved, round_visits, rules, head_count, capacity)
    routine = _place_routine(uncovered, spare, rules)
    visits = pd.concat([round_visits, routine], ignore_index=True)
    visits = visits.sort_values(["month", "institution_code"], ignore_index=True)
    visits["month"] = visits["month"].astype("int64")
    months = _month_summary(visits, capacities, reserved)
    logger.info("yearly plan %d: %d visits, %d routine", rules.year, len(visits), len(routine))
    return YearlyPlan(visits=visits, months=months)


def _active_institutions(institutions: pd.DataFrame) -> pd.DataFrame:
    if "institution_code" not in institutions.columns:
        raise ValueError(f"institutions needs an institution_code column; got {list(institutions.columns)}")
    active = institutions
    if "status" in institutions.columns:
        active = institutions[institutions["status"].eq("active").fillna(False).astype(bool)]
    return active.drop_duplicates("institution_code")


def _inspector_count(inspectors: pd.DataFrame | int) -> int:
    if isinstance(inspectors, pd.DataFrame):
        if "active" not in inspectors.columns:
            return len(inspectors)
        return int(inspectors["active"].fillna(False).astype(bool).sum())
    if not is_int(inspectors) or inspectors < 0:
        raise ValueError(f"inspectors must be the roster or a head count >= 0; got {inspectors!r}")
    return inspectors


def _round_visits(rounds: Sequence[PlannedRound]) -> pd.DataFrame:
    """Known round lists as visits, merged per institution and month."""
    frames = []
    for month in sorted({planned.month for planned in rounds}):
        lists = {origin: [] for origin in ROUND_ORIGINS}
        for planned in rounds:
            if planned.month == month and isinstance(planned.visits, pd.DataFrame) and not planned.visits.empty:
                lists[planned.origin].append(_with_items(planned.visits, planned.items))
        merged = merge_visits(
            random=pd.concat(lists["random"]) if lists["random"] else None,
            targeted=pd.concat(lists["targeted"]) if lists["targeted"] else None,
        )
        frames.append(merged.assign(month=month))
    columns = ["institution_code", "month", "origins", "items"]
    if not frames:
        return pd.DataFrame(
            {
                "institution_code": pd.array([], dtype="string"),
                "month": pd.array([], dtype="int64"),
                "origins": pd.array([], dtype="string"),
                "items": pd.array([], dtype="string"),
            }
        )
    return pd.concat(frames, ignore_index=True)[columns]


def _with_items(visits: pd.DataFrame, items: tuple[str, ...]) -> pd.DataFrame:
    """The round's visits with the round's own items added to each."""
    base = visits["items"].fillna("").astype(str).tolist() if "items" in visits.columns else [""] * len(visits)
    joined = [";".join(sorted({part for part in text.split(";") if part} | set(items))) for text in base]
    return pd.DataFrame({"institution_code": visits["institution_code"].astype(str).tolist(), "items": joined})


def _check_round_months(load: dict[int, int], capacities: dict[int, int], rules: PlanRules, head_count: int) -> None:
    for month, planned in load.items():
        if planned > capacities[month]:
            working = month in rules.working_months
            why_zh = f"执法人员 {head_count} 名" if working else "非工作月"
            why_en = f"{head_count} inspectors" if working else "not a working month"
            raise PlanCapacityError(
                f"{rules.year} 年 {month} 月安排的双随机/重点检查 {planned} 组次超过当月检查能力 "
                f"{capacities[month]} 组次（{why_zh}）",
                f"{rules.year}-{month:02d}: {planned} random/targeted visits exceed the month's capacity of "
                f"{capacities[month]} ({why_en})",
                month=month,
                planned=planned,
                capacity=capacities[month],
            )


def _check_coverage(
    needed: int,
    active: int,
    spare: dict[int, int],
    reserved: dict,
    round_visits: pd.DataFrame,
    rules: PlanRules,
    head_count: int,
    capacity: int,
) -> None:
    available = sum(spare.values())
    if needed <= available:
        return
    random_total = sum(v for (origin, _), v in reserved.items() if origin == "random")
    random_total += int(round_visits["origins"].str.contains("random").sum())
    targeted_total = sum(v for (origin, _), v in reserved.items() if origin == "targeted")
    targeted_total += int(round_visits["origins"].str.contains("targeted").sum())
    months = len(rules.working_months)
    raise PlanCapacityError(
        f"{rules.year} 年检查计划无法覆盖全部 {active} 家在册机构：尚需安排日常检查 {needed} 家，"
        f"各月剩余检查能力合计 {available} 组次，缺口 {needed - available} 组次"
        f"（执法人员 {head_count} 名 × 每人每月 {rules.visits_per_inspector_per_month} 次 ÷ 每组 {rules.team_size} 人"
        f" = 每月 {capacity} 组次，共 {months} 个工作月；已安排双随机 {random_total}、重点检查 {targeted_total} 组次）",
        f"the {rules.year} plan cannot cover all {active} active institutions: {needed} routine visits needed, "
        f"{available} left across the months, short by {needed - available} ({head_count} inspectors x "
        f"{rules.visits_per_inspector_per_month} visits per month / teams of {rules.team_size} = {capacity} a month, "
        f"{months} working months; random {random_total}, targeted {targeted_total} already planned)",
        needed=needed,
        available=available,
        shortfall=needed - available,
        inspectors=head_count,
        monthly_capacity=capacity,
        working_months=months,
    )


def _place_routine(uncovered: pd.DataFrame, spare: dict[int, int], rules: PlanRules) -> pd.DataFrame:
    """Routine visits, riskier grades and earlier months first, months filled in proportion to spare capacity."""
    quotas = _proportional_quotas(len(uncovered), {m: spare[m] for m in rules.working_months})
    order = uncovered.assign(
        _grade=uncovered["grade"].map(GRADE_PRIORITY).fillna(len(GRADE_PRIORITY)) if "grade" in uncovered else 0,
        _region=uncovered["region_code"].astype(str) if "region_code" in uncovered else "",
    ).sort_values(["_grade", "_region", "institution_code"])
    months = [month for month in sorted(quotas) for _ in range(quotas[month])]
    return pd.DataFrame(
        {
            "institution_code": order["institution_code"].astype("string").tolist(),
            "month": months,
            "origins": "routine",
            "items": ";".join(sorted(rules.routine_items)),
        }
    ).astype({"institution_code": "string", "origins": "string", "items": "string"})


def _proportional_quotas(total: int, spare: dict[int, int]) -> dict[int, int]:
    """Split ``total`` over months in proportion to spare capacity (largest remainder, earlier month first)."""
    capacity = sum(spare.values())
    if total == 0 or capacity == 0:
        return {month: 0 for month in spare}
    quotas = {month: total * room // capacity for month, room in spare.items()}
    remainders = sorted(spare, key=lambda month: (-(total * spare[month] % capacity), month))
    for month in remainders[: total - sum(quotas.values())]:
        quotas[month] += 1
    return quotas


def _month_summary(visits: pd.DataFrame, capacities: dict[int, int], reserved: dict) -> pd.DataFrame:
    rows = []
    for month in range(1, 13):
        in_month = visits[visits["month"] == month]
        origins = in_month["origins"].astype(str)
        random = int(origins.str.contains("random").sum()) + reserved[("random", month)]
        targeted = int(origins.str.contains("targeted").sum()) + reserved[("targeted", month)]
        planned = len(in_month) + reserved[("random", month)] + reserved[("targeted", month)]
        rows.append(
            {
                "month": month,
                "capacity": capacities[month],
                "random": random,
                "targeted": targeted,
                "routine": int(origins.eq("routine").sum()),
                "planned": planned,
                "spare": capacities[month] - planned,
            }
        )
    return pd.DataFrame(rows).astype("int64")
