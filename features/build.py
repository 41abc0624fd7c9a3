"""Point-in-time features (时点特征): one row per institution as of any date, for credit policy and models.

A feature as of ``t`` uses only events the bureau knew strictly before ``t``: violations by
``found_date``, self-inspections by ``submitted_date`` and ``verified_date``, complaints by
``received_date`` and outcome date, referrals and staff points by their dates, and claims by
``settle_date`` — claims enter once their settlement month has closed, so claim features as of ``t``
read the calendar months before the month of ``t``.

Stages:

1. Load the tables (from the store, or frames given by the caller) and the claims source.
2. Decide the rows: every institution active at each as_of date, or the (institution, as_of) pairs asked.
3. Compute each family whose tables are present (the others are reported missing, their columns NaN).
4. Claims: aggregate once per institution and month (DuckDB, or Spark), window the months for each
   as_of month, and score against peers active at the exact as_of date.

:func:`build_feature_panel` does this for many dates at once; :func:`build_features` is the panel of
one date. ``docs/features.md`` is the catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from . import claim_features as cf
from ._features_catalogue import FAMILIES, FeatureSpec, catalogue_frame, catalogue_markdown
from ._features_leads import (
    complaint_catalogue,
    complaint_features,
    referral_catalogue,
    referral_features,
    staff_point_catalogue,
    staff_point_features,
)
from ._features_peer import MIN_PEERS, robust_z
from ._features_self_inspection import self_inspection_catalogue, self_inspection_features
from ._features_static import active_mask, static_catalogue, static_features
from ._features_violations import violation_catalogue, violation_features
from ._features_windows import Queries, as_timestamp, day_numbers, month_numbers, safe_ratio
from .contract import TABLES

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
WINDOWS = (12, 24, 36, None)
_EVENT_TABLES = ("institutions", "violations", "self_inspections", "complaints", "referrals", "staff_points", "deaths")
_ENGINE_KINDS = ("duckdb", "spark")


@dataclass(frozen=True)
class MissingFamily:
    """A feature family that could not be built, and why."""

    family: str
    tables: tuple[str, ...]
    reason: str  # Chinese / English

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "tables": list(self.tables), "reason": self.reason}


@dataclass
class FeatureSet:
    """Features with their catalogue and the families that could not be built.

    ``frame`` is indexed by ``institution_code`` (one date) or by (``institution_code``, ``as_of``)
    (a panel); its columns are exactly ``catalogue["name"]``, in that order.
    """

    frame: pd.DataFrame
    missing_families: list[MissingFamily]
    catalogue: pd.DataFrame
    as_of_dates: tuple[pd.Timestamp, ...]
    rules: cf.ClaimRules = field(default_factory=cf.ClaimRules)
    engine_kind: str = "duckdb"

    @property
    def as_of(self) -> pd.Timestamp:
        if len(self.as_of_dates) != 1:
            raise ValueError(f"this feature set spans {len(self.as_of_dates)} dates; use as_of_dates")
        return self.as_of_dates[0]

    @property
    def families_built(self) -> list[str]:
        missing = {m.family for m in self.missing_families}
        return [name for name in FAMILIES if name not in missing]


def feature_catalogue() -> pd.DataFrame:
    """Every feature: name, zh, meaning, family, source, window, missing (frame column order)."""
    return catalogue_frame(_specs())


def catalogue_as_markdown() -> str:
    """The catalogue as the Markdown tables of ``docs/features.md``."""
    return catalogue_markdown(feature_catalogue())


def _specs() -> list[FeatureSpec]:
    return [
        *static_catalogue(),
        *violation_catalogue(),
        *self_inspection_catalogue(),
        *cf.claim_catalogue(),
        *complaint_catalogue(),
        *referral_catalogue(),
        *staff_point_catalogue(),
    ]


# --- 1. inputs ----------------------------------------------------------------------------------------


def _coerce(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A caller's frame with the contract's types; absent optional columns added empty."""
    table = TABLES[name]
    absent = [c for c in table.required_columns if c not in frame.columns]
    if absent:
        raise ValueError(f"tables[{name!r}] lacks required column(s) {absent}; it has {list(frame.columns)}")
    out = frame.copy()
    for column in table.columns:
        values = out[column.name] if column.name in out.columns else pd.Series(pd.NA, index=out.index, dtype=object)
        if column.type == "date":
            out[column.name] = pd.to_datetime(values).astype("datetime64[ns]")
        elif column.type == "int":
            out[column.name] = pd.to_numeric(values).astype("Int64")
        elif column.type in ("money", "number"):
            out[column.name] = pd.to_numeric(values).astype("float64")
        elif column.type == "bool":
            out[column.name] = values.astype("boolean")
        else:
            out[column.name] = values.astype("str").where(values.notna(), None)
    return out


@dataclass
class _Inputs:
    tables: dict[str, pd.DataFrame | None]
    claims: cf.ClaimSource
    empty: set[str]  # optional tables present in the store but without rows


def _load_inputs(
    engine: Engine | None,
    tables: Mapping[str, pd.DataFrame] | None,
    claims: object,
    claim_items: object,
    duckdb_config: Mapping[str, object] | None,
) -> _Inputs:
    tables = dict(tables or {})
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"tables has unknown table name(s) {unknown}; allowed: {sorted(TABLES)}")
    loaded: dict[str, pd.DataFrame | None] = {}
    empty: set[str] = set()
    for name in _EVENT_TABLES:
        if name in tables:
            loaded[name] = _coerce(tables[name], name)
        elif engine is not None:
            from .storage import load_table

            frame = load_table(engine, name)
            if frame.empty and not TABLES[name].required_table:
                empty.add(name)
                frame = None
            loaded[name] = frame
        else:
            loaded[name] = None
    if loaded["institutions"] is None:
        raise ValueError("features need the institutions table: pass engine= or tables={'institutions': ...}")
    source = _claim_source(engine, tables, claims, claim_items, loaded["deaths"], duckdb_config or {})
    source.institution_codes = loaded["institutions"]["institution_code"].astype(str).tolist()
    if engine is not None:  # the store always "has" the claim tables; without files they hold no rows
        empty |= {name for name in ("claims", "claim_items") if name not in tables and not _listed(source, name)}
    return _Inputs(loaded, source, empty)


def _listed(source: cf.ClaimSource, name: str) -> bool:
    value = source.claims if name == "claims" else source.claim_items
    return value is not None and not (isinstance(value, list) and not value)


def _claim_source(engine, tables, claims, claim_items, deaths, duckdb_config) -> cf.ClaimSource:
    if claims is None and "claims" in tables:
        claims = tables["claims"]
    if claim_items is None and "claim_items" in tables:
        claim_items = tables["claim_items"]
    if engine is not None:
        from .claims_store import partition_paths

        if claims is None:
            claims = partition_paths(engine, "claims")
        if claim_items is None and not _is_duckdb_connection(claims):
            claim_items = partition_paths(engine, "claim_items") or None
    if isinstance(claims, str | Path):
        claims = [claims]
    if isinstance(claim_items, str | Path):
        claim_items = [claim_items]
    return cf.ClaimSource(claims, claim_items, deaths, duckdb_config)


def _is_duckdb_connection(value: object) -> bool:
    import duckdb

    return isinstance(value, duckdb.DuckDBPyConnection)


# --- 2. rows --------------------------------------------------------------------------------------------


def _rows(as_of_dates: object, institutions: pd.DataFrame, codes: pd.Index) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Institution positions and dates of the rows to compute."""
    if isinstance(as_of_dates, pd.DataFrame):
        absent = {"institution_code", "as_of"} - set(as_of_dates.columns)
        if absent:
            raise ValueError(f"as_of_dates as a frame needs columns institution_code and as_of; lacks {sorted(absent)}")
        positions = codes.get_indexer(as_of_dates["institution_code"].astype(str))
        if (positions < 0).any():
            unknown = sorted(set(as_of_dates["institution_code"].astype(str)[positions < 0]))[:10]
            raise ValueError(f"as_of_dates names institutions not in the institutions table: {unknown}")
        dates = pd.DatetimeIndex([as_of_timestamp(d) for d in as_of_dates["as_of"]])
        pairs = pd.DataFrame({"i": positions, "d": dates}).drop_duplicates()
        return pairs["i"].to_numpy(np.int64), pd.DatetimeIndex(pairs["d"])
    if isinstance(as_of_dates, str) or not isinstance(as_of_dates, Iterable):
        as_of_dates = [as_of_dates]
    dates = sorted({as_of_timestamp(d) for d in as_of_dates})
    if not dates:
        raise ValueError("as_of_dates must name at least one date; got none")
    positions, stamps = [], []
    for date in dates:
        active = np.flatnonzero(active_mask(institutions, int(day_numbers(pd.DatetimeIndex([date]))[0])))
        positions.append(active)
        stamps.append(np.full(len(active), date.to_datetime64()))
    return np.concatenate(positions).astype(np.int64), pd.DatetimeIndex(np.concatenate(stamps))


def as_of_timestamp(value: object) -> pd.Timestamp:
    return as_timestamp(value, "as_of")


# --- 3./4. families ------------------------------------------------------------------------------------


def _missing(family: str, tables: tuple[str, ...], empty: set[str]) -> MissingFamily:
    how = "无数据 / no rows imported" if set(tables) <= empty else "未提供 / not provided"
    return MissingFamily(
        family,
        tables,
        f"缺少数据表 {', '.join(tables)}（{how}），无法计算{FAMILIES[family].zh}特征 / "
        f"table(s) {', '.join(tables)} absent ({how.split(' / ')[1]}): the {family} features are missing",
    )


def _claim_block(
    inputs: _Inputs,
    institutions: pd.DataFrame,
    codes: pd.Index,
    queries: Queries,
    rules: cf.ClaimRules,
    engine_kind: str,
    spark: object,
    min_peers: int,
) -> dict[str, np.ndarray]:
    """Claim features and their peer z-scores for the query rows."""
    query_months = month_numbers(queries.as_of)
    months = sorted(set(query_months.tolist()))
    monthly = cf.monthly_claim_aggregates(
        inputs.claims, cf.claim_months_needed(months), rules, engine_kind=engine_kind, spark=spark
    )
    by_month = cf.claim_features_by_month(monthly, codes, months)
    specs = {s.name: s for s in cf.claim_catalogue()}
    peer_columns = [name for name, spec in specs.items() if spec.peer is not None]
    out = {name: np.full(len(queries), np.nan) for name in [*specs, *(f"{c}_pz" for c in peer_columns)]}
    for month in months:
        block = by_month.xs(month, level="month")  # every institution, in codes order
        rows = np.flatnonzero(query_months == month)
        for name in specs:
            out[name][rows] = block[name].to_numpy(np.float64)[queries.institution[rows]]
        _peer_scores(block[peer_columns], institutions, queries, rows, specs, min_peers, out)
    return out


def _peer_scores(
    block: pd.DataFrame,
    institutions: pd.DataFrame,
    queries: Queries,
    rows: np.ndarray,
    specs: dict[str, FeatureSpec],
    min_peers: int,
    out: dict[str, np.ndarray],
) -> None:
    """Z-scores against the peers active on each query's own date (one computation per distinct peer set)."""
    level = institutions["level"] if "level" in institutions else pd.Series(pd.NA, index=institutions.index)
    scales = {name: specs[name].peer for name in block.columns}
    days = queries.day[rows]
    cache: dict[bytes, pd.DataFrame] = {}
    for day in np.unique(days):
        day_rows = rows[days == day]
        active = active_mask(institutions, int(day))
        key = active.tobytes()
        if key not in cache:
            cache[key] = robust_z(block, institutions["kind"], level, active, scales, min_peers)  # type: ignore[arg-type]
        z = cache[key]
        for column in z.columns:
            out[column][day_rows] = z[column].to_numpy()[queries.institution[day_rows]]


def build_feature_panel(
    as_of_dates: Iterable[object] | pd.DataFrame,
    *,
    engine: Engine | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    claims: object = None,
    claim_items: object = None,
    engine_kind: str = "duckdb",
    readmit_days: int = 15,
    rules: cf.ClaimRules | None = None,
    spark: object = None,
    duckdb_config: Mapping[str, object] | None = None,
    min_peers: int = MIN_PEERS,
    progress: Progress | None = None,
) -> FeatureSet:
    """Features at many dates: one row per (institution_code, as_of).

    ``as_of_dates`` is either dates (every institution active at each date gets a row) or a frame with
    columns ``institution_code`` and ``as_of`` (just those rows; peers are still every institution
    active at the date). Claims are aggregated once into months and windowed per as_of month; the
    other tables are indexed once and summed per row. ``rules`` overrides the smart-audit parameters
    (``readmit_days`` is a shortcut for the most common one). ``claims``: Parquet paths, a frame, or a
    DuckDB connection with a ``claims`` view; default the store's claims dataset.
    """
    if engine_kind not in _ENGINE_KINDS:
        raise ValueError(f"engine_kind must be one of {list(_ENGINE_KINDS)}; got {engine_kind!r}")
    rules = rules or cf.ClaimRules(readmit_days=readmit_days)
    report = progress or (lambda stage, done, total: None)
    inputs = _load_inputs(engine, tables, claims, claim_items, duckdb_config)
    institutions = inputs.tables["institutions"]
    codes = pd.Index(institutions["institution_code"].astype(str), name="institution_code")
    if codes.has_duplicates:
        raise ValueError(
            f"institutions has duplicate institution_code values: {sorted(codes[codes.duplicated()])[:10]}"
        )
    positions, dates = _rows(as_of_dates, institutions, codes)
    queries = Queries.build(positions, dates, WINDOWS)
    values, missing = _families(inputs, institutions, codes, queries, rules, engine_kind, spark, min_peers, report)
    catalogue = feature_catalogue()
    frame = pd.DataFrame(
        {name: values.get(name, np.full(len(queries), np.nan)) for name in catalogue["name"]},
        index=pd.MultiIndex.from_arrays(
            [codes[positions], dates.astype("datetime64[ns]")], names=["institution_code", "as_of"]
        ),
    ).sort_index()
    log.info("features: %d rows × %d columns; missing families %s", *frame.shape, [m.family for m in missing])
    stamps = tuple(sorted(set(pd.DatetimeIndex(dates))))
    return FeatureSet(frame, missing, catalogue, stamps, rules, engine_kind)


def _families(inputs, institutions, codes, queries, rules, engine_kind, spark, min_peers, report):
    t = inputs.tables
    values: dict[str, object] = {}
    missing: list[MissingFamily] = []
    steps = 7
    report("features", 0, steps)
    values |= static_features(institutions, queries)
    builders = (
        ("violations", lambda: violation_features(t["violations"], codes, queries)),
        ("self_inspection", lambda: self_inspection_features(t["self_inspections"], t["violations"], codes, queries)),
        ("complaints", lambda: complaint_features(t["complaints"], codes, queries)),
        ("referrals", lambda: referral_features(t["referrals"], codes, queries)),
        ("staff_points", lambda: staff_point_features(t["staff_points"], codes, queries)),
    )
    for done, (family, build) in enumerate(builders, start=1):
        absent = tuple(name for name in FAMILIES[family].tables if t.get(name) is None)
        if absent:
            missing.append(_missing(family, absent, inputs.empty))
        else:
            values |= build()
        report("features", done, steps)
    available = inputs.claims.available()
    if "claims" in available:
        values |= _claim_block(inputs, institutions, codes, queries, rules, engine_kind, spark, min_peers)
        if t["violations"] is not None:
            values["viol_amount_to_fund_12m"] = safe_ratio(values["viol_amount_12m"], values["clm_fund_12m"])
    for family in ("claims", "claim_deaths", "claim_items"):
        absent = tuple(name for name in FAMILIES[family].tables if name not in available)
        if absent:
            missing.append(_missing(family, absent, inputs.empty))
    report("features", steps, steps)
    return values, missing


def build_features(
    as_of: object,
    *,
    engine: Engine | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    claims: object = None,
    claim_items: object = None,
    engine_kind: str = "duckdb",
    readmit_days: int = 15,
    rules: cf.ClaimRules | None = None,
    spark: object = None,
    duckdb_config: Mapping[str, object] | None = None,
    min_peers: int = MIN_PEERS,
    progress: Progress | None = None,
) -> FeatureSet:
    """One row per institution active at ``as_of`` (designated on or before it, not terminated before it).

    Only events known strictly before ``as_of`` are used (see the module docstring and
    ``docs/features.md``). Families whose tables are absent are listed in ``missing_families`` and
    their columns are NaN. Parameters as for :func:`build_feature_panel`.
    """
    stamp = as_of_timestamp(as_of)
    panel = build_feature_panel(
        [stamp],
        engine=engine,
        tables=tables,
        claims=claims,
        claim_items=claim_items,
        engine_kind=engine_kind,
        readmit_days=readmit_days,
        rules=rules,
        spark=spark,
        duckdb_config=duckdb_config,
        min_peers=min_peers,
        progress=progress,
    )
    panel.frame = panel.frame.droplevel("as_of")
    panel.as_of_dates = (stamp,)
    return panel


def claim_leads(
    as_of: object,
    *,
    engine: Engine | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    claims: object = None,
    claim_items: object = None,
    engine_kind: str = "duckdb",
    rules: cf.ClaimRules | None = None,
    spark: object = None,
    duckdb_config: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """The flagged claims behind the claim features as of ``as_of`` (the 12 closed months before its month).

    One row per (claim, rule), sorted by rule and claim: claim_id, institution_code, rule, event_month,
    known_from. These are leads, not verdicts (domain.md §5: a few percent of smart-audit hits are
    confirmed violations).
    """
    stamp = as_of_timestamp(as_of)
    inputs = _load_inputs(engine, tables, claims, claim_items, duckdb_config)
    month = int(month_numbers(pd.DatetimeIndex([stamp]))[0])
    window = cf.MonthRange(month - cf.WINDOW_MONTHS, month)
    return cf.flag_claims(inputs.claims, window, rules, engine_kind=engine_kind, spark=spark)


def label_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """Leads as staff read them: the rule's Chinese and English names after its code, the event month
    as YYYY-MM and ``known_from`` as a date. Columns: claim_id, institution_code, rule, rule_zh,
    rule_en, event_month, known_from."""
    rules = {rule.name: rule for rule in cf.RULES}
    out = leads.reset_index(drop=True).copy()
    out.insert(3, "rule_zh", [rules[r].zh for r in out["rule"]])
    out.insert(4, "rule_en", [rules[r].en for r in out["rule"]])
    months = out["event_month"].to_numpy(np.int64)
    out["event_month"] = [f"{m // 12}-{m % 12 + 1:02d}" for m in months]
    out["known_from"] = pd.to_datetime(out["known_from"]).dt.date
    return out
