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
from .reading import SUPPORTED_SUFFIXES, detect_table, discover_files, read_file
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


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex64(values: np.ndarray) -> np.ndarray:
    """uint64 values as 16-character lowercase hex strings, vectorised."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(raw), 16), dtype=np.uint8)
    chars[:, 0::2] = _HEX_DIGITS[raw >> 4]
    chars[:, 1::2] = _HEX_DIGITS[raw & 15]
    return chars.view("S16").ravel().astype(str)


def row_hash(frame: pd.DataFrame, table: Table) -> pd.Series:
    """A 64-bit content fingerprint per row over the contract columns, as hex (conflict detection).

    A changed row goes unnoticed only if its fingerprint collides with the stored one: odds of
    one in 2**64 per changed row.
    """
    content = frame[table.column_names].copy()
    for col in table.columns:
        if col.type in ("money", "number"):
            content[col.name] = content[col.name].round(4)
        elif col.type not in ("date", "int", "bool"):
            content[col.name] = content[col.name].astype(object).where(content[col.name].notna(), "\x00")
    hashed = pd.util.hash_pandas_object(content, index=False, hash_key="medcredit-row-v1").to_numpy()
    return pd.Series(_hex64(hashed), index=frame.index, dtype=object)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plan(paths: Iterable[Path], table_override: str | None) -> tuple[dict[str, list[Path]], list[Problem]]:
    """Which files hold which table; files that hold none are problems."""
    paths = [Path(p) for p in paths]
    files = discover_files(paths)
    if not files:
        where = ", ".join(map(str, paths))
        return {}, [Problem("?", where, None, None, None, "empty_file", "no files found")]
    plan: dict[str, list[Path]] = {}
    problems: list[Problem] = []
    for path in files:
        table = detect_table(path, table_override)
        if table is None or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            problems.extend(read_file(path, table_override))  # names the exact reason
        else:
            plan.setdefault(table.name, []).append(path)
    return plan, problems


def _read_one(path: Path, table: str) -> tuple[pd.DataFrame, list[Problem], FileReport] | list[Problem]:
    raw = read_file(path, table)
    if isinstance(raw, list):
        return raw
    frame, problems = parse_frame(raw.frame, raw.table, path.name, raw.row_offset)
    if raw.extra_columns:
        log.info("%s: ignoring columns not in the contract: %s", path.name, raw.extra_columns)
    frame["_file"] = path.name
    return frame, problems, FileReport(path.name, table, _sha256(path), len(frame))


def _read_small(
    plan: dict[str, list[Path]], progress: Progress | None
) -> tuple[dict[str, _Batch], list[FileReport], list[Problem]]:
    """Read every file of the small tables into one batch per table."""
    frames: dict[str, list[pd.DataFrame]] = {}
    row_problems: dict[str, list[Problem]] = {}
    reports: list[FileReport] = []
    file_problems: list[Problem] = []
    files = [(name, path) for name, paths in plan.items() if not TABLES[name].large for path in paths]
    for done, (name, path) in enumerate(files, start=1):
        result = _read_one(path, name)
        if isinstance(result, list):
            file_problems.extend(result)
        else:
            frame, problems, report = result
            frames.setdefault(name, []).append(frame)
            row_problems.setdefault(name, []).extend(problems)
            reports.append(report)
        if progress:
            progress("read", done, len(files))
    batches = {
        name: _Batch(TABLES[name], pd.concat(parts, ignore_index=True), row_problems[name])
        for name, parts in frames.items()
    }
    return batches, reports, file_problems


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


def _known_keys(
    engine: Engine, table: str, batches: dict[str, _Batch], values: pd.Series, staged: list[Path] = ()
) -> set[str]:
    """Keys of ``table`` known to exist: stored ones plus this import's good rows."""
    known: set[str] = set()
    if table in batches:
        good = batches[table].frame
        known |= set(good.loc[~good["_bad"], TABLES[table].key[0]].dropna())
    if table == "claims":
        known |= claims_store.known_claim_ids(engine, values.dropna(), staged=staged)
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
        return bool(claims_store.partition_paths(engine, table, check=False))
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(CONTRACT_TABLES[table])).scalar_one() > 0


def _check_references(engine: Engine, batch: _Batch, batches: dict[str, _Batch], staged: list[Path] = ()) -> None:
    for column, (target, reason) in _REFERENCES.items():
        if column not in batch.table.references or target == batch.table.name:
            continue
        if target == "staff" and not _table_present(engine, "staff", batches):
            continue  # staff is optional; points are accepted without it
        values = batch.frame[column]
        known = _known_keys(engine, target, batches, values, staged)
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


def _check_stored(engine: Engine, batch: _Batch, staged: list[Path] = ()) -> pd.Series:
    """Mark conflicts with stored rows (and, for large tables, keys already staged by an earlier file of
    this import); return a mask of rows already stored unchanged."""
    table, frame = batch.table, batch.frame
    key = list(table.key)
    frame["_row_hash"] = row_hash(frame, table)
    if table.large:
        candidates = frame.loc[~frame["_bad"], key]
        if staged:
            seen = claims_store.existing_hashes(engine, table.name, candidates, paths=list(staged))
            repeated = frame[key].merge(seen.assign(_seen=True), on=key, how="left")["_seen"].notna()
            _flag(
                batch,
                pd.Series(repeated.to_numpy(), index=frame.index),
                key[0],
                "duplicate_key",
                "key repeated in another file of this import",
            )
            candidates = frame.loc[~frame["_bad"], key]
        stored = claims_store.existing_hashes(engine, table.name, candidates)
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
    unless ``skip_bad_rows``: then good rows are written and every skipped row is reported.

    Small tables are checked whole in memory; claims and claim items are streamed one file at a time
    (memory bounded by the largest file) into new Parquet files that become visible only when the
    import's transaction commits.
    """
    engine = engine or open_store()
    if table is not None and table not in TABLES:
        raise ValueError(f"table must be one of {sorted(TABLES)}; got {table!r}")
    plan, plan_problems = _plan(paths, table)
    batches, reports, file_problems = _read_small(plan, progress)
    if plan_problems or file_problems:
        raise ImportRejected(plan_problems + file_problems)
    unchanged: dict[str, pd.Series] = {}
    ordered = [name for name in IMPORT_ORDER if name in batches]
    for done, name in enumerate(ordered, start=1):
        batch = batches[name]
        _check_keys_across_files(batch)
        _check_references(engine, batch, batches)
        unchanged[name] = _check_stored(engine, batch)
        if progress:
            progress("check", done, len(ordered))
    staging = _Staging()
    try:
        _stage_large_tables(engine, plan, batches, reports, staging, progress)
        if staging.file_problems:
            raise ImportRejected(staging.file_problems)
        problems = [p for b in batches.values() for p in b.problems] + staging.problems
        problems.sort(key=lambda p: (p.table, p.file, p.row or 0))
        if problems and not skip_bad_rows:
            raise ImportRejected(problems)
        report = ImportReport(None, reports, problems)
        _write(engine, batches, unchanged, staging, report, skip_bad_rows, actor, progress)
    except BaseException:
        staging.discard()
        raise
    log.info(
        "import %s: %d rows written, %d unchanged, %d skipped",
        report.import_id,
        report.rows_written,
        report.rows_unchanged,
        len(problems),
    )
    return report


@dataclass
class _Staging:
    """Parquet files written by this import before its commit, and what streaming found."""

    written: list[claims_store.WrittenPartition] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    file_problems: list[Problem] = field(default_factory=list)

    def paths(self, table: str) -> list[Path]:
        return [w.absolute_path for w in self.written if w.table == table]

    def discard(self) -> None:
        for part in self.written:
            part.absolute_path.unlink(missing_ok=True)


def _stage_large_tables(
    engine: Engine,
    plan: dict[str, list[Path]],
    batches: dict[str, _Batch],
    reports: list[FileReport],
    staging: _Staging,
    progress: Progress | None,
) -> None:
    files = [(name, path) for name in IMPORT_ORDER if name in plan and TABLES[name].large for path in plan[name]]
    for done, (name, path) in enumerate(files, start=1):
        result = _read_one(path, name)
        if isinstance(result, list):
            staging.file_problems.extend(result)
            continue
        frame, problems, report = result
        batch = _Batch(TABLES[name], frame, problems)
        _check_references(engine, batch, batches, staging.paths("claims"))
        unchanged = _check_stored(engine, batch, staging.paths(name))
        keep = ~frame["_bad"] & ~unchanged
        report.rows_written = int(keep.sum())
        report.rows_unchanged = int(unchanged.sum())
        report.rows_skipped = int(frame["_bad"].sum())
        reports.append(report)
        staging.problems.extend(batch.problems)
        if keep.any():
            staging.written.extend(claims_store.write_partitions(frame.loc[keep], name))
        if progress:
            progress("stream", done, len(files))


def _write(
    engine: Engine,
    batches: dict[str, _Batch],
    unchanged: dict[str, pd.Series],
    staging: _Staging,
    report: ImportReport,
    skip_bad_rows: bool,
    actor: str | None,
    progress: Progress | None,
) -> None:
    """One transaction: the import record, the small tables' rows, the manifest of staged files."""
    by_file = {(f.table, f.file): f for f in report.files}
    now = datetime.now()
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
            records = _records(frame.loc[keep], batch.table)
            for record in records:
                record["_import_id"] = import_id
            for start in range(0, len(records), 20000):
                connection.execute(CONTRACT_TABLES[name].insert(), records[start : start + 20000])
            if progress:
                progress("write", done, len(ordered))
        claims_store.record_partitions(connection, import_id, staging.written)
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


def _count(
    by_file: dict[tuple[str, str], FileReport], table: str, frame: pd.DataFrame, keep: pd.Series, unchanged: pd.Series
) -> None:
    for file_name, rows in frame.groupby("_file").groups.items():
        idx = np.asarray(rows)
        report = by_file[(table, str(file_name))]
        report.rows_written = int(keep.loc[idx].sum())
        report.rows_unchanged = int(unchanged.loc[idx].sum())
        report.rows_skipped = int(frame.loc[idx, "_bad"].sum())
