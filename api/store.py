"""Tables the API owns (tokens, the audit log) and the read queries its views share.

The tables hang on :data:`features.storage.metadata`; migration ``0005_api`` creates them. Reads of
the source tables the views need (institutions with filters, per-institution counts) live here so
that views stay thin and no SQL is spread over blueprints.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.storage import CONTRACT_TABLES, metadata

ROLES: tuple[str, ...] = ("planner", "scheduler", "credit_staff", "auditor", "admin")
ALL_REGIONS = "*"

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    # "*" for province/city users who see every region, else region codes joined by ";"
    sa.Column("regions", sa.Text, nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    comment="API 令牌（仅存 SHA-256）",
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor_token_id", sa.Integer),
    sa.Column("actor", sa.String(100)),
    sa.Column("role", sa.String(20)),
    sa.Column("action", sa.String(80), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("region", sa.Text),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    comment="审计日志（只追加，哈希链）",
)

_institutions = CONTRACT_TABLES["institutions"]

# Tables whose rows per institution the detail view counts.
COUNTED_TABLES: tuple[str, ...] = (
    "violations",
    "inspections",
    "complaints",
    "referrals",
    "self_inspections",
    "staff",
    "staff_points",
)


class UnknownInstitution(LookupError):
    """No institution with this code is stored."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(f"institution_code {code!r} is not a stored institution")


@dataclass(frozen=True)
class InstitutionFilter:
    """Filters of the institution list; ``regions`` None means every region."""

    regions: frozenset[str] | None = None
    county: str | None = None
    kind: str | None = None
    status: str | None = None
    codes: frozenset[str] | None = None  # restriction from grade or risk filters, applied by the caller
    q: str | None = None


def _where(filters: InstitutionFilter) -> list[sa.ColumnElement[bool]]:
    c = _institutions.c
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.regions is not None:
        clauses.append(c.region_code.in_(sorted(filters.regions)))
    if filters.county:
        clauses.append(c.region_code == filters.county)
    if filters.kind:
        clauses.append(c.kind == filters.kind)
    if filters.status:
        clauses.append(c.status == filters.status)
    if filters.codes is not None:
        clauses.append(c.institution_code.in_(sorted(filters.codes)))
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(sa.or_(c.name.like(pattern, escape="\\"), c.institution_code.like(pattern, escape="\\")))
    return clauses


_LIST_COLUMNS = ("institution_code", "name", "kind", "level", "ownership", "region_code", "status")


def list_institutions(
    engine: Engine, filters: InstitutionFilter, *, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """One page of institutions (ordered by code) and the total matching the filters."""
    clauses = _where(filters)
    columns = [_institutions.c[name] for name in _LIST_COLUMNS]
    query = sa.select(*columns).where(*clauses).order_by(_institutions.c.institution_code)
    query = query.limit(per_page).offset((page - 1) * per_page)
    count = sa.select(sa.func.count()).select_from(_institutions).where(*clauses)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
        total = connection.execute(count).scalar_one()
    return rows, int(total)


def institution_codes(engine: Engine, filters: InstitutionFilter) -> list[str]:
    """Every institution code matching the filters (no paging), ordered."""
    query = sa.select(_institutions.c.institution_code).where(*_where(filters))
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(_institutions.c.institution_code)).scalars())


def institution_region(engine: Engine, code: str) -> str:
    """The region code of institution ``code``; raises :class:`UnknownInstitution`."""
    query = sa.select(_institutions.c.region_code).where(_institutions.c.institution_code == code)
    with engine.connect() as connection:
        region = connection.execute(query).scalar_one_or_none()
    if region is None:
        raise UnknownInstitution(code)
    return str(region)


def institution_regions(engine: Engine) -> dict[str, str]:
    """Every institution code → its region code."""
    query = sa.select(_institutions.c.institution_code, _institutions.c.region_code)
    with engine.connect() as connection:
        return {code: region for code, region in connection.execute(query)}


def get_institution(engine: Engine, code: str) -> dict[str, Any]:
    """Every stored column of one institution plus row counts of the tables that refer to it."""
    table_columns = [c for c in _institutions.c if not c.name.startswith("_")]
    with engine.connect() as connection:
        row = connection.execute(sa.select(*table_columns).where(_institutions.c.institution_code == code)).first()
        if row is None:
            raise UnknownInstitution(code)
        detail = dict(row._mapping)
        counts = {}
        for name in COUNTED_TABLES:
            table = CONTRACT_TABLES[name]
            query = sa.select(sa.func.count()).select_from(table).where(table.c.institution_code == code)
            counts[name] = int(connection.execute(query).scalar_one())
    detail["counts"] = counts
    return detail


def recent_rows(engine: Engine, table_name: str, code: str, *, order_by: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest ``limit`` rows of a contract table for one institution, newest first."""
    table = CONTRACT_TABLES[table_name]
    columns = [c for c in table.c if not c.name.startswith("_")]
    query = (
        sa.select(*columns)
        .where(table.c.institution_code == code)
        .order_by(table.c[order_by].desc(), *(table.c[k.name] for k in table.primary_key))
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def list_inspections(
    engine: Engine,
    filters: InstitutionFilter,
    *,
    kind: str | None = None,
    year: int | None = None,
    institution_code: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Stored inspections of institutions matching ``filters``, newest first, one page."""
    inspections = CONTRACT_TABLES["inspections"]
    columns = [c for c in inspections.c if not c.name.startswith("_")]
    clauses = [*_where(filters)]
    if kind:
        clauses.append(inspections.c.kind == kind)
    if institution_code:
        clauses.append(inspections.c.institution_code == institution_code)
    if year:
        clauses.append(inspections.c.start_date.between(datetime.date(year, 1, 1), datetime.date(year, 12, 31)))
    joined = inspections.join(_institutions, inspections.c.institution_code == _institutions.c.institution_code)
    query = (
        sa.select(*columns, _institutions.c.name.label("institution_name"), _institutions.c.region_code)
        .select_from(joined)
        .where(*clauses)
        .order_by(inspections.c.start_date.desc(), inspections.c.inspection_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    count = sa.select(sa.func.count()).select_from(joined).where(*clauses)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
        total = connection.execute(count).scalar_one()
    return rows, int(total)


def counts_by_region_and_kind(engine: Engine, regions: frozenset[str] | None) -> list[dict[str, Any]]:
    """Institutions per county and kind (for the overview)."""
    c = _institutions.c
    query = sa.select(c.region_code, c.kind, sa.func.count().label("n")).group_by(c.region_code, c.kind)
    if regions is not None:
        query = query.where(c.region_code.in_(sorted(regions)))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query.order_by(c.region_code, c.kind))]


def yearly_activity(engine: Engine, regions: frozenset[str] | None) -> list[dict[str, Any]]:
    """Per calendar year: inspections, inspections that found problems, violations found."""
    inspections, violations = CONTRACT_TABLES["inspections"], CONTRACT_TABLES["violations"]

    def per_year(table: sa.Table, date_column: str, *measures: sa.ColumnElement) -> sa.Select:
        year = sa.extract("year", table.c[date_column]).label("year")
        query = (
            sa.select(year, *measures)
            .select_from(table.join(_institutions, table.c.institution_code == _institutions.c.institution_code))
            .group_by(year)
        )
        if regions is not None:
            query = query.where(_institutions.c.region_code.in_(sorted(regions)))
        return query

    found = sa.func.sum(sa.case((inspections.c.found_violation.is_(True), 1), else_=0))
    years: dict[int, dict[str, int]] = {}
    with engine.connect() as connection:
        for year, count, hits in connection.execute(per_year(inspections, "start_date", sa.func.count(), found)):
            years.setdefault(int(year), {"inspections": 0, "found": 0, "violations": 0}).update(
                inspections=int(count), found=int(hits or 0)
            )
        for year, count in connection.execute(per_year(violations, "found_date", sa.func.count())):
            years.setdefault(int(year), {"inspections": 0, "found": 0, "violations": 0})["violations"] = int(count)
    return [{"year": year, **years[year]} for year in sorted(years)]


def region_codes(engine: Engine, regions: frozenset[str] | None) -> list[str]:
    """Counties that have institutions, within ``regions``."""
    query = sa.select(_institutions.c.region_code).distinct().order_by(_institutions.c.region_code)
    if regions is not None:
        query = query.where(_institutions.c.region_code.in_(sorted(regions)))
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())
