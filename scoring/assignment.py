"""Random assignment of inspectors to inspections (随机选派执法检查人员).

Inspectors come from the bureau's roster (执法人员名录库). For every inspection a team of at least
two active inspectors of the institution's own jurisdiction is drawn, at least one of them holding
an enforcement certificate, with recusal (回避) for declared conflicts and for inspectors who
inspected the same institution recently, and with a workload cap per inspector per draw.

The drawing itself is ``scoring.verify_draw.assign_teams`` (the published verifier replays it);
this module prepares its inputs from the roster and the inspection history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from scoring import verify_draw
from scoring._frames import as_timestamp, is_int, isin, known_keys, require_columns, split_list
from scoring.verify_draw import TeamAssignmentError

__all__ = [
    "InspectorPool",
    "TeamAssignmentError",
    "TeamRules",
    "assign_inspectors",
    "build_inspector_pool",
    "check_team_feasibility",
    "raise_if_infeasible",
    "teams_frame",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamRules:
    """How inspection teams are formed.

    team_size: inspectors per inspection, at least 2 (条例第二十九条).
    min_certified: of whom hold an enforcement certificate; the lead is always certified.
    max_assignments_per_inspector: workload cap per inspector in one draw; None for no cap.
    recent_inspection_months: an inspector who inspected the institution within this many months
        before the draw date is recused; None turns the rule off.
    include_higher_level_inspectors: also draw inspectors registered to the city (XXXX00) or
        province (XX0000) code that contains the institution's region; otherwise exact region only.
    """

    team_size: int = 2
    min_certified: int = 1
    max_assignments_per_inspector: int | None = 10
    recent_inspection_months: int | None = 12
    include_higher_level_inspectors: bool = False

    def __post_init__(self) -> None:
        if not is_int(self.team_size) or self.team_size < 2:
            raise ValueError(f"team_size must be an integer >= 2 (条例第二十九条); got {self.team_size!r}")
        if not is_int(self.min_certified) or not 1 <= self.min_certified <= self.team_size:
            raise ValueError(
                f"min_certified must be an integer between 1 and team_size ({self.team_size}); "
                f"got {self.min_certified!r}"
            )
        cap = self.max_assignments_per_inspector
        if cap is not None and (not is_int(cap) or cap < 1):
            raise ValueError(f"max_assignments_per_inspector must be None or an integer >= 1; got {cap!r}")
        months = self.recent_inspection_months
        if months is not None and (not is_int(months) or months < 1):
            raise ValueError(f"recent_inspection_months must be None or an integer >= 1; got {months!r}")
        if not isinstance(self.include_higher_level_inspectors, bool):
            raise ValueError(
                f"include_higher_level_inspectors must be true or false; got {self.include_higher_level_inspectors!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> TeamRules:
        return cls(**known_keys(cls, mapping, "TeamRules"))


@dataclass(frozen=True)
class InspectorPool:
    """The inspectors a draw may use and the pairs it must not form.

    available: inspector_code, region_code, certified (boolean) — active inspectors of the jurisdiction.
    recusals: inspector_code, institution_code, reason_code (``conflict`` or ``recent_inspection``),
        inspection_id (the recent inspection, else missing).
    excluded: inspector_code, reason_code, reason_zh, reason_en — roster entries of the jurisdiction
        that cannot be drawn.
    """

    available: pd.DataFrame
    recusals: pd.DataFrame
    excluded: pd.DataFrame
    rules: TeamRules
    as_of: pd.Timestamp

    def to_document(self, institution_codes: Iterable[str] | None = None) -> dict[str, Any]:
        """The pool-document section the draw commits to: team rules, inspectors, recusal pairs.

        Only recusals of available inspectors (and, when given, of the listed institutions) are kept;
        reasons are left out of the published document on purpose (a conflict is personal).
        """
        available = self.available.sort_values("inspector_code")
        codes = [verify_draw.check_code("inspector_code", code) for code in available["inspector_code"].tolist()]
        recusals = self.recusals[isin(self.recusals["inspector_code"], codes)]
        if institution_codes is not None:
            recusals = recusals[isin(recusals["institution_code"], institution_codes)]
        recused: dict[str, list[str]] = {}
        pairs = sorted(
            set(zip(recusals["inspector_code"].tolist(), recusals["institution_code"].tolist(), strict=True))
        )
        for inspector_code, institution_code in pairs:
            recused.setdefault(inspector_code, []).append(institution_code)
        certified = available["certified"].fillna(False).astype(bool).tolist()
        return {
            "team": self.rules.to_dict(),
            "available": [
                {"inspector_code": code, "region_code": region, "certified": flag}
                for code, region, flag in zip(codes, available["region_code"].tolist(), certified, strict=True)
            ],
            "recusals": recused,
        }


def build_inspector_pool(
    inspectors: pd.DataFrame,
    inspections: pd.DataFrame,
    *,
    as_of: Any,
    regions: Iterable[str],
    rules: TeamRules | None = None,
) -> InspectorPool:
    """Active inspectors of the jurisdiction, with recusals from conflicts and recent inspections."""
    rules = rules or TeamRules()
    as_of = as_timestamp(as_of)
    regions = sorted(set(regions))
    require_columns(inspectors, "inspectors", ["inspector_code", "region_code", "certified", "active"])
    require_columns(inspections, "inspections", ["inspection_id", "institution_code", "start_date", "inspector_codes"])
    local = inspectors[isin(inspectors["region_code"], _jurisdiction_regions(regions, rules))]
    active = local["active"].fillna(False).astype(bool)
    excluded = pd.DataFrame(
        {
            "inspector_code": local.loc[~active, "inspector_code"].astype("string"),
            "reason_code": "inactive",
            "reason_zh": "不在岗",
            "reason_en": "not active (在岗 = 否)",
        }
    ).reset_index(drop=True)
    available = pd.DataFrame(
        {
            "inspector_code": local.loc[active, "inspector_code"].astype("string"),
            "region_code": local.loc[active, "region_code"].astype("string"),
            "certified": local.loc[active, "certified"].fillna(False).astype("boolean"),
        }
    ).sort_values("inspector_code", ignore_index=True)
    recusals = pd.concat(
        [_conflict_recusals(local[active]), _recent_inspection_recusals(inspections, as_of, rules)],
        ignore_index=True,
    )
    recusals = recusals[isin(recusals["inspector_code"], available["inspector_code"])]
    recusals = recusals.sort_values(["inspector_code", "institution_code", "reason_code"], ignore_index=True)
    logger.info(
        "inspector pool as of %s: %d available, %d excluded, %d recusal pairs",
        as_of.date(),
        len(available),
        len(excluded),
        len(recusals),
    )
    return InspectorPool(available=available, recusals=recusals, excluded=excluded, rules=rules, as_of=as_of)


def check_team_feasibility(visits: pd.DataFrame, pool: InspectorPool) -> pd.DataFrame:
    """Institutions for which no team can be formed even before any workload is counted.

    ``visits`` has institution_code and region_code. Returns institution_code, region_code, active,
    recused, available, certified_available for every institution that fails; empty when all pass.
    """
    rules = pool.rules
    codes = pool.available["inspector_code"].tolist()
    region_of = dict(zip(codes, pool.available["region_code"].tolist(), strict=True))
    certified_of = dict(zip(codes, pool.available["certified"].fillna(False).astype(bool).tolist(), strict=True))
    active_in: dict[str, int] = {}
    certified_in: dict[str, int] = {}
    for code, region in region_of.items():
        active_in[region] = active_in.get(region, 0) + 1
        certified_in[region] = certified_in.get(region, 0) + certified_of[code]
    recused_for: dict[str, set[str]] = {}
    pairs = zip(pool.recusals["inspector_code"].tolist(), pool.recusals["institution_code"].tolist(), strict=True)
    for inspector_code, institution_code in pairs:
        if inspector_code in region_of:
            recused_for.setdefault(institution_code, set()).add(inspector_code)
    rows = []
    units = visits[["institution_code", "region_code"]].drop_duplicates("institution_code")
    for code, region in zip(units["institution_code"].tolist(), units["region_code"].tolist(), strict=True):
        covering = verify_draw.covering_regions(region, rules.include_higher_level_inspectors)
        recused = [i for i in recused_for.get(code, ()) if region_of[i] in covering]
        active = sum(active_in.get(r, 0) for r in covering)
        available = active - len(recused)
        certified = sum(certified_in.get(r, 0) for r in covering) - sum(certified_of[i] for i in recused)
        if available < rules.team_size or certified < rules.min_certified:
            rows.append((code, region, active, len(recused), available, certified))
    columns = ["institution_code", "region_code", "active", "recused", "available", "certified_available"]
    return pd.DataFrame(rows, columns=columns).sort_values("institution_code", ignore_index=True)


def raise_if_infeasible(visits: pd.DataFrame, pool: InspectorPool) -> None:
    """Raise TeamAssignmentError for the first institution that can never get a team (all are logged)."""
    failing = check_team_feasibility(visits, pool)
    if failing.empty:
        return
    logger.warning(
        "%d institution(s) cannot get an inspection team: %s",
        len(failing),
        ", ".join(failing["institution_code"].head(20)),
    )
    first = failing.iloc[0]
    raise TeamAssignmentError(
        str(first["institution_code"]),
        str(first["region_code"]),
        team_size=pool.rules.team_size,
        min_certified=pool.rules.min_certified,
        active=int(first["active"]),
        recused=int(first["recused"]),
        at_workload_cap=0,
        available=int(first["available"]),
        certified_available=int(first["certified_available"]),
    )


def assign_inspectors(visits: pd.DataFrame, pool: InspectorPool, *, seed: str, pool_hash: str) -> pd.DataFrame:
    """Draw a team for every visit (institution_code, region_code) with the seeded sampler.

    ``seed`` is the canonical seed value (``Seed.value``) and ``pool_hash`` the commitment published
    before the seed (for a random draw, its pool hash). Visits are served in ascending order of their
    institution ticket, so the workload cap does not favour any code range. Returns
    institution_code, lead_inspector_code, inspector_codes (``;``-joined, lead first), inspector_tickets
    (``;``-joined hex, same order). Raises TeamAssignmentError when a team cannot be formed.
    """
    units = visits[["institution_code", "region_code"]].drop_duplicates("institution_code")
    section = pool.to_document(units["institution_code"])
    teams = verify_draw.assign_teams(
        list(zip(units["institution_code"], units["region_code"], strict=True)), section, seed, pool_hash
    )
    return teams_frame(teams)


def teams_frame(teams: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Teams as returned by the verifier, as a DataFrame with ``;``-joined list columns."""
    return pd.DataFrame(
        {
            "institution_code": pd.array([team["institution_code"] for team in teams], dtype="string"),
            "lead_inspector_code": pd.array([team["lead_inspector_code"] for team in teams], dtype="string"),
            "inspector_codes": pd.array([";".join(team["inspector_codes"]) for team in teams], dtype="string"),
            "inspector_tickets": pd.array(
                [";".join(team["tickets"][code] for code in team["inspector_codes"]) for team in teams], dtype="string"
            ),
        }
    )


# --------------------------------------------------------------------------- helpers


def _jurisdiction_regions(regions: list[str], rules: TeamRules) -> set[str]:
    allowed = set(regions)
    if rules.include_higher_level_inspectors:
        for region in regions:
            allowed.update(verify_draw.covering_regions(region, True))
    return allowed


def _conflict_recusals(inspectors: pd.DataFrame) -> pd.DataFrame:
    if "conflicts" not in inspectors.columns:
        return _recusal_frame([], [], [], [])
    pairs = inspectors[["inspector_code", "conflicts"]].dropna(subset=["conflicts"])
    pairs = pairs.assign(institution_code=split_list(pairs["conflicts"])).explode("institution_code")
    pairs = pairs[pairs["institution_code"].notna() & (pairs["institution_code"] != "")]
    n = len(pairs)
    return _recusal_frame(pairs["inspector_code"], pairs["institution_code"], ["conflict"] * n, [pd.NA] * n)


def _recent_inspection_recusals(inspections: pd.DataFrame, as_of: pd.Timestamp, rules: TeamRules) -> pd.DataFrame:
    months = rules.recent_inspection_months
    if months is None or inspections.empty:
        return _recusal_frame([], [], [], [])
    start = pd.to_datetime(inspections["start_date"])
    recent = inspections[(start > as_of - pd.DateOffset(months=months)) & (start <= as_of)]
    pairs = recent[["inspection_id", "institution_code", "inspector_codes"]].dropna(subset=["inspector_codes"])
    pairs = pairs.assign(inspector_code=split_list(pairs["inspector_codes"])).explode("inspector_code")
    pairs = pairs[pairs["inspector_code"].notna() & (pairs["inspector_code"] != "")]
    n = len(pairs)
    return _recusal_frame(
        pairs["inspector_code"], pairs["institution_code"], ["recent_inspection"] * n, pairs["inspection_id"]
    )


def _recusal_frame(inspector_codes, institution_codes, reasons, inspection_ids) -> pd.DataFrame:
    def strings(values) -> pd.arrays.StringArray:
        # Through an object array: iterating an Arrow-backed Series element by element is slow.
        return pd.array(pd.Series(values, dtype=object).to_numpy(dtype=object), dtype="string")

    return pd.DataFrame(
        {
            "inspector_code": strings(inspector_codes),
            "institution_code": strings(institution_codes),
            "reason_code": strings(reasons),
            "inspection_id": strings(inspection_ids),
        }
    )
