"""The claim rules on Apache Spark, for provinces whose claims outgrow one machine.

The statements are those of :func:`features.claim_features.claim_sql_plan`, written once in DuckDB's
dialect and transpiled here with sqlglot (``read="duckdb", write="spark"``); nothing is re-written
by hand. Spark reads the same Parquet files as DuckDB; intermediate tables are persisted (memory,
spilling to disk) and registered as temporary views under the same names.

PySpark is an optional dependency (``pip install medcredit[spark]``, Java 17); it is imported only
when this engine is used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache

import pandas as pd
import pyarrow as pa
import sqlglot
from sqlglot import exp

from .claim_features import CODES_VIEW, DEATHS_VIEW, ClaimSource, SqlStep, contract_arrow

log = logging.getLogger(__name__)

DEFAULT_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
}


def spark_available() -> str | None:
    """None when PySpark and a Java runtime are usable, else the reason they are not."""
    import shutil

    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install 'medcredit[spark]')"
    if shutil.which("java") is None:
        return "no Java runtime on PATH (PySpark needs Java 17)"
    return None


def local_session(master: str = "local[2]", config: Mapping[str, str] | None = None):
    """A local-mode SparkSession with quiet, reproducible settings (UTC, no UI)."""
    reason = spark_available()
    if reason:
        raise RuntimeError(f"the Spark engine is unavailable: {reason}")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("medcredit-features")
    for key, value in {**DEFAULT_CONFIG, **(config or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_functions(node: exp.Expression) -> exp.Expression:
    # DuckDB's hash() is 64-bit; Spark's HASH() is a 32-bit murmur3, so keys use Spark's 64-bit hash.
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":
        return exp.Anonymous(this="XXHASH64", expressions=node.expressions)
    # DuckDB's row id of a table (a distinct number per row, in no particular order): Spark's unique row id.
    if isinstance(node, exp.Column) and not node.table and node.name.lower() == "rowid":
        return exp.Anonymous(this="MONOTONICALLY_INCREASING_ID", expressions=[])
    return node


@lru_cache(maxsize=256)
def to_spark_sql(sql: str) -> str:
    """One statement transpiled from DuckDB's dialect to Spark SQL (sqlglot, plus the 64-bit hash)."""
    statements = sqlglot.parse(sql, read="duckdb")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement to transpile; got {len(statements)}")
    return statements[0].transform(_spark_functions).sql(dialect="spark")


def _spark_frame(spark, value: object, table: str):
    if isinstance(value, pd.DataFrame | pa.Table):
        return spark.createDataFrame(contract_arrow(value, table))
    import duckdb

    if isinstance(value, duckdb.DuckDBPyRelation):
        return spark.createDataFrame(contract_arrow(value.to_arrow_table(), table))
    if isinstance(value, duckdb.DuckDBPyConnection):
        raise ValueError(f"the Spark engine reads {table} from Parquet paths or frames; got a DuckDB connection")
    paths = [str(p) for p in value]  # type: ignore[union-attr]
    return spark.read.option("mergeSchema", "true").parquet(*paths)


def _register_inputs(spark, source: ClaimSource, available: set[str]) -> list[str]:
    views = []
    inputs = {"claims": ("claims", source.claims)}
    if "claim_items" in available:
        inputs["claim_items"] = ("claim_items", source.claim_items)
    if "deaths" in available:
        inputs[DEATHS_VIEW] = ("deaths", source.deaths)
    for view, (table, value) in inputs.items():
        _spark_frame(spark, value, table).createOrReplaceTempView(view)
        views.append(view)
    codes = source.codes_table()
    if codes is None:
        spark.sql("SELECT DISTINCT institution_code FROM claims").createOrReplaceTempView(CODES_VIEW)
    else:
        spark.createDataFrame(codes).createOrReplaceTempView(CODES_VIEW)
    views.append(CODES_VIEW)
    return views


def run_spark(steps: list[SqlStep], source: ClaimSource, available: set[str], spark=None) -> pd.DataFrame:
    """Execute the plan on Spark (a local session when ``spark`` is None); return the result."""
    from pyspark import StorageLevel

    spark = spark or local_session()
    views = _register_inputs(spark, source, available)
    persisted = []
    result = pd.DataFrame()
    try:
        for step in steps:
            statement = to_spark_sql(step.sql)
            log.debug("spark step %s", step.name)
            frame = spark.sql(statement)
            if step.kind == "table":
                frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
                persisted.append(frame)
                frame.createOrReplaceTempView(step.name)
                views.append(step.name)
            elif step.kind == "view":
                frame.createOrReplaceTempView(step.name)
                views.append(step.name)
            else:
                # Arrow avoids PySpark's pandas conversion layer (and its pandas-version checks).
                result = frame.toArrow().to_pandas()
    finally:
        for frame in persisted:
            frame.unpersist()
        for view in views:
            spark.catalog.dropTempView(view)
    return result
