"""One definition, two engines: the claim rules give identical values on DuckDB and on Spark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.claim_features import RULE_NAMES, ClaimSource, MonthRange, flag_claims, monthly_claim_aggregates
from features.spark_engine import spark_available, to_spark_sql

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark():
    reason = spark_available()
    if reason:
        pytest.skip(f"Spark parity needs PySpark and Java: {reason}")
    from features.spark_engine import local_session

    session = local_session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    from features.simulate import simulate_city

    out = tmp_path_factory.mktemp("city")
    simulate_city(out, n_institutions=30, years=2, seed=11, claims_per_institution_year=120, claim_items=True)
    return out / "data"


def _source(data: Path) -> ClaimSource:
    deaths = pd.read_csv(data / "deaths.csv", dtype=str)
    deaths["death_date"] = pd.to_datetime(deaths["death_date"])
    return ClaimSource(
        sorted((data / "claims").rglob("*.parquet")), sorted((data / "claim_items").rglob("*.parquet")), deaths
    )


def test_flagged_claims_are_identical_on_both_engines(spark, city):
    source, months = _source(city), MonthRange(2022 * 12, 2024 * 12)
    on_duckdb = flag_claims(source, months)
    on_spark = flag_claims(source, months, engine_kind="spark", spark=spark)
    fired = set(on_duckdb["rule"])
    assert len(fired) >= len(RULE_NAMES) - 4, f"too few rules fire on the city to compare engines: {sorted(fired)}"
    pd.testing.assert_frame_equal(on_duckdb, on_spark)


def test_features_are_identical_on_both_engines(spark, city):
    institutions = pd.read_csv(city / "institutions.csv", dtype=str, keep_default_na=False).replace("", None)
    source = _source(city)
    common = {
        "tables": {"institutions": institutions, "deaths": source.deaths},
        "claims": source.claims,
        "claim_items": source.claim_items,
    }
    on_duckdb = build_features("2023-11-20", **common)
    on_spark = build_features("2023-11-20", engine_kind="spark", spark=spark, **common)
    assert on_spark.engine_kind == "spark" and on_duckdb.frame["clm_claims_12m"].sum() > 0
    pd.testing.assert_frame_equal(on_duckdb.frame, on_spark.frame, check_exact=True)


def test_monthly_aggregates_without_claim_items_are_identical_on_both_engines(spark, city):
    """Without claim items the plan numbers the stays instead of hashing claim_id: both engines agree."""
    with_items, months = _source(city), MonthRange(2022 * 12, 2024 * 12)
    source = ClaimSource(with_items.claims, deaths=with_items.deaths)
    on_duckdb = monthly_claim_aggregates(source, months)
    on_spark = monthly_claim_aggregates(source, months, engine_kind="spark", spark=spark)
    assert on_duckdb.available == on_spark.available == frozenset({"claims", "deaths"})
    assert on_duckdb.rules["flagged"].sum() > 0 and on_duckdb.equals(on_spark)


def test_spark_sql_is_transpiled_not_rewritten():
    sql = "SELECT hash(patient_id) AS k, date_diff('day', DATE '1970-01-01', settle_date) AS d FROM claims"
    spark_sql = to_spark_sql(sql)
    assert "XXHASH64(patient_id)" in spark_sql and "DATEDIFF(DAY" in spark_sql
    assert to_spark_sql("SELECT rowid AS claim_key FROM _mc_base") == (
        "SELECT MONOTONICALLY_INCREASING_ID() AS claim_key FROM _mc_base"
    )
