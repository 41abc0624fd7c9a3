"""Claims and claim items as a Parquet dataset partitioned by month, read with DuckDB.

A province settles hundreds of millions of claims a year, too many for the relational store.
Each import writes new Parquet files under ``<data dir>/claims/<table>/month=YYYY-MM/`` and lists
them in the ``claim_partitions`` manifest in the same database transaction that records the import.
Readers see exactly the files in the manifest, so a crash mid-import leaves at most orphan files
that nobody reads (``orphan_files`` lists them for clean-up).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .contract import TABLES
from .storage import claim_partitions, data_dir

PARTITION_DATE = {"claims": "settle_date", "claim_items": "item_date"}


def dataset_root(root: Path | None = None) -> Path:
    return (root or data_dir()) / "claims"


class MissingClaimFiles(ValueError):
    """Files the store's manifest lists are not on disk (a wrong data directory, or files removed)."""


def partition_paths(
    engine: Engine | Connection, table: str, root: Path | None = None, *, check: bool = True
) -> list[Path]:
    """The Parquet files that hold ``table``, as listed in the manifest.

    With ``check`` (the default) every file must exist, else :class:`MissingClaimFiles` says how many
    are missing and where they were looked for, before any query half-reads the dataset.
    """
    query = sa.select(claim_partitions.c.path).where(claim_partitions.c.table_name == table)
    query = query.order_by(claim_partitions.c.month, claim_partitions.c.id)
    if isinstance(engine, Engine):
        with engine.connect() as connection:
            rows = connection.execute(query).scalars().all()
    else:
        rows = engine.execute(query).scalars().all()
    base = dataset_root(root)
    paths = [base / row for row in rows]
    missing = [p for p in paths if not p.is_file()] if check else []
    if missing:
        raise MissingClaimFiles(
            f"{table} 数据文件缺失 files missing: {len(missing):,} of the {len(paths):,} files the store lists are "
            f"not under {base} (first: {missing[0].relative_to(base)}); set MEDCREDIT_DATA_DIR to the folder that "
            f"holds this store's claims/ directory"
        )
    return paths


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _empty_select(table: str) -> str:
    types = {
        "text": "VARCHAR",
        "code": "VARCHAR",
        "int": "BIGINT",
        "money": "DOUBLE",
        "number": "DOUBLE",
        "date": "DATE",
        "bool": "BOOLEAN",
        "list": "VARCHAR",
    }
    cols = ", ".join(f"CAST(NULL AS {types[c.type]}) AS {c.name}" for c in TABLES[table].columns)
    return f"(SELECT {cols}, CAST(NULL AS VARCHAR) AS _row_hash WHERE FALSE)"


def relation_sql(paths: list[Path], table: str) -> str:
    """A FROM-clause fragment reading ``paths`` (or an empty relation with the table's columns)."""
    if not paths:
        return _empty_select(table)
    return f"read_parquet({_sql_list(paths)}, union_by_name=true)"


def quiet_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never draws its own progress bar (library code stays quiet)."""
    con = duckdb.connect()
    with contextlib.suppress(duckdb.Error):  # inside Jupyter DuckDB refuses the setting (its bar is a widget)
        con.execute("SET enable_progress_bar = false")
    return con


def connect(
    engine: Engine, root: Path | None = None, *, memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views ``claims`` and ``claim_items`` over the manifest's files."""
    con = quiet_duckdb()
    if memory_limit:
        con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    for table in PARTITION_DATE:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {relation_sql(partition_paths(engine, table, root), table)}")
    return con


@dataclass(frozen=True)
class WrittenPartition:
    table: str
    month: str
    relative_path: str
    absolute_path: Path
    rows: int
    sha256: str


def _arrow_table(frame: pd.DataFrame, table: str) -> pa.Table:
    fields = []
    types = {
        "text": pa.string(),
        "code": pa.string(),
        "int": pa.int64(),
        "money": pa.float64(),
        "number": pa.float64(),
        "date": pa.date32(),
        "bool": pa.bool_(),
        "list": pa.string(),
    }
    for col in TABLES[table].columns:
        fields.append(pa.field(col.name, types[col.type]))
    fields.append(pa.field("_row_hash", pa.string()))
    schema = pa.schema(fields)
    columns = {}
    for field in schema:
        values = frame[field.name]
        if field.type == pa.date32():
            stamps = pa.array(
                values.to_numpy(dtype="datetime64[ms]"), type=pa.timestamp("ms"), mask=values.isna().to_numpy()
            )
            columns[field.name] = stamps.cast(pa.date32())
        else:
            columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)


def write_partitions(frame: pd.DataFrame, table: str, root: Path | None = None) -> list[WrittenPartition]:
    """Write ``frame`` (typed, with ``_row_hash``) as one new file per month; return what was written."""
    base = dataset_root(root)
    months = frame[PARTITION_DATE[table]].dt.strftime("%Y-%m")
    token = f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:10]}"
    written: list[WrittenPartition] = []
    for month, part in frame.groupby(months, sort=True):
        relative = f"{table}/month={month}/part-{token}.parquet"
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_arrow_table(part, table), path, compression="zstd")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        written.append(WrittenPartition(table, str(month), relative, path, len(part), digest))
    return written


def record_partitions(connection: Connection, import_id: int, written: list[WrittenPartition]) -> None:
    if not written:
        return
    now = datetime.now()
    connection.execute(
        claim_partitions.insert(),
        [
            {
                "import_id": import_id,
                "table_name": w.table,
                "month": w.month,
                "path": w.relative_path,
                "rows": w.rows,
                "sha256": w.sha256,
                "created_at": now,
            }
            for w in written
        ],
    )


def existing_hashes(
    engine: Engine, table: str, keys: pd.DataFrame, root: Path | None = None, *, paths: list[Path] | None = None
) -> pd.DataFrame:
    """Stored ``_row_hash`` for those of ``keys`` found in ``paths`` (default: the stored dataset),
    as the key columns plus ``_stored_hash``."""
    key_cols = list(TABLES[table].key)
    paths = partition_paths(engine, table, root) if paths is None else paths
    if not paths or keys.empty:
        empty = {k: pd.Series(dtype=object) for k in key_cols}
        return pd.DataFrame({**empty, "_stored_hash": pd.Series(dtype=object)})
    con = quiet_duckdb()
    try:
        con.register("incoming", keys[key_cols])
        join = " AND ".join(f"s.{k} = i.{k}" for k in key_cols)
        sql = (
            f"SELECT {', '.join('s.' + k for k in key_cols)}, s._row_hash AS _stored_hash "
            f"FROM {relation_sql(paths, table)} s SEMI JOIN incoming i ON {join}"
        )
        return con.execute(sql).df()
    finally:
        con.close()


def known_claim_ids(
    engine: Engine, claim_ids: pd.Series, root: Path | None = None, *, staged: list[Path] = ()
) -> set[str]:
    """Which of ``claim_ids`` are stored, or staged by the import under way."""
    paths = partition_paths(engine, "claims", root) + list(staged)
    found = existing_hashes(engine, "claims", pd.DataFrame({"claim_id": claim_ids.unique()}), root, paths=paths)
    return set(found["claim_id"])


def orphan_files(engine: Engine, root: Path | None = None) -> list[Path]:
    """Parquet files on disk that no manifest row lists (left by an interrupted import)."""
    base = dataset_root(root)
    listed = {p for table in PARTITION_DATE for p in partition_paths(engine, table, root, check=False)}
    return sorted(p for p in base.rglob("*.parquet") if p not in listed) if base.exists() else []
