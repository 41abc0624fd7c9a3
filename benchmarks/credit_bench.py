"""Benchmark: credit evaluation of 50,000 institutions with 1 million violation records.

Builds seeded synthetic contract frames in memory (institutions, violations, complaints, referrals,
self-inspections, staff points), then times ``scoring.evaluate_credit`` for each built-in policy
and prints the figures. Optionally (``--store``) also times storing a run in a SQLite store.

    python benchmarks/credit_bench.py                    # 50,000 × 1,000,000, both policies
    python benchmarks/credit_bench.py --institutions 5000 --violations 100000 --store
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date

import numpy as np
import pandas as pd
import psutil

from features.contract import CODE_LISTS
from scoring.credit import evaluate_credit
from scoring.policy import BUILTIN_POLICIES

AS_OF = date(2025, 12, 31)
START = np.datetime64("2022-01-01")
DAYS = int((np.datetime64("2025-12-31") - START).astype(int)) + 1

# Disposition shares, lightest to heaviest (roughly the 2022 national pattern of domain.md §7).
DISPOSITION_SHARES = (0.35, 0.20, 0.19, 0.10, 0.05, 0.05, 0.02, 0.015, 0.012, 0.007, 0.003, 0.002, 0.001)


def _codes(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), width)).astype(object)


def _dates(rng: np.random.Generator, n: int) -> np.ndarray:
    return (START + rng.integers(0, DAYS, n).astype("timedelta64[D]")).astype("datetime64[ns]")


def _bools(rng: np.random.Generator, n: int, p_true: float, p_missing: float) -> pd.Series:
    draw = rng.random(n)
    values = pd.array(draw < p_true, dtype="boolean")
    values[draw > 1 - p_missing] = pd.NA
    return pd.Series(values)


def build_institutions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    kinds = np.array(list(CODE_LISTS["institution_kind"]), dtype=object)
    kind = kinds[rng.choice(len(kinds), n, p=[0.05, 0.15, 0.30, 0.15, 0.35])]
    codes = (
        np.where(kind == "pharmacy", "P", "H").astype(object) + "441502" + np.char.zfill(np.arange(n).astype(str), 5)
    )
    status = np.array(["active", "suspended", "terminated"], dtype=object)[rng.choice(3, n, p=[0.97, 0.02, 0.01])]
    return pd.DataFrame(
        {
            "institution_code": codes,
            "name": _codes("机构", n, 6),
            "kind": kind,
            "level": pd.array(np.where(kind == "hospital", rng.integers(1, 4, n), 0), dtype="Int64"),
            "ownership": np.where(rng.random(n) < 0.4, "public", "private").astype(object),
            "region_code": "441502",
            "designated_since": pd.Series(np.datetime64("2015-01-01"), index=range(n)).astype("datetime64[ns]"),
            "status": status,
            "status_since": pd.Series(_dates(rng, n)).where(status != "active"),
        }
    )


def _owners(rng: np.random.Generator, institutions: pd.DataFrame, n: int) -> np.ndarray:
    # A few institutions collect many records: weights from a heavy-tailed draw.
    weights = rng.pareto(1.5, len(institutions)) + 0.05
    return institutions["institution_code"].to_numpy()[rng.choice(len(institutions), n, p=weights / weights.sum())]


def build_violations(rng: np.random.Generator, institutions: pd.DataFrame, n: int) -> pd.DataFrame:
    found = _dates(rng, n)
    decided = found + rng.integers(0, 60, n).astype("timedelta64[D]")
    dispositions = np.array(list(CODE_LISTS["disposition"]), dtype=object)
    sources = np.array(list(CODE_LISTS["violation_source"]), dtype=object)
    categories = np.array(list(CODE_LISTS["violation_category"]), dtype=object)
    status = np.array(["confirmed", "under_appeal", "overturned"], dtype=object)[rng.choice(3, n, p=[0.93, 0.04, 0.03])]
    return pd.DataFrame(
        {
            "violation_id": _codes("V", n, 8),
            "institution_code": _owners(rng, institutions, n),
            "found_date": found,
            "decision_date": pd.Series(decided).where(rng.random(n) > 0.05),
            "source": sources[rng.integers(0, len(sources), n)],
            "category": categories[rng.integers(0, len(categories), n)],
            "amount": np.round(rng.lognormal(8.5, 1.6, n), 2),
            "disposition": dispositions[rng.choice(len(dispositions), n, p=DISPOSITION_SHARES)],
            "fraud": _bools(rng, n, 0.005, 0.3),
            "lenient": _bools(rng, n, 0.2, 0.1),
            "status": status,
        }
    )


def build_others(rng: np.random.Generator, institutions: pd.DataFrame, n_violations: int) -> dict[str, pd.DataFrame]:
    n_c, n_r, n_s, n_p = n_violations // 10, n_violations // 50, n_violations // 10, n_violations // 7
    received = _dates(rng, n_c)
    complaints = pd.DataFrame(
        {
            "complaint_id": _codes("C", n_c, 8),
            "institution_code": _owners(rng, institutions, n_c),
            "received_date": received,
            "substantiated": _bools(rng, n_c, 0.4, 0.2),
            "closed_date": received + rng.integers(5, 90, n_c).astype("timedelta64[D]"),
        }
    )
    departments = np.array(list(CODE_LISTS["department"]), dtype=object)
    referrals = pd.DataFrame(
        {
            "referral_id": _codes("R", n_r, 8),
            "institution_code": _owners(rng, institutions, n_r),
            "date": _dates(rng, n_r),
            "department": departments[rng.integers(0, len(departments), n_r)],
        }
    )
    submitted = _dates(rng, n_s)
    reported = rng.poisson(1.0, n_s)
    verified = _bools(rng, n_s, 0.3, 0.0)
    self_inspections = pd.DataFrame(
        {
            "report_id": _codes("S", n_s, 8),
            "institution_code": _owners(rng, institutions, n_s),
            "period_start": submitted - np.timedelta64(90, "D"),
            "period_end": submitted - np.timedelta64(10, "D"),
            "submitted_date": submitted,
            "problems_reported": pd.array(reported, dtype="Int64"),
            "amount_refunded": np.where(reported > 0, np.round(rng.lognormal(8, 1.5, n_s), 2), 0.0),
            "verified": verified,
            "verified_date": pd.Series(submitted + np.timedelta64(30, "D")).where(verified.fillna(False)),
            "problems_found": pd.array(np.where(verified.fillna(False), rng.poisson(0.5, n_s), 0), dtype="Int64"),
        }
    )
    n_staff = max(n_p // 3, 1)
    staff_owner = _owners(rng, institutions, n_staff)
    who = rng.integers(0, n_staff, n_p)
    staff_points = pd.DataFrame(
        {
            "event_id": _codes("E", n_p, 8),
            "staff_code": _codes("D", n_staff, 7)[who],
            "institution_code": staff_owner[who],
            "date": _dates(rng, n_p),
            "points": pd.array(
                rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12], n_p, p=[0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02]),
                dtype="Int64",
            ),
        }
    )
    return {
        "complaints": complaints,
        "referrals": referrals,
        "self_inspections": self_inspections,
        "staff_points": staff_points,
    }


def build_tables(rng: np.random.Generator, n_institutions: int, n_violations: int) -> dict[str, pd.DataFrame]:
    institutions = build_institutions(rng, n_institutions)
    return {
        "institutions": institutions,
        "violations": build_violations(rng, institutions, n_violations),
        **build_others(rng, institutions, n_violations),
    }


def _timed(label: str, action):
    start = time.perf_counter()
    value = action()
    print(f"{label:<46}{time.perf_counter() - start:>8.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=50_000)
    parser.add_argument("--violations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="timed evaluations per policy (the best is reported)")
    parser.add_argument("--store", action="store_true", help="also time storing one run in a SQLite store")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(
        f"credit evaluation benchmark: {args.institutions:,} institutions, {args.violations:,} violations, "
        f"{os.cpu_count()} CPU(s), pandas {pd.__version__}"
    )
    tables = _timed("build synthetic data", lambda: build_tables(rng, args.institutions, args.violations))
    for name, frame in tables.items():
        print(f"  {name:<18}{len(frame):>12,} rows")
    for policy in BUILTIN_POLICIES:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            evaluation = evaluate_credit(AS_OF, policy, tables=tables)
            times.append(time.perf_counter() - start)
        print(
            f"evaluate_credit {policy:<30}{min(times):>8.2f} s  (best of {args.repeat}; all: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")"
        )
        print(
            f"  lines {len(evaluation.lines):,}; grades "
            + ", ".join(f"{g} {n:,}" for g, n in evaluation.distribution().items())
        )
    print(f"resident memory after the runs {psutil.Process().memory_info().rss / 2**30:.2f} GiB")
    if args.store:
        _bench_store(tables)


def _bench_store(tables: dict[str, pd.DataFrame]) -> None:
    """Time a stored run: import the frames into a fresh SQLite store, then run_evaluation."""
    from features import import_paths, open_store
    from scoring import credit_store

    with tempfile.TemporaryDirectory() as folder:
        os.environ["MEDCREDIT_DATA_DIR"] = folder
        engine = open_store(f"sqlite:///{folder}/bench.db")
        data = os.path.join(folder, "data")
        os.makedirs(data)
        for name, frame in tables.items():
            frame.to_parquet(os.path.join(data, f"{name}.parquet"), index=False)
        _timed("import into SQLite (contract validation)", lambda: import_paths([data], engine=engine))
        run = _timed(
            "run_evaluation national-100 (SQLite)",
            lambda: credit_store.run_evaluation(engine, AS_OF, "national-100", actor="bench"),
        )
        print(f"  run #{run.run_id}: {len(run.evaluation.lines):,} lines stored")


if __name__ == "__main__":
    main()
