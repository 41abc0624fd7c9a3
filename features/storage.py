"""The relational store: one owner for the database, its tables and its migrations.

SQLite in a data directory by default (``MEDCREDIT_DATA_DIR``, default ``./medcredit-data``),
PostgreSQL or any SQLAlchemy URL when ``MEDCREDIT_DATABASE_URL`` names one. Claims and claim items
are not here: they live in a Parquet dataset (``features.claims_store``) with a manifest table here.

Other layers attach their own tables to :data:`metadata` and ship an Alembic migration for them
under ``features/migrations/versions``; :func:`upgrade` applies every head.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .contract import TABLES, Column, Table

log = logging.getLogger(__name__)

metadata = sa.MetaData()

_SQL_TYPES = {
    "text": lambda: sa.Text(),
    "code": lambda: sa.String(40),
    "int": lambda: sa.BigInteger(),
    "money": lambda: sa.Numeric(18, 2, asdecimal=False),
    "number": lambda: sa.Float(),
    "date": lambda: sa.Date(),
    "bool": lambda: sa.Boolean(),
    "list": lambda: sa.Text(),
}


def _sql_column(column: Column, table: Table) -> sa.Column:
    return sa.Column(
        column.name,
        _SQL_TYPES[column.type](),
        primary_key=column.name in table.key,
        nullable=not (column.required or column.name in table.key),
        comment=column.zh,
    )


imports = sa.Table(
    "imports",
    metadata,
    sa.Column("import_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("actor", sa.String(100)),
    sa.Column("skip_bad_rows", sa.Boolean, nullable=False, default=False),
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_unchanged", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_skipped", sa.BigInteger, nullable=False, default=0),
)

import_files = sa.Table(
    "import_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.import_id"), nullable=False, index=True),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("table_name", sa.String(40), nullable=False),
    sa.Column("rows_received", sa.BigInteger, nullable=False),
    sa.Column("rows_written", sa.BigInteger, nullable=False),
    sa.Column("rows_unchanged", sa.BigInteger, nullable=False),
    sa.Column("rows_skipped", sa.BigInteger, nullable=False),
    sa.Column("imported_at", sa.DateTime, nullable=False),
)

claim_partitions = sa.Table(
    "claim_partitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.import_id"), nullable=False, index=True),
    sa.Column("table_name", sa.String(40), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

CONTRACT_TABLES: dict[str, sa.Table] = {
    name: sa.Table(
        name,
        metadata,
        *(_sql_column(col, table) for col in table.columns),
        sa.Column("_import_id", sa.Integer, sa.ForeignKey("imports.import_id"), nullable=False),
        sa.Column("_row_hash", sa.String(64), nullable=False),
        comment=table.zh,
    )
    for name, table in TABLES.items()
    if not table.large
}


def data_dir() -> Path:
    path = Path(os.environ.get("MEDCREDIT_DATA_DIR", "medcredit-data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(directory: Path | None = None) -> str:
    url = os.environ.get("MEDCREDIT_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{(directory or data_dir()) / 'medcredit.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default :func:`database_url`); SQLite gets WAL and foreign keys."""
    url = url or database_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version (every migration head)."""
    from alembic import command

    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


_migrated: set[str] = set()


def open_store(url: str | None = None) -> Engine:
    """An engine whose schema is migrated to the newest version."""
    engine = create_engine(url)
    key = engine.url.render_as_string(hide_password=False)
    if key not in _migrated:
        upgrade(engine)
        _migrated.add(key)
    return engine


def _typed(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        if column.type == "date":
            frame[column.name] = pd.to_datetime(values).astype("datetime64[ns]")
        elif column.type == "int":
            frame[column.name] = pd.to_numeric(values).astype("Int64")
        elif column.type in ("money", "number"):
            frame[column.name] = pd.to_numeric(values).astype("float64")
        elif column.type == "bool":
            frame[column.name] = values.astype("boolean")
        else:
            frame[column.name] = values.astype(object).where(values.notna(), None)
    return frame


def load_table(
    engine: Engine, name: str, *, columns: list[str] | None = None, where: sa.ColumnElement | None = None
) -> pd.DataFrame:
    """A stored contract table as a typed frame (project conventions; no bookkeeping columns)."""
    table = TABLES[name]
    if table.large:
        raise ValueError(f"{name} is stored as Parquet; use features.claims_store")
    sql_table = CONTRACT_TABLES[name]
    wanted = columns or table.column_names
    query = sa.select(*(sql_table.c[c] for c in wanted)).order_by(*(sql_table.c[k] for k in table.key))
    if where is not None:
        query = query.where(where)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in wanted})
    return _typed(frame, table)


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows stored per contract table (claims and items from the Parquet manifest)."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for name, sql_table in CONTRACT_TABLES.items():
            counts[name] = connection.execute(sa.select(sa.func.count()).select_from(sql_table)).scalar_one()
        rows = connection.execute(
            sa.select(claim_partitions.c.table_name, sa.func.sum(claim_partitions.c.rows)).group_by(
                claim_partitions.c.table_name
            )
        ).all()
    for name in ("claims", "claim_items"):
        counts[name] = 0
    counts.update({name: int(total or 0) for name, total in rows})
    return counts
