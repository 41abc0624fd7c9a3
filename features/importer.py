"""Importing bureau files: validate everything, then write everything or nothing.

Stages:
1. read each file (encoding, format, headers) — file-level problems reject the whole import;
2. type and check every value and row (``features.validation``);
3. check keys across files and against what is stored (same content: unchanged; different
   content: a conflict), and references across tables (unknown institution, inspection, ...);
4. with any problem, reject and write nothing — unless ``skip_bad_rows``, which writes the good
   rows and lists every skipped one;
5. write in one database transaction, with Parquet files for claims listed in the manifest within
   that transaction, and record the import (file name, SHA-256, table, rows, time).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import claims_store
from .contract import IMPORT_ORDER, TABLES, Table
from .problems import ImportRejected, Problem
from .reading import discover_files, read_file
from .storage import CONTRACT_TABLES, import_files, imports, load_table, open_store
from .validation import parse_frame

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# column -> (referenced table, reason) checked across tables
_REFERENCES = {
    "institution_code": ("institutions", "unknown_institution"),
    "inspection_id": ("inspections", "unknown_inspection"),
    "claim_id": ("claims", "unknown_claim"),
    "staff_code": ("staff", "unknown_staff"),
}


@dataclass
class FileReport:
    file: str
    table: str
    sha256: str
    rows_received: int
    rows_written: int = 0
    rows_unchanged: int = 0
    rows_skipped: int = 0


@dataclass
class ImportReport:
    import_id: int | None
    files: list[FileReport]
    skipped: list[Problem] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return sum(f.rows_written for f in self.files)

    @property
    def rows_unchanged(self) -> int:
        return sum(f.rows_unchanged for f in self.files)

    def rows_by_table(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for f in self.files:
            totals[f.table] = totals.get(f.table, 0) + f.rows_written
        return totals


@dataclass
class _Batch:
    """All rows of one table in this import, with their file and row for reporting."""

    table: Table
    frame: pd.DataFrame  # typed columns + _file, _row, _bad
    problems: list[Problem] = field(default_factory=list)


def row_hash(frame: pd.DataFrame, table: Table) -> pd.Series:
    """A 128-bit content fingerprint per row over the contract columns (conflict detection)."""
    content = frame[table.column_names].copy()
    for col in table.columns:
        if col.type in ("money", "number"):
            content[col.name] = content[col.name].round(4)
        elif col.type not in ("date", "int", "bool"):
            content[col.name] = content[col.name].astype(object).where(content[col.name].notna(), "\x00")
    a = pd.util.hash_pandas_object(content, index=False, hash_key="medcredit-row-v1")
    b = pd.util.hash_pandas_object(content, index=False, hash_key="row-fingerprint2")
    return pd.Series(
        [f"{x:016x}{y:016x}" for x, y in zip(a.to_numpy(), b.to_numpy(), strict=True)], index=frame.index, dtype=object
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_all(
    paths: Iterable[Path], table_override: str | None, progress: Progress | None
) -> tuple[dict[str, _Batch], list[FileReport], list[Problem]]:
    files = discover_files([Path(p) for p in paths])
    if not files:
        raise ImportRejected(
            [Problem("?", ", ".join(map(str, paths)), None, None, None, "empty_file", "no files found")]
        )
    batches: dict[str, list[pd.DataFrame]] = {}
    row_problems: dict[str, list[Problem]] = {}
    reports: list[FileReport] = []
    file_problems: list[Problem] = []
    for done, path in enumerate(files, start=1):
        raw = read_file(path, table_override)
        if isinstance(raw, list):
            file_problems.extend(raw)
        else:
            frame, problems = parse_frame(raw.frame, raw.table, path.name, raw.row_offset)
            if raw.extra_columns:
                log.info("%s: ignoring columns not in the contract: %s", path.name, raw.extra_columns)
            frame["_file"] = path.name
            batches.setdefault(raw.table.name, []).append(frame)
            row_problems.setdefault(raw.table.name, []).extend(problems)
            reports.append(FileReport(path.name, raw.table.name, _sha256(path), len(frame)))
        if progress:
            progress("read", done, len(files))
    merged = {
        name: _Batch(TABLES[name], pd.concat(frames, ignore_index=True), row_problems[name])
        for name, frames in batches.items()
    }
    return merged, reports, file_problems


def _flag(batch: _Batch, mask: pd.Series, column: str, reason: str, detail: str = "") -> None:
    mask = mask.fillna(False).astype(bool) & ~batch.frame["_bad"]
    if not mask.any():
        return
    rows = batch.frame.loc[mask]
    values = rows[column].astype(object) if column in rows else pd.Series(None, index=rows.index)
    batch.problems.extend(
        Problem(batch.table.name, f, int(r), column, None if pd.isna(v) else str(v), reason, detail)
        for f, r, v in zip(rows["_file"], rows["_row"], values, strict=True)
    )
    batch.frame.loc[mask, "_bad"] = True


def _check_keys_across_files(batch: _Batch) -> None:
    key = list(batch.table.key)
    frame = batch.frame
    multi_file = frame.groupby(key, dropna=True)["_file"].transform("nunique") > 1
    dup = multi_file & frame.duplicated(key, keep="first")
    _flag(batch, dup, key[0], "duplicate_key", "key repeated in another file of this import")


def _known_keys(engine: Engine, table: str, batches: dict[str, _Batch], values: pd.Series) -> set[str]:
    """Keys of ``table`` known to exist: stored ones plus this import's good rows."""
    known: set[str] = set()
    if table in batches:
        good = batches[table].frame
        known |= set(good.loc[~good["_bad"], TABLES[table].key[0]].dropna())
    if table == "claims":
        known |= claims_store.known_claim_ids(engine, values.dropna())
    else:
        key = TABLES[table].key[0]
        stored = CONTRACT_TABLES[table]
        wanted = list(set(values.dropna()) - known)
        with engine.connect() as connection:
            for start in range(0, len(wanted), 5000):
                chunk = wanted[start : start + 5000]
                known |= set(connection.execute(sa.select(stored.c[key]).where(stored.c[key].in_(chunk))).scalars())
    return known


def _table_present(engine: Engine, table: str, batches: dict[str, _Batch]) -> bool:
    if table in batches:
        return True
    if table == "claims":
        return bool(claims_store.partition_paths(engine, table))
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(CONTRACT_TABLES[table])).scalar_one() > 0


def _check_references(engine: Engine, batch: _Batch, batches: dict[str, _Batch]) -> None:
    for column, (target, reason) in _REFERENCES.items():
        if column not in batch.table.references or target == batch.table.name:
            continue
        if target == "staff" and not _table_present(engine, "staff", batches):
            continue  # staff is optional; points are accepted without it
        values = batch.frame[column]
        known = _known_keys(engine, target, batches, values)
        _flag(batch, values.notna() & ~values.isin(known), column, reason, f"not found in {target}")
    if batch.table.name == "violations":
        _check_violation_inspections(engine, batch, batches)


def _check_violation_inspections(engine: Engine, batch: _Batch, batches: dict[str, _Batch]) -> None:
    """A violation's inspection must be of the same institution."""
    frame = batch.frame
    linked = frame["inspection_id"].notna() & ~frame["_bad"]
    if not linked.any():
        return
    stored = load_table(engine, "inspections", columns=["inspection_id", "institution_code"])
    owners = [stored]
    if "inspections" in batches:
        owners.append(batches["inspections"].frame[["inspection_id", "institution_code"]])
    owner = pd.concat(owners).drop_duplicates("inspection_id").set_index("inspection_id")["institution_code"]
    mismatch = linked & (frame["inspection_id"].map(owner) != frame["institution_code"])
    _flag(batch, mismatch, "inspection_id", "unknown_inspection", "inspection belongs to another institution")


def _check_stored(engine: Engine, batch: _Batch) -> pd.Series:
    """Mark conflicts with stored rows; return a mask of rows already stored unchanged."""
    table, frame = batch.table, batch.frame
    key = list(table.key)
    frame["_row_hash"] = row_hash(frame, table)
    if table.large:
        stored = claims_store.existing_hashes(engine, table.name, frame.loc[~frame["_bad"], key])
    else:
        stored_table = CONTRACT_TABLES[table.name]
        wanted = frame.loc[~frame["_bad"], key[0]].dropna().unique().tolist()
        parts = []
        with engine.connect() as connection:
            for start in range(0, len(wanted), 5000):
                query = sa.select(*(stored_table.c[k] for k in key), stored_table.c._row_hash.label("_stored_hash"))
                query = query.where(stored_table.c[key[0]].in_(wanted[start : start + 5000]))
                parts.append(pd.DataFrame(connection.execute(query).mappings().all()))
        stored = pd.concat(parts) if parts else pd.DataFrame(columns=[*key, "_stored_hash"])
    if stored.empty:
        return pd.Series(False, index=frame.index)
    merged = frame[key].merge(stored, on=key, how="left")["_stored_hash"]
    merged.index = frame.index
    unchanged = merged.notna() & (merged == frame["_row_hash"])
    conflict = merged.notna() & (merged != frame["_row_hash"])
    _flag(batch, conflict, key[0], "conflict", "a stored row has this key with different content")
    return unchanged & ~frame["_bad"]


def _records(frame: pd.DataFrame, table: Table) -> list[dict]:
    out = frame[[*table.column_names, "_row_hash"]].copy()
    for col in table.columns:
        if col.type == "date":
            out[col.name] = out[col.name].dt.date
    out = out.astype(object).where(out.notna(), None)
    return out.to_dict("records")


def import_paths(
    paths: Iterable[str | Path],
    *,
    engine: Engine | None = None,
    table: str | None = None,
    skip_bad_rows: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import files or folders. Raises :class:`ImportRejected` (nothing written) on any problem,
    unless ``skip_bad_rows``: then good rows are written and every skipped row is reported."""
    engine = engine or open_store()
    paths = list(paths)
    if table is not None and table not in TABLES:
        raise ValueError(f"table must be one of {sorted(TABLES)}; got {table!r}")
    batches, reports, file_problems = _read_all(paths, table, progress)
    if file_problems:
        raise ImportRejected(file_problems)
    unchanged: dict[str, pd.Series] = {}
    ordered = [name for name in IMPORT_ORDER if name in batches]
    for done, name in enumerate(ordered, start=1):
        batch = batches[name]
        _check_keys_across_files(batch)
        _check_references(engine, batch, batches)
        unchanged[name] = _check_stored(engine, batch)
        if progress:
            progress("check", done, len(ordered))
    problems = sorted((p for b in batches.values() for p in b.problems), key=lambda p: (p.table, p.file, p.row or 0))
    if problems and not skip_bad_rows:
        raise ImportRejected(problems)
    report = ImportReport(None, reports, problems)
    _write(engine, batches, unchanged, report, skip_bad_rows, actor, progress)
    log.info(
        "import %s: %d rows written, %d unchanged, %d skipped",
        report.import_id,
        report.rows_written,
        report.rows_unchanged,
        len(problems),
    )
    return report


def _write(
    engine: Engine,
    batches: dict[str, _Batch],
    unchanged: dict[str, pd.Series],
    report: ImportReport,
    skip_bad_rows: bool,
    actor: str | None,
    progress: Progress | None,
) -> None:
    by_file = {(f.table, f.file): f for f in report.files}
    written_files: list[claims_store.WrittenPartition] = []
    now = datetime.now()
    try:
        with engine.begin() as connection:
            import_id = connection.execute(
                imports.insert().values(
                    started_at=now,
                    actor=actor,
                    skip_bad_rows=skip_bad_rows,
                    rows_written=0,
                    rows_unchanged=0,
                    rows_skipped=0,
                )
            ).inserted_primary_key[0]
            ordered = [name for name in IMPORT_ORDER if name in batches]
            for done, name in enumerate(ordered, start=1):
                batch = batches[name]
                frame = batch.frame
                keep = ~frame["_bad"] & ~unchanged[name]
                _count(by_file, name, frame, keep, unchanged[name])
                new_rows = frame.loc[keep]
                if new_rows.empty:
                    continue
                if batch.table.large:
                    parts = claims_store.write_partitions(new_rows, name)
                    written_files.extend(parts)
                    claims_store.record_partitions(connection, import_id, parts)
                else:
                    records = _records(new_rows.assign(_import_id=import_id), batch.table)
                    for record in records:
                        record["_import_id"] = import_id
                    for start in range(0, len(records), 20000):
                        connection.execute(CONTRACT_TABLES[name].insert(), records[start : start + 20000])
                if progress:
                    progress("write", done, len(ordered))
            report.import_id = import_id
            connection.execute(
                import_files.insert(),
                [
                    {
                        "import_id": import_id,
                        "file_name": f.file,
                        "sha256": f.sha256,
                        "table_name": f.table,
                        "rows_received": f.rows_received,
                        "rows_written": f.rows_written,
                        "rows_unchanged": f.rows_unchanged,
                        "rows_skipped": f.rows_skipped,
                        "imported_at": now,
                    }
                    for f in report.files
                ],
            )
            connection.execute(
                imports.update()
                .where(imports.c.import_id == import_id)
                .values(
                    finished_at=datetime.now(),
                    rows_written=report.rows_written,
                    rows_unchanged=report.rows_unchanged,
                    rows_skipped=len(report.skipped),
                )
            )
    except BaseException:
        for part in written_files:
            part.absolute_path.unlink(missing_ok=True)
        raise


def _count(
    by_file: dict[tuple[str, str], FileReport], table: str, frame: pd.DataFrame, keep: pd.Series, unchanged: pd.Series
) -> None:
    for file_name, rows in frame.groupby("_file").groups.items():
        idx = np.asarray(rows)
        report = by_file[(table, str(file_name))]
        report.rows_written = int(keep.loc[idx].sum())
        report.rows_unchanged = int(unchanged.loc[idx].sum())
        report.rows_skipped = int(frame.loc[idx, "_bad"].sum())
