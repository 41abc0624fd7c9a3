"""Inspection outcomes (检查结果): recording them, their publication deadline, and what is overdue.

``record_outcome`` writes an inspection and its violations as the bureau's own files would carry
them, through ``features.import_paths``: the contract's validation, reference checks and conflict
detection are the importer's, so a bad value gets the same problem list as in ``medcredit import``
and an identical record entered twice is simply "unchanged".

Results are due for publication 20 working days after the inspection started
(``scoring.workdays.publication_due``); ``overdue_results`` lists the late and the missing ones and
``mark_published`` records the publication date.

Why ``mark_published`` also rewrites ``_row_hash``: the importer detects conflicts by comparing a
row's content hash with the stored one. The bureau's next export will carry the inspection with
``result_published`` filled in; after ``mark_published`` the stored hash is the hash of exactly that
row, so the re-import sees it as unchanged instead of a conflict (and a file with a *different*
date is still reported as a conflict, as it should be).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features import import_paths, load_table
from features.contract import CODE_LISTS, TABLES
from features.importer import row_hash
from features.storage import CONTRACT_TABLES
from scoring._frames import as_timestamp, isin
from scoring.selection_store import DrawStateError, get_draw
from scoring.workdays import overdue, publication_due

__all__ = [
    "KIND_SOURCES",
    "PublishedResult",
    "RecordedOutcome",
    "UnknownInspectionError",
    "draw_results",
    "mark_published",
    "overdue_results",
    "record_outcome",
]

logger = logging.getLogger(__name__)

# The violation source (线索来源) that goes with each inspection kind.
KIND_SOURCES: dict[str, str] = {
    "routine": "routine_inspection",
    "random": "random_inspection",
    "targeted": "targeted_inspection",
    "special": "special_inspection",
    "flying": "flying_inspection",
    "cross": "cross_inspection",
    "complaint": "complaint",
}
_VIOLATION_FIELDS = tuple(
    c for c in TABLES["violations"].column_names if c not in ("institution_code", "inspection_id")
)


class UnknownInspectionError(LookupError):
    """No stored inspection has this id."""


@dataclass(frozen=True)
class RecordedOutcome:
    """What ``record_outcome`` stored. ``written`` is False when the identical record was already there."""

    inspection_id: str
    violation_ids: tuple[str, ...]
    import_id: int | None
    written: bool
    publication_due: date


@dataclass(frozen=True)
class PublishedResult:
    inspection_id: str
    result_published: date
    due_date: date
    on_time: bool


# --------------------------------------------------------------------------- recording


def record_outcome(
    engine: Engine,
    *,
    institution_code: str,
    start_date: Any,
    kind: str | None = None,
    level: str,
    inspector_codes: Sequence[str] | str | None = None,
    found_violation: bool,
    amount_found: float | None = None,
    violations: Sequence[Mapping[str, Any]] = (),
    draw_id: str | None = None,
    items: Sequence[str] | str | None = None,
    inspection_id: str | None = None,
    result_published: Any = None,
    actor: str,
) -> RecordedOutcome:
    """Record the result of one inspection and its violations.

    With ``draw_id`` the inspection belongs to that random draw: the institution must have been
    drawn in it, the kind is ``random``, and the inspectors and items default to the drawn team and
    the draw's check item. ``violations`` are mappings of violation columns (category, amount,
    disposition, status; optional violation_id, found_date (default: the start date), source
    (default: from the kind), decision_date, penalty_amount, fraud, lenient, staff_codes).
    ``amount_found`` defaults to the sum of the violations' amounts. ``inspection_id`` defaults to
    ``INS-<yyyymmdd>-<institution_code>``.

    Raises ``features.ImportRejected`` (a ValueError listing every problem) when the contract's
    validation fails, ValueError for contradictions (violations without a finding), and
    ``UnknownDrawError`` for an unknown draw. Nothing is written unless everything is valid.
    """
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"actor must name who records the result; got {actor!r}")
    start = as_timestamp(start_date, "start_date")
    if draw_id is not None:
        kind, inspector_codes, items = _draw_defaults(
            engine, draw_id, institution_code, start, kind, inspector_codes, items
        )
    if kind is None:
        raise ValueError(f"kind must be one of {list(CODE_LISTS['inspection_kind'])}; got None")
    if inspector_codes is None:
        raise ValueError("inspector_codes must list the inspectors (at least 2, 条例第二十九条); got None")
    if violations and found_violation is not True:
        raise ValueError(
            f"found_violation is {found_violation!r} but {len(violations)} violation(s) were given; "
            "a result with violations is a finding (found_violation=True)"
        )
    _check_inspectors(engine, _as_list(inspector_codes))
    inspection_id = inspection_id or f"INS-{start:%Y%m%d}-{institution_code}"
    violation_rows = [
        _violation_row(v, n, inspection_id, institution_code, start, kind) for n, v in enumerate(violations, 1)
    ]
    if amount_found is None and violation_rows:
        amount_found = round(sum(float(v["amount"] or 0) for v in violation_rows), 2)
    inspection = {
        "inspection_id": inspection_id,
        "institution_code": institution_code,
        "start_date": f"{start:%Y-%m-%d}",
        "kind": kind,
        "level": level,
        "items": ";".join(_as_list(items)),
        "inspector_codes": ";".join(_as_list(inspector_codes)),
        "draw_id": draw_id or "",
        "found_violation": _text(found_violation),
        "amount_found": _text(amount_found),
        "result_published": _text(result_published),
    }
    report = _import_rows(engine, inspection, violation_rows, actor)
    written = report.rows_written > 0
    logger.info(
        "inspection %s of %s recorded by %s (%s)",
        inspection_id,
        institution_code,
        actor,
        "written" if written else "already stored",
    )
    return RecordedOutcome(
        inspection_id=inspection_id,
        violation_ids=tuple(v["violation_id"] for v in violation_rows),
        import_id=report.import_id,
        written=written,
        publication_due=publication_due(start),
    )


def _draw_defaults(
    engine: Engine,
    draw_id: str,
    institution_code: str,
    start: pd.Timestamp,
    kind: str | None,
    inspector_codes: Any,
    items: Any,
) -> tuple[str, Any, Any]:
    """Kind, inspectors and items of an inspection of a drawn institution (checked against the draw)."""
    draw = get_draw(engine, draw_id)
    if draw.status != "drawn":
        raise DrawStateError(f"draw {draw_id} is {draw.status}: results can be recorded only for drawn draws")
    if institution_code not in set(draw.selected["institution_code"]):
        raise ValueError(
            f"institution {institution_code} was not drawn in draw {draw_id}; its results belong elsewhere"
        )
    if kind not in (None, "random"):
        raise ValueError(f"kind must be 'random' for an inspection of draw {draw_id}; got {kind!r}")
    if start.date() < draw.as_of:
        raise ValueError(f"start_date {start:%Y-%m-%d} is before the draw date {draw.as_of} of draw {draw_id}")
    if inspector_codes is None:
        team = draw.assignments.loc[draw.assignments["institution_code"] == institution_code, "inspector_codes"]
        inspector_codes = team.iloc[0] if len(team) else None
    if items is None and draw.item:
        items = [draw.item]
    return "random", inspector_codes, items


def _check_inspectors(engine: Engine, codes: list[str]) -> None:
    """Inspectors must be on the roster when the bureau keeps one (the contract does not check it)."""
    roster = load_table(engine, "inspectors", columns=["inspector_code"])
    if roster.empty:
        return
    unknown = sorted(set(codes) - set(roster["inspector_code"].astype(str)))
    if unknown:
        raise ValueError(f"inspector_codes has codes not in the inspector roster (执法人员库): {unknown}")


def _violation_row(
    violation: Mapping[str, Any], number: int, inspection_id: str, institution_code: str, start: pd.Timestamp, kind: str
) -> dict[str, str]:
    unknown = sorted(set(violation) - set(_VIOLATION_FIELDS))
    if unknown:
        raise ValueError(f"violation {number} has unknown field(s) {unknown}; allowed: {list(_VIOLATION_FIELDS)}")
    row = {
        "violation_id": f"{inspection_id}-V{number}",
        "found_date": f"{start:%Y-%m-%d}",
        "source": KIND_SOURCES.get(kind, ""),
        "status": "confirmed",
        **{key: value for key, value in violation.items() if value is not None},
    }
    row["institution_code"] = institution_code
    row["inspection_id"] = inspection_id
    return {key: _text(value) for key, value in row.items()}


def _import_rows(engine: Engine, inspection: dict[str, str], violations: list[dict[str, str]], actor: str):
    """Write the rows as the bureau's CSV files would carry them and import them (one validation path)."""
    with tempfile.TemporaryDirectory(prefix="medcredit-outcome-") as folder:
        folder = Path(folder)
        pd.DataFrame([inspection]).to_csv(folder / "inspections.csv", index=False, encoding="utf-8")
        if violations:
            columns = ["violation_id", "institution_code", "inspection_id", *_VIOLATION_FIELDS[1:]]
            frame = pd.DataFrame([[row.get(c, "") for c in columns] for row in violations], columns=columns)
            frame.to_csv(folder / "violations.csv", index=False, encoding="utf-8")
        return import_paths([folder], engine=engine, actor=actor)


def _as_list(values: Sequence[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = values.replace("；", ";").split(";")
    return [str(value).strip() for value in values if str(value).strip()]


def _text(value: Any) -> str:
    """A value as a bureau file would spell it (empty for missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, list | tuple):
        return ";".join(str(part) for part in value)
    return str(value)


# --------------------------------------------------------------------------- publication deadline


def overdue_results(engine: Engine, today: Any, *, regions: Iterable[str] | None = None) -> pd.DataFrame:
    """Inspections whose results were not published within 20 working days.

    Columns: inspection_id, institution_code, name, region_code, kind, draw_id, start_date, due_date,
    result_published, status (``unpublished`` or ``published_late``), working_days_late; sorted by
    due date. Only inspections that started on or before ``today`` are considered.
    """
    today = as_timestamp(today, "today")
    inspections = load_table(
        engine,
        "inspections",
        columns=["inspection_id", "institution_code", "start_date", "kind", "draw_id", "result_published"],
    )
    inspections = inspections[inspections["start_date"] <= today]
    institutions = load_table(engine, "institutions", columns=["institution_code", "name", "region_code"])
    if regions is not None:
        local = institutions.loc[isin(institutions["region_code"], list(regions)), "institution_code"]
        inspections = inspections[isin(inspections["institution_code"], local)]
    late = overdue(inspections, today)
    details = inspections.set_index("inspection_id")[["kind", "draw_id"]]
    late = late.join(details, on="inspection_id").merge(institutions, on="institution_code", how="left")
    columns = [
        "inspection_id",
        "institution_code",
        "name",
        "region_code",
        "kind",
        "draw_id",
        "start_date",
        "due_date",
        "result_published",
        "status",
        "working_days_late",
    ]
    return late[columns].reset_index(drop=True)


def mark_published(engine: Engine, inspection_id: str, published_on: Any, *, actor: str) -> PublishedResult:
    """Record the date an inspection's results were published, keeping the row's import hash true.

    Refuses a date before the inspection started and a second, different date (a publication
    happened once; correct a wrong date by re-importing the bureau's file after fixing the record).
    """
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"actor must name who records the publication; got {actor!r}")
    published = as_timestamp(published_on, "published_on")
    table = CONTRACT_TABLES["inspections"]
    row = load_table(engine, "inspections", where=table.c.inspection_id == inspection_id)
    if row.empty:
        raise UnknownInspectionError(f"没有检查记录 {inspection_id!r} / no inspection {inspection_id!r} is stored")
    start = row["start_date"].iloc[0]
    current = row["result_published"].iloc[0]
    if published < start:
        raise ValueError(f"published_on {published:%Y-%m-%d} is before the inspection started ({start:%Y-%m-%d})")
    due = publication_due(start)
    result = PublishedResult(inspection_id, published.date(), due, published.date() <= due)
    if pd.notna(current):
        if current == published:
            return result
        raise ValueError(
            f"inspection {inspection_id} was already published on {current:%Y-%m-%d}; got {published:%Y-%m-%d}"
        )
    contract = TABLES["inspections"]
    old_hash = row_hash(row, contract).iloc[0]
    new_row = row.assign(result_published=pd.Series([published], dtype="datetime64[ns]", index=row.index))
    new_hash = row_hash(new_row, contract).iloc[0]
    with engine.begin() as connection:
        stored_hash = connection.execute(
            sa.select(table.c._row_hash).where(table.c.inspection_id == inspection_id)
        ).scalar_one()
        if stored_hash != old_hash:
            # The stored row and its hash disagree, so the new hash could not be trusted either.
            raise RuntimeError(
                f"inspection {inspection_id}: stored _row_hash {stored_hash} is not the hash of the stored row "
                f"({old_hash}); re-import the bureau's file instead of marking it here"
            )
        connection.execute(
            table.update()
            .where(table.c.inspection_id == inspection_id, table.c._row_hash == old_hash)
            .values(result_published=published.date(), _row_hash=new_hash)
        )
    logger.info(
        "inspection %s: results published on %s (due %s), recorded by %s", inspection_id, published.date(), due, actor
    )
    return result


# --------------------------------------------------------------------------- results of a draw


def draw_results(engine: Engine, draw_id: str) -> pd.DataFrame:
    """Every institution drawn in ``draw_id`` with its recorded result, in draw order.

    Columns: draw_rank, institution_code, name, region_code, stratum, inclusion_probability,
    inspector_codes (drawn team), inspection_id, start_date, found_violation, amount_found,
    result_published, violations (count), categories and dispositions (``;``-joined codes).
    Institutions without a recorded inspection have missing result columns.
    """
    draw = get_draw(engine, draw_id)
    if draw.status != "drawn":
        raise DrawStateError(f"draw {draw_id} is {draw.status}: it has no drawn institutions yet")
    selected = draw.selected[["draw_rank", "institution_code", "region_code", "stratum", "inclusion_probability"]]
    selected = selected.merge(
        draw.assignments[["institution_code", "inspector_codes"]], on="institution_code", how="left"
    )
    names = load_table(engine, "institutions", columns=["institution_code", "name"])
    inspections = load_table(
        engine,
        "inspections",
        columns=[
            "inspection_id",
            "institution_code",
            "start_date",
            "found_violation",
            "amount_found",
            "result_published",
        ],
        where=CONTRACT_TABLES["inspections"].c.draw_id == draw_id,
    )
    inspections = inspections.sort_values(["start_date", "inspection_id"]).drop_duplicates(
        "institution_code", keep="last"
    )
    violations = load_table(
        engine,
        "violations",
        columns=["inspection_id", "category", "disposition"],
        where=CONTRACT_TABLES["violations"].c.inspection_id.in_(inspections["inspection_id"].tolist()),
    )
    summary = violations.groupby("inspection_id").agg(
        violations=("category", "size"),
        categories=("category", lambda v: ";".join(sorted(set(v)))),
        dispositions=("disposition", lambda v: ";".join(sorted(set(v)))),
    )
    result = selected.merge(names, on="institution_code", how="left").merge(
        inspections, on="institution_code", how="left"
    )
    result = result.join(summary, on="inspection_id")
    result["violations"] = result["violations"].where(result["inspection_id"].notna()).astype("Int64")
    result.loc[result["inspection_id"].notna(), "violations"] = result["violations"].fillna(0)
    columns = [
        "draw_rank",
        "institution_code",
        "name",
        "region_code",
        "stratum",
        "inclusion_probability",
        "inspector_codes",
        "inspection_id",
        "start_date",
        "found_violation",
        "amount_found",
        "result_published",
        "violations",
        "categories",
        "dispositions",
    ]
    return result[columns].sort_values("draw_rank", ignore_index=True)
