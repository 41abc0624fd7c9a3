"""Random inspection draws (双随机抽查): eligible pool, commitment, seeded selection.

The stages, in the order a bureau runs them:

1. ``build_eligible_pool`` — the institutions that may be drawn today, and every exclusion with its
   reason (inactive, yearly routine cap reached, same item checked recently, cleared by a higher
   level).
2. ``freeze_pool`` — the pool document (strata, design, jurisdiction, inspectors) and its SHA-256
   ``pool_hash``, published before any seed exists.
3. ``draw_random_inspections`` — with a seed from outside (dice or a public beacon), the selection
   and inspector teams, as a draw document anyone can replay with ``scoring/verify_draw.py``.

All hashing, ranking and team drawing is done by ``scoring.verify_draw`` so that the published
verifier and the service share one definition of the algorithm.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal

import pandas as pd

from features.contract import CODE_LISTS
from scoring import verify_draw
from scoring._frames import as_timestamp, is_int, isin, known_keys, require_columns
from scoring.assignment import InspectorPool, raise_if_infeasible, teams_frame

__all__ = [
    "DEFAULT_RATIOS",
    "DrawDesign",
    "DrawResult",
    "FrozenPool",
    "PoolResult",
    "PoolRules",
    "Seed",
    "build_eligible_pool",
    "draw_random_inspections",
    "freeze_pool",
]

logger = logging.getLogger(__name__)

DEFAULT_RATIOS: dict[str, str] = {"A": "0.02", "B": "0.05", "C": "0.15", "D": "0.3", "E": "0.5"}
LEVEL_RANK: dict[str, int] = {"county": 1, "city": 2, "province": 3}
INSPECTION_KINDS = tuple(CODE_LISTS["inspection_kind"])

# reason_code -> (Chinese template, English template); the order is the order rules are applied.
EXCLUSION_REASONS: dict[str, tuple[str, str]] = {
    "not_active": ("协议状态为「{status_zh}」，非正常履约", "agreement status is {status}, not active"),
    "not_yet_designated": ("定点日期 {date} 晚于抽查基准日", "designated on {date}, after the draw date"),
    "routine_cap_reached": (
        "{year} 年已接受日常类现场检查 {count} 次，达到年度上限 {cap} 次",
        "{count} routine-type on-site inspection(s) in {year}, at the yearly cap of {cap}",
    ),
    "same_item_recent": (
        "近 {months} 个月内已检查同一事项「{item}」（检查编号 {inspection_id}，{date}）",
        "item {item} already checked within {months} months (inspection {inspection_id}, {date})",
    ),
    "higher_level_no_findings": (
        "近 {months} 个月内{level_zh}检查同一事项「{item}」未发现问题（检查编号 {inspection_id}，{date}）",
        "{level}-level inspection of item {item} found nothing within {months} months "
        "(inspection {inspection_id}, {date})",
    ),
}


# --------------------------------------------------------------------------- 1. the eligible pool


@dataclass(frozen=True)
class PoolRules:
    """Which institutions may enter a random draw (all defaults follow domain.md §4).

    routine_cap_per_year: on-site routine-type inspections per institution per calendar year; an
        institution that has had this many by the draw date is excluded.
    cap_counted_kinds: inspection kinds that count toward that cap. Lead-driven visits (targeted,
        complaint, flying) bypass it.
    same_item_window_months: an institution whose check item was inspected within this many months
        is excluded (the window is (as_of - months, as_of]).
    same_item_all_levels: whether that rule counts inspections of every level; by default only the
        bureau's own level and lower levels count, and higher levels follow the next rule.
    higher_level_window_months: an institution a higher level inspected for the same item within this
        many months without findings is excluded (with findings, the lower level may follow up).
    bureau_level: the level of the bureau running the draw (province, city or county).
    stratum_column: the institutions column that gives the stratum (the credit grade).
    ungraded_stratum: stratum for eligible institutions without a grade; None makes them an error.
    """

    routine_cap_per_year: int = 1
    cap_counted_kinds: tuple[str, ...] = ("routine", "random", "special", "cross")
    same_item_window_months: int = 12
    same_item_all_levels: bool = False
    higher_level_window_months: int = 12
    bureau_level: str = "city"
    stratum_column: str = "grade"
    ungraded_stratum: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cap_counted_kinds", tuple(self.cap_counted_kinds))
        for name in ("routine_cap_per_year", "same_item_window_months", "higher_level_window_months"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        unknown = [kind for kind in self.cap_counted_kinds if kind not in INSPECTION_KINDS]
        if unknown or not self.cap_counted_kinds:
            raise ValueError(
                f"cap_counted_kinds must be a non-empty list of {list(INSPECTION_KINDS)}; "
                f"got {list(self.cap_counted_kinds)}"
            )
        if self.bureau_level not in LEVEL_RANK:
            raise ValueError(f"bureau_level must be one of {list(LEVEL_RANK)}; got {self.bureau_level!r}")
        if not isinstance(self.same_item_all_levels, bool):
            raise ValueError(f"same_item_all_levels must be true or false; got {self.same_item_all_levels!r}")
        if not isinstance(self.stratum_column, str) or not self.stratum_column:
            raise ValueError(f"stratum_column must be a column name; got {self.stratum_column!r}")
        if self.ungraded_stratum is not None and (
            not isinstance(self.ungraded_stratum, str) or not self.ungraded_stratum
        ):
            raise ValueError(
                f"ungraded_stratum must be None or a stratum name such as 'B'; got {self.ungraded_stratum!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cap_counted_kinds"] = list(self.cap_counted_kinds)
        return data

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> PoolRules:
        return cls(**known_keys(cls, mapping, "PoolRules"))


@dataclass(frozen=True)
class PoolResult:
    """The eligible pool on ``as_of``.

    eligible: institution_code, region_code, stratum — sorted by institution_code.
    excluded: institution_code, reason_code, reason_zh, reason_en, inspection_id — one row per
        institution and reason (an institution excluded for two reasons appears twice); only
        institutions of the jurisdiction are listed.
    """

    eligible: pd.DataFrame
    excluded: pd.DataFrame
    as_of: pd.Timestamp
    regions: tuple[str, ...]
    item: str | None
    rules: PoolRules


def build_eligible_pool(
    institutions: pd.DataFrame,
    inspections: pd.DataFrame,
    *,
    as_of: Any,
    regions: Iterable[str],
    item: str | None,
    rules: PoolRules | None = None,
) -> PoolResult:
    """Active institutions of the jurisdiction that may be drawn for ``item`` on ``as_of``.

    ``institutions`` follows the contract plus the stratum column (``grade`` by default);
    ``inspections`` follows the contract. Only inspections that started on or before ``as_of`` are
    considered. With ``item=None`` the two same-item rules do not apply.
    """
    rules = rules or PoolRules()
    as_of = as_timestamp(as_of)
    regions = _check_regions(regions)
    if item is not None and (not isinstance(item, str) or not item.strip()):
        raise ValueError(f"item must be None or a check-item code; got {item!r}")
    require_columns(institutions, "institutions", ["institution_code", "region_code", "status", rules.stratum_column])
    require_columns(
        inspections,
        "inspections",
        ["inspection_id", "institution_code", "start_date", "kind", "level", "items", "found_violation"],
    )
    local = institutions[isin(institutions["region_code"], regions)]
    active = local["status"].eq("active").fillna(False).astype(bool)
    designated = pd.to_datetime(local.get("designated_since", pd.Series(pd.NaT, index=local.index)))
    not_yet = active & (designated > as_of).fillna(False).astype(bool)
    candidates = local[active & ~not_yet]
    history = inspections[isin(inspections["institution_code"], candidates["institution_code"])].copy()
    history["start_date"] = pd.to_datetime(history["start_date"])
    history = history[history["start_date"] <= as_of]
    context = {"as_of": as_of, "item": item, "rules": rules}
    excluded = _exclusion_table(
        [
            _status_exclusions(local[~active]),
            _not_designated_exclusions(local[not_yet], designated),
            _cap_exclusions(history, **context),
            _same_item_exclusions(history, **context),
            _higher_level_exclusions(history, **context),
        ]
    )
    eligible = candidates[~isin(candidates["institution_code"], excluded["institution_code"])]
    eligible = pd.DataFrame(
        {
            "institution_code": eligible["institution_code"].astype("string"),
            "region_code": eligible["region_code"].astype("string"),
            "stratum": _strata(eligible, rules),
        }
    ).sort_values("institution_code", ignore_index=True)
    logger.info(
        "eligible pool as of %s for item %s: %d eligible, %d excluded institution(s)",
        as_of.date(),
        item,
        len(eligible),
        excluded["institution_code"].nunique(),
    )
    return PoolResult(eligible, excluded, as_of, tuple(regions), item, rules)


def _strata(eligible: pd.DataFrame, rules: PoolRules) -> pd.Series:
    grades = eligible[rules.stratum_column].astype("string").str.strip()
    missing = grades.isna() | grades.eq("")
    if missing.any():
        if rules.ungraded_stratum is None:
            codes = eligible.loc[missing, "institution_code"].head(5).tolist()
            raise ValueError(
                f"{rules.stratum_column} is missing for {int(missing.sum())} eligible institution(s) (e.g. {codes}); "
                "grade them or set PoolRules.ungraded_stratum"
            )
        grades = grades.mask(missing, rules.ungraded_stratum)
    return grades.astype("string")


def _status_exclusions(inactive: pd.DataFrame) -> pd.DataFrame:
    labels = CODE_LISTS["institution_status"]
    rows = [
        _reason(code, "not_active", None, status=status, status_zh=labels.get(status, str(status)))
        for code, status in zip(inactive["institution_code"], inactive["status"], strict=True)
    ]
    return pd.DataFrame(rows)


def _not_designated_exclusions(not_yet: pd.DataFrame, designated: pd.Series) -> pd.DataFrame:
    rows = [
        _reason(code, "not_yet_designated", None, date=f"{designated[index]:%Y-%m-%d}")
        for index, code in zip(not_yet.index, not_yet["institution_code"], strict=True)
    ]
    return pd.DataFrame(rows)


def _cap_exclusions(history: pd.DataFrame, *, as_of: pd.Timestamp, item: str | None, rules: PoolRules) -> pd.DataFrame:
    this_year = history["start_date"] >= pd.Timestamp(year=as_of.year, month=1, day=1)
    counted = history[this_year & isin(history["kind"], rules.cap_counted_kinds)]
    latest = (
        counted.sort_values(["start_date", "inspection_id"])
        .groupby("institution_code")
        .agg(visits=("inspection_id", "size"), inspection_id=("inspection_id", "last"))
    )
    at_cap = latest[latest["visits"] >= rules.routine_cap_per_year]
    rows = [
        _reason(
            code, "routine_cap_reached", inspection_id, year=as_of.year, count=visits, cap=rules.routine_cap_per_year
        )
        for code, visits, inspection_id in zip(at_cap.index, at_cap["visits"], at_cap["inspection_id"], strict=True)
    ]
    return pd.DataFrame(rows)


def _same_item_exclusions(
    history: pd.DataFrame, *, as_of: pd.Timestamp, item: str | None, rules: PoolRules
) -> pd.DataFrame:
    if item is None:
        return pd.DataFrame()
    window = _item_window(history, as_of, item, rules.same_item_window_months)
    if not rules.same_item_all_levels:
        rank = window["level"].map(LEVEL_RANK)
        window = window[rank <= LEVEL_RANK[rules.bureau_level]]
    return _latest_reasons(window, "same_item_recent", item=item, months=rules.same_item_window_months)


def _higher_level_exclusions(
    history: pd.DataFrame, *, as_of: pd.Timestamp, item: str | None, rules: PoolRules
) -> pd.DataFrame:
    if item is None:
        return pd.DataFrame()
    window = _item_window(history, as_of, item, rules.higher_level_window_months)
    higher = window["level"].map(LEVEL_RANK) > LEVEL_RANK[rules.bureau_level]
    clear = window["found_violation"].astype("boolean").eq(False).fillna(False).astype(bool)
    return _latest_reasons(
        window[higher & clear], "higher_level_no_findings", item=item, months=rules.higher_level_window_months
    )


def _item_window(history: pd.DataFrame, as_of: pd.Timestamp, item: str, months: int) -> pd.DataFrame:
    """Inspections of ``item`` that started in (as_of - months, as_of]."""
    recent = history[history["start_date"] > as_of - pd.DateOffset(months=months)]
    recent = recent[recent["items"].notna()]
    # One vectorised match instead of splitting every list: the item between separators (; or ；).
    pattern = rf"(?:^|[;；])\s*{re.escape(item)}\s*(?:[;；]|$)"
    has_item = recent["items"].astype("string").str.contains(pattern, regex=True).fillna(False).astype(bool)
    return recent[has_item]


def _latest_reasons(window: pd.DataFrame, reason_code: str, **details: Any) -> pd.DataFrame:
    latest = window.sort_values(["start_date", "inspection_id"]).groupby("institution_code").tail(1)
    labels = CODE_LISTS["inspection_level"]
    rows = [
        _reason(
            code,
            reason_code,
            inspection_id,
            inspection_id=inspection_id,
            date=f"{date:%Y-%m-%d}",
            level=level,
            level_zh=labels.get(level, str(level)),
            **details,
        )
        for code, inspection_id, date, level in zip(
            latest["institution_code"], latest["inspection_id"], latest["start_date"], latest["level"], strict=True
        )
    ]
    return pd.DataFrame(rows)


def _reason(institution_code: str, reason_code: str, evidence: Any, **details: Any) -> dict[str, Any]:
    """One exclusion row; ``evidence`` is the inspection behind it (or None)."""
    zh, en = EXCLUSION_REASONS[reason_code]
    return {
        "institution_code": institution_code,
        "reason_code": reason_code,
        "reason_zh": zh.format(**details),
        "reason_en": en.format(**details),
        "inspection_id": evidence,
    }


def _exclusion_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["institution_code", "reason_code", "reason_zh", "reason_en", "inspection_id"]
    parts = [part for part in parts if not part.empty]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    order = {code: rank for rank, code in enumerate(EXCLUSION_REASONS)}
    table = table.assign(_order=table["reason_code"].map(order)).sort_values(["institution_code", "_order"])
    return table[columns].astype("string").reset_index(drop=True)


def _check_regions(regions: Iterable[str]) -> list[str]:
    if isinstance(regions, str):
        regions = [regions]
    regions = sorted(set(regions))
    bad = [region for region in regions if not (isinstance(region, str) and len(region) == 6 and region.isdigit())]
    if not regions or bad:
        raise ValueError(f"regions must be a non-empty list of 6-digit region codes; got {bad or regions!r}")
    return regions


# --------------------------------------------------------------------------- 2. design and commitment


@dataclass(frozen=True)
class DrawDesign:
    """How many to draw and with what probabilities.

    ``stratified``: per credit grade, drawn = ceil(ratio x stratum size) (exact arithmetic), so a
    non-empty stratum always yields at least one; equal probability within a stratum.
    ``risk_weighted``: ``sample_size`` institutions by randomised systematic PPS; each institution's
    probability is ``min_inclusion_probability`` plus a share of the rest of the sample proportional
    to its risk weight, capped at 1.
    Ratios and probabilities are kept as decimal strings so that the published document is exact.
    """

    method: Literal["stratified", "risk_weighted"] = "stratified"
    ratios: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    sample_size: int | None = None
    min_inclusion_probability: Any = None

    def __post_init__(self) -> None:
        if self.method == "stratified":
            object.__setattr__(self, "ratios", _check_ratios(self.ratios))
            if self.sample_size is not None or self.min_inclusion_probability is not None:
                raise ValueError("sample_size and min_inclusion_probability apply only to method='risk_weighted'")
        elif self.method == "risk_weighted":
            if not is_int(self.sample_size) or self.sample_size < 1:
                raise ValueError(f"sample_size must be an integer >= 1; got {self.sample_size!r}")
            minimum = _decimal_text("min_inclusion_probability", self.min_inclusion_probability)
            verify_draw.parse_decimal("min_inclusion_probability", minimum, low=_ZERO, high=_ONE)
            object.__setattr__(self, "min_inclusion_probability", minimum)
            object.__setattr__(self, "ratios", {})
        else:
            raise ValueError(f"method must be one of ['stratified', 'risk_weighted']; got {self.method!r}")

    @classmethod
    def stratified(cls, ratios: Mapping[str, Any] | None = None) -> DrawDesign:
        return cls(method="stratified", ratios=dict(DEFAULT_RATIOS if ratios is None else ratios))

    @classmethod
    def risk_weighted(cls, sample_size: int, min_inclusion_probability: Any = "0.01") -> DrawDesign:
        return cls(method="risk_weighted", sample_size=sample_size, min_inclusion_probability=min_inclusion_probability)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "stratified":
            return {"method": "stratified", "ratios": dict(sorted(self.ratios.items())), "rounding": "ceil"}
        return {
            "method": "risk_weighted",
            "sample_size": self.sample_size,
            "min_inclusion_probability": self.min_inclusion_probability,
            "probability_scale": verify_draw.PROBABILITY_SCALE,
            "weight_decimals": verify_draw.WEIGHT_DECIMALS,
        }


_ZERO = Fraction(0)
_ONE = Fraction(1)


def _check_ratios(ratios: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(ratios, Mapping) or not ratios:
        raise ValueError(f"ratios must be a non-empty mapping of stratum to ratio in (0, 1]; got {ratios!r}")
    checked = {}
    for key, value in ratios.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"ratios keys must be stratum names such as 'A'; got {key!r}")
        text = _decimal_text(f"ratios[{key!r}]", value)
        if not 0 < Decimal(text) <= 1:
            raise ValueError(
                f"ratios[{key!r}] must be a ratio in (0, 1] (zero would exempt the stratum); got {value!r}"
            )
        checked[key] = text
    return checked


def _decimal_text(name: str, value: Any) -> str:
    """A number as its shortest exact decimal string ('0.05'); floats are read through repr."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number; got {value!r}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} must be a number such as 0.05; got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class FrozenPool:
    """The published commitment: the pool document and its SHA-256 (``pool_hash``)."""

    document: dict[str, Any]
    pool_hash: str

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FrozenPool:
        """Reload a stored pool document (its hash is recomputed, never trusted)."""
        document = json.loads(json.dumps(document))
        return cls(document=document, pool_hash=verify_draw.compute_pool_hash(document))

    def to_json(self) -> str:
        """The pool document as published (pretty-printed; the hash is over the canonical form)."""
        return json.dumps(self.document, ensure_ascii=False, indent=1, sort_keys=True)


def freeze_pool(
    pool: PoolResult,
    design: DrawDesign | None = None,
    *,
    weights: Mapping[str, Any] | pd.Series | None = None,
    inspectors: InspectorPool | None = None,
) -> FrozenPool:
    """Fix the pool document and its hash, to be published before the seed is known.

    ``weights`` (institution_code -> risk weight >= 0, rounded to 6 decimals) is required by the
    risk-weighted design and refused otherwise. With ``inspectors`` the inspector pool and team rules
    are committed too, and every pool institution is checked to have a possible team (so a draw
    never fails for lack of inspectors before workloads are counted).
    """
    design = design or DrawDesign()
    eligible = pool.eligible
    units = [
        {
            "institution_code": verify_draw.check_code("institution_code", code),
            "region_code": region,
            "stratum": stratum,
        }
        for code, region, stratum in zip(
            eligible["institution_code"].tolist(),
            eligible["region_code"].tolist(),
            eligible["stratum"].tolist(),
            strict=True,
        )
    ]
    _attach_weights(units, design, weights)
    if design.method == "stratified":
        missing = sorted({unit["stratum"] for unit in units} - set(design.ratios))
        if missing:
            raise ValueError(
                f"ratios has no entry for stratum {missing[0]!r} in the pool; ratios given for {sorted(design.ratios)}"
            )
    excluded = pool.excluded[["institution_code", "reason_code"]].drop_duplicates()
    document = {
        "format": verify_draw.POOL_FORMAT,
        "as_of": f"{pool.as_of:%Y-%m-%d}",
        "jurisdiction": {"regions": list(pool.regions), "bureau_level": pool.rules.bureau_level},
        "item": pool.item,
        "rules": pool.rules.to_dict(),
        "design": design.to_dict(),
        "units": units,
        "excluded": [
            {"institution_code": code, "reason_code": reason}
            for code, reason in zip(
                excluded["institution_code"].tolist(), excluded["reason_code"].tolist(), strict=True
            )
        ],
        "inspectors": None,
    }
    if inspectors is not None:
        raise_if_infeasible(eligible, inspectors)
        document["inspectors"] = inspectors.to_document(eligible["institution_code"])
    pool_hash = verify_draw.compute_pool_hash(document)
    logger.info("pool frozen: %d institutions, method %s, pool_hash %s", len(units), design.method, pool_hash)
    return FrozenPool(document=document, pool_hash=pool_hash)


def _attach_weights(units: list[dict[str, Any]], design: DrawDesign, weights: Any) -> None:
    if design.method == "stratified":
        if weights is not None:
            raise ValueError("weights apply only to the risk_weighted design")
        return
    if weights is None:
        raise ValueError("the risk_weighted design needs weights (institution_code -> risk weight)")
    weights = dict(weights.items())
    missing = [unit["institution_code"] for unit in units if unit["institution_code"] not in weights]
    if missing:
        raise ValueError(f"weights is missing {len(missing)} pool institution(s) (e.g. {missing[:5]})")
    for unit in units:
        code = unit["institution_code"]
        value = weights[code]
        if value is None or pd.isna(value) or float(value) < 0:
            raise ValueError(f"weights[{code!r}] must be a number >= 0; got {value!r}")
        unit["weight"] = _decimal_text(
            f"weights[{code!r}]", round(Decimal(repr(float(value))), verify_draw.WEIGHT_DECIMALS)
        )


# --------------------------------------------------------------------------- 3. the draw


@dataclass(frozen=True)
class Seed:
    """The externally supplied seed: dice digits rolled in public, or a public beacon value.

    ``value`` is stored in canonical form (dice: digits only). ``reference`` says where it came from
    (for a beacon, the pulse URL or index; for dice, who rolled them and where).
    """

    source: Literal["dice", "beacon"]
    value: str
    reference: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", verify_draw.normalise_seed(self.source, self.value))
        if self.reference is not None and not isinstance(self.reference, str):
            raise ValueError(f"reference must be None or text; got {self.reference!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "value": self.value, "reference": self.reference}


@dataclass(frozen=True)
class DrawResult:
    """A completed draw.

    document: the draw document to publish (JSON-serialisable), replayable by verify_draw.py.
    units: every pool institution — institution_code, region_code, stratum, ticket (hex),
        inclusion_probability, selected.
    selected: the drawn institutions in ticket order — institution_code, region_code, stratum, ticket,
        inclusion_probability, draw_rank (1 = lowest ticket).
    assignments: institution_code, lead_inspector_code, inspector_codes, inspector_tickets (empty when
        the pool had no inspectors).
    """

    document: dict[str, Any]
    units: pd.DataFrame
    selected: pd.DataFrame
    assignments: pd.DataFrame

    @property
    def draw_id(self) -> str:
        return self.document["draw_id"]

    def to_json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, indent=1)


def draw_random_inspections(frozen: FrozenPool, seed: Seed, *, draw_id: str | None = None) -> DrawResult:
    """Draw from a frozen pool with an external seed; the result replays exactly with verify_draw.py.

    ``draw_id`` defaults to ``<as_of yyyymmdd>-<first 12 hex of SHA-256(seed|pool_hash)>``.
    Raises TeamAssignmentError when the workload cap leaves an institution without a team.
    """
    pool_hash = verify_draw.compute_pool_hash(frozen.document)
    if pool_hash != frozen.pool_hash:
        raise ValueError(f"frozen pool was changed after freezing: it hashes to {pool_hash}, not {frozen.pool_hash}")
    replay = verify_draw.replay_draw(frozen.document, pool_hash, seed.value)
    tickets = replay.pop("tickets")
    if draw_id is None:
        commitment = verify_draw.seed_pool_digest(seed.value, pool_hash)
        draw_id = f"{frozen.document['as_of'].replace('-', '')}-{commitment[:12]}"
    document = {
        "format": verify_draw.DRAW_FORMAT,
        "algorithm": verify_draw.ALGORITHM,
        "draw_id": draw_id,
        "pool_hash": pool_hash,
        "seed": seed.to_dict(),
        "pool": frozen.document,
        **replay,
    }
    result = DrawResult(document, *_draw_frames(frozen.document, replay, tickets))
    logger.info("draw %s: %d of %d institutions selected", draw_id, len(result.selected), len(result.units))
    return result


def _draw_frames(
    pool: Mapping[str, Any], replay: Mapping[str, Any], tickets: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The units, selected and assignments tables of a draw."""
    codes = [unit["institution_code"] for unit in pool["units"]]
    probabilities = replay["inclusion_probabilities"]
    chosen = {row["institution_code"] for row in replay["selected"]}
    units = pd.DataFrame(
        {
            "institution_code": pd.array(codes, dtype="string"),
            "region_code": pd.array([unit["region_code"] for unit in pool["units"]], dtype="string"),
            "stratum": pd.array([unit["stratum"] for unit in pool["units"]], dtype="string"),
            "ticket": pd.array([tickets[code] for code in codes], dtype="string"),
            "inclusion_probability": pd.array([probabilities[code] for code in codes], dtype="float64"),
            "selected": pd.array([code in chosen for code in codes], dtype="boolean"),
        }
    )
    columns = ["institution_code", "region_code", "stratum", "ticket", "inclusion_probability"]
    selected = pd.DataFrame(replay["selected"], columns=columns)
    selected[columns[:4]] = selected[columns[:4]].astype("string")
    selected["inclusion_probability"] = selected["inclusion_probability"].astype("float64")
    selected["draw_rank"] = pd.array(range(1, len(selected) + 1), dtype="Int64")
    assignments = teams_frame(replay["assignments"] or [])
    return units, selected, assignments
