"""Reading bureau files (CSV in UTF-8 / UTF-8 BOM / GB18030, XLSX, Parquet) into raw frames.

A raw frame has the contract's English column names (headers in English or Chinese are both
accepted, ignoring case and surrounding spaces) and values as they came: strings from CSV,
Python objects from XLSX, native types from Parquet. Typing and checking happen in
``features.validation``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .contract import TABLES, Table
from .problems import Problem

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet")
_ENCODINGS = ("utf-8", "gb18030")


@dataclass
class RawFile:
    path: Path
    table: Table
    frame: pd.DataFrame
    row_offset: int  # add to the 0-based position to get the row number a person sees
    extra_columns: list[str]


def detect_table(path: Path, override: str | None = None) -> Table | None:
    """The table a file holds: ``override``, else the longest table name (English or Chinese)
    that the file name starts with (``claims_202401.parquet`` → claims)."""
    if override:
        return TABLES.get(override) or next((t for t in TABLES.values() if t.zh == override), None)
    stem = path.name.split(".")[0].strip().lower()
    matches = [
        t
        for t in TABLES.values()
        for name in (t.name, t.zh)
        if stem == name or re.match(re.escape(name) + r"(?=$|[_\-\s.0-9])", stem)
    ]
    if not matches:
        return None
    return max(matches, key=lambda t: len(t.name))


def discover_files(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively) into the files they contain, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def _decode(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet to pandas with date columns as datetime64 (not Python date objects, which are slow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for index, column in enumerate(table.schema):
        if pa.types.is_date(column.type):
            table = table.set_column(index, column.name, table.column(index).cast(pa.timestamp("ms")))
    return table.to_pandas()


def _normalise_header(name: object) -> str:
    return str(name).strip().lower()


def _header_map(table: Table) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for col in table.columns:
        mapping[col.name.lower()] = col.name
        mapping[col.zh.lower()] = col.name
    return mapping


def _read_frame(path: Path, table: Table) -> tuple[pd.DataFrame, int] | Problem:
    suffix = path.suffix.lower()
    fail = lambda reason, detail="": Problem(table.name, path.name, None, None, None, reason, detail)
    try:
        if suffix == ".csv":
            text = _decode(path.read_bytes())
            if text is None:
                return fail("encoding", "not UTF-8, UTF-8 with BOM or GB18030")
            if not text.strip():
                return fail("empty_file")
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], skipinitialspace=False
            )
            return frame, 2
        if suffix == ".xlsx":
            with pd.ExcelFile(path, engine="openpyxl") as book:
                sheets = book.sheet_names
                sheet = next((s for s in sheets if s.strip().lower() in (table.name, table.zh)), sheets[0])
                frame = pd.read_excel(book, sheet_name=sheet, dtype=object)
            return frame, 2
        if suffix == ".parquet":
            return _read_parquet(path), 1
    except (ValueError, OSError, KeyError, pd.errors.ParserError) as exc:
        if isinstance(exc, pd.errors.EmptyDataError):
            return fail("empty_file")
        return fail("unreadable", f"{type(exc).__name__}: {exc}")
    return Problem("?", path.name, None, None, None, "not_a_table", f"unsupported file type {suffix!r}")


def read_file(path: Path, table_override: str | None = None) -> RawFile | list[Problem]:
    """Read one file; return the raw frame or the file-level problems (all of them)."""
    table = detect_table(path, table_override)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES or table is None:
        detail = (
            f"unsupported file type {path.suffix!r}; expected one of {list(SUPPORTED_SUFFIXES)}"
            if path.suffix.lower() not in SUPPORTED_SUFFIXES
            else f"file name does not start with a table name; expected one of {sorted(TABLES)} or use --table"
        )
        return [Problem(table.name if table else "?", path.name, None, None, None, "not_a_table", detail)]
    result = _read_frame(path, table)
    if isinstance(result, Problem):
        return [result]
    frame, offset = result
    mapping = _header_map(table)
    renamed: dict[object, str] = {}
    extra: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, object] = {}
    for header in frame.columns:
        target = mapping.get(_normalise_header(header))
        if target is None:
            extra.append(str(header))
            continue
        if target in seen:
            problems.append(
                Problem(
                    table.name,
                    path.name,
                    None,
                    target,
                    str(header),
                    "duplicate_column",
                    f"also given as {seen[target]!r}",
                )
            )
            continue
        seen[target] = header
        renamed[header] = target
    missing = [c for c in table.required_columns if c not in seen]
    problems.extend(
        Problem(table.name, path.name, None, c, None, "missing_column", f"expected {c!r} or {table.column(c).zh!r}")
        for c in missing
    )
    if problems:
        return problems
    frame = frame[list(renamed)].rename(columns=renamed)
    if frame.empty:
        return [Problem(table.name, path.name, None, None, None, "empty_file", "header only, no data rows")]
    return RawFile(path, table, frame.reset_index(drop=True), offset, extra)
