"""Benchmark: claim features on DuckDB against a straightforward pandas implementation of the same rules.

    python -m benchmarks.features                          # 10 M claims, 5,000 institutions, both pipelines
    python -m benchmarks.features --out-of-core 100000000  # also 100 M claims with a DuckDB memory limit
    python -m benchmarks.features --skip-pandas --statements  # and the time of each DuckDB statement

Run it as a module from the repository root: as a file, its name would shadow the features package.

Claims are generated once (seeded, 24 months, one Parquet file a month) under --data-dir, which is
never inside the repository. Each pipeline runs in its own process, so that its time and peak memory
are its own: read the Parquet files, apply every claim rule of ``features.claim_features``, aggregate
per institution and month, and window the months into the features as of the month after the data.
The two results are compared; they must be identical. The figures printed are wall time of the
computation (imports excluded), the CPU time it used (user + system, all threads; with both cores
free the wall time is about half of it) and the peak resident memory of each process, with the
load average before and after (other work on the machine slows both down).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: "features" would resolve to this script
    raise SystemExit("run from the repository root as a module: python -m benchmarks.features [options]")

import numpy as np
import pandas as pd

from features.claim_features import (
    MONTHLY_COLUMNS,
    PHANTOM_SIGNALS,
    ClaimMonthly,
    ClaimRules,
    ClaimSource,
    MonthRange,
    claim_features_by_month,
    monthly_claim_aggregates,
)

START = "2023-01-01"
MONTHS = 24
FIRST_MONTH = 2023 * 12
INJECTED_SHARE = 0.035  # the generator adds readmissions, frequent visits and rings on top of the volume


# --- data ---------------------------------------------------------------------------------------------


def _dataset(data_dir: Path, claims: int, institutions: int, seed: int, simulator: bool) -> Path:
    """Generate the claims once per size; return the directory holding them."""
    tag = f"{'sim' if simulator else 'synthetic'}-{claims}-{institutions}-{seed}"
    root = data_dir / tag
    done = root / "DONE"
    if done.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    per_year = claims / institutions / (MONTHS / 12) / (1 + INJECTED_SHARE)
    if simulator:
        from features.simulate import simulate_city

        simulate_city(root / "sim", n_institutions=institutions, years=MONTHS // 12, seed=seed, start_year=2023,
                      claims_per_institution_year=per_year, claim_items=False)  # fmt: skip
        (root / "claims").symlink_to(root / "sim" / "data" / "claims")
        codes = pd.read_csv(root / "sim" / "data" / "institutions.csv", dtype=str)["institution_code"]
    else:
        from features._features_synthetic import synthetic_institutions, write_claims

        frame = synthetic_institutions(np.random.default_rng(seed), institutions)
        write_claims(root / "claims", seed + 1, frame, START, MONTHS, per_year)
        codes = frame["institution_code"]
    pd.DataFrame({"institution_code": codes}).to_parquet(root / "institutions.parquet")
    done.write_text(f"generated in {time.perf_counter() - started:.0f} s\n")
    return root


def _paths(root: Path) -> list[Path]:
    return sorted((root / "claims").rglob("*.parquet"))


# --- the pandas baseline ---------------------------------------------------------------------------------
# The same rules written the way a pandas user would: merges for pairs of claims, groupby().rolling()
# for windows over days. Keys are factorised to integers and merges carry only the columns they need,
# else 10 M claims do not fit in memory.

_COLUMNS = ["claim_id", "institution_code", "patient_id", "visit_type", "admit_date", "discharge_date", "settle_date",
            "diagnosis_code", "emergency", "total_amount", "fund_amount", "drug_amount", "exam_amount",
            "days_supply"]  # fmt: skip
_STAY = ["claim", "inst", "patient", "dx", "emergency", "planned", "admit_day", "discharge_day", "settle_day", "month"]


def _days(values: pd.Series) -> np.ndarray:
    return (pd.to_datetime(values) - pd.Timestamp("1970-01-01")).dt.days.to_numpy(np.int64)


def _load(paths: list[Path], months: MonthRange, rules: ClaimRules) -> tuple[pd.DataFrame, pd.Index]:
    raw = pd.concat([pd.read_parquet(p, columns=_COLUMNS) for p in paths], ignore_index=True)
    settle = pd.to_datetime(raw["settle_date"])
    load_from = pd.Timestamp(year=months.start_month // 12, month=months.start_month % 12 + 1, day=1)
    load_until = pd.Timestamp(year=months.end_month // 12, month=months.end_month % 12 + 1, day=1)
    raw = raw[(settle >= load_from - pd.Timedelta(days=rules.context_days)) & (settle < load_until)]
    inst, institutions = pd.factorize(raw["institution_code"])
    dx = raw["diagnosis_code"].str.strip().str.slice(0, 3).str.upper()
    dx = dx.where(dx.str.len() > 0)
    settle = pd.to_datetime(raw["settle_date"])
    df = pd.DataFrame(
        {
            "claim": np.arange(len(raw)),
            "inst": inst,
            "patient": pd.factorize(raw["patient_id"])[0],
            "dx": pd.factorize(dx)[0],  # -1 when missing
            "planned": dx.str.startswith(tuple(rules.planned_cycle_prefixes)).fillna(False).to_numpy(bool),
            "manageable": dx.isin(rules.outpatient_manageable_groups).to_numpy(bool),
            "stay": (raw["visit_type"] == "inpatient").to_numpy(bool),
            "chronic": (raw["visit_type"] == "chronic").to_numpy(bool),
            "emergency": raw["emergency"].fillna(False).to_numpy(bool),
            "admit_day": _days(raw["admit_date"]),
            "discharge_day": _days(raw["discharge_date"].fillna(raw["admit_date"])),
            "settle_day": _days(raw["settle_date"]),
            "month": (settle.dt.year * 12 + settle.dt.month - 1).to_numpy(np.int64),
            "supply": raw["days_supply"].astype("float64").to_numpy(),
        }
    )
    for part in ("total", "fund", "drug", "exam"):
        df[f"{part}_cents"] = np.round(raw[f"{part}_amount"].astype("float64").to_numpy() * 100)
    return df, pd.Index(institutions)


def _first_event(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per claim, the month the rule became known: the earliest of the later settlements of its pairs."""
    pairs = pairs.assign(event_month=np.maximum(pairs["month"], pairs["month_p"]))
    return pairs.groupby(["claim", "inst"], as_index=False)["event_month"].min()


def _rolling(frame: pd.DataFrame, by: list[str], days: int, value: str | None = None, how: str = "sum") -> pd.DataFrame:
    """Per group and day, ``how`` of ``value`` (or the number of rows) over the days [day - days + 1, day]."""
    daily = frame.groupby([*by, "settle_day"], as_index=False).agg(
        n=(value or "settle_day", "sum" if value else "size")
    )
    daily["date"] = pd.to_datetime(daily["settle_day"], unit="D")
    daily = daily.sort_values([*by, "date"], ignore_index=True)
    column = "settle_day" if how == "min" else "n"
    rolled = daily.groupby(by, sort=False).rolling(f"{days}D", on="date")[column]
    daily["window"] = (rolled.min() if how == "min" else rolled.sum()).to_numpy()
    return daily


def pandas_monthly(paths: list[Path], months: MonthRange, rules: ClaimRules) -> ClaimMonthly:
    df, institutions = _load(paths, months, rules)
    ctx = rules.context_days
    stays = df.loc[df["stay"], [*_STAY, "total_cents", "exam_cents", "manageable"]]
    visits = df[~df["stay"]]
    flags = []

    def add(name: str, frame: pd.DataFrame, month: str = "month") -> None:
        part = frame[["claim", "inst", month]].rename(columns={month: "event_month"})
        flags.append(part.drop_duplicates("claim").assign(rule=name))

    diagnosed = stays.loc[stays["dx"] >= 0, _STAY]
    pairs = diagnosed.merge(diagnosed, on=["patient", "inst", "dx"], suffixes=("", "_p"))
    gap = pairs["admit_day"] - pairs["discharge_day_p"]
    same_day = pairs["admit_day_p"] == pairs["admit_day"]
    shorter = (pairs["discharge_day_p"] < pairs["discharge_day"]) | (
        (pairs["discharge_day_p"] == pairs["discharge_day"]) & (pairs["claim_p"] < pairs["claim"])
    )
    first = (pairs["admit_day_p"] < pairs["admit_day"]) | (same_day & shorter)
    keep = ~pairs["emergency"] & ~pairs["planned"] & gap.between(0, rules.readmit_days) & first
    keep &= pairs["settle_day_p"] >= pairs["settle_day"] - ctx
    add("split_admission", _first_event(pairs[keep]), "event_month")
    add("exam_heavy_stay", stays[(stays["total_cents"] > 0) & (stays["exam_cents"] * 5 > stays["total_cents"] * 4)])
    pairs = stays[_STAY].merge(stays[_STAY], on="patient", suffixes=("", "_p"))
    keep = (pairs["inst_p"] != pairs["inst"]) & (pairs["admit_day_p"] < pairs["discharge_day"])
    keep &= (pairs["admit_day"] < pairs["discharge_day_p"]) & (pairs["settle_day_p"] >= pairs["settle_day"] - ctx)
    add("overlap_stay", _first_event(pairs[keep]), "event_month")
    others = visits[["patient", "inst", "admit_day", "settle_day", "month"]]
    pairs = stays[_STAY].merge(others, on="patient", suffixes=("", "_p"))
    keep = (pairs["inst_p"] != pairs["inst"]) & (pairs["admit_day_p"] > pairs["admit_day"])
    keep &= (pairs["admit_day_p"] < pairs["discharge_day"]) & (pairs["settle_day_p"] >= pairs["settle_day"] - ctx)
    add("elsewhere_during_stay", _first_event(pairs[keep]), "event_month")
    del pairs, keep, others
    short = (stays["discharge_day"] - stays["admit_day"]) <= rules.low_standard_max_days
    add("low_standard_stay", stays[~stays["emergency"] & short & stays["manageable"]])
    limit = np.where(visits["emergency"], rules.emergency_supply_limit_days,
                     np.where(visits["chronic"], rules.chronic_supply_limit_days, rules.supply_limit_days))  # fmt: skip
    add("long_supply", visits[visits["supply"].fillna(0) > limit])
    add("supply_ahead", _supply_ahead(visits, rules))
    low = visits[visits["total_cents"] < round(rules.low_value_yuan * 100)]
    recent = _rolling(low, ["inst", "patient"], rules.frequent_window_days)
    merged = low.merge(recent[["inst", "patient", "settle_day", "window"]], on=["inst", "patient", "settle_day"])
    add("frequent_low_value", merged[merged["window"] >= rules.frequent_visits])
    add("group_visit", _group_visits(low, rules))
    flagged = pd.concat(flags, ignore_index=True)
    phantom = flagged[flagged["rule"].isin(PHANTOM_SIGNALS)]
    phantom = phantom.groupby("claim", as_index=False).agg(inst=("inst", "min"), event_month=("event_month", "min"))
    flagged = pd.concat([flagged, phantom.assign(rule="phantom_bed_signal")], ignore_index=True)
    inside = flagged["event_month"].between(months.start_month, months.end_month - 1)
    counts = flagged[inside].groupby(["inst", "event_month", "rule"], as_index=False).size()
    counts = counts.rename(columns={"event_month": "month", "size": "flagged"})
    counts.insert(0, "institution_code", institutions[counts.pop("inst").to_numpy()])
    return ClaimMonthly(months, _monthly_claims(df, institutions, months), counts, frozenset({"claims"}))


def _supply_ahead(visits: pd.DataFrame, rules: ClaimRules) -> pd.DataFrame:
    """Supply for the same diagnosis group over the lookback running ahead of the days elapsed."""
    supplied = visits.loc[visits["supply"] > 0, ["claim", "inst", "patient", "dx", "settle_day", "month", "supply"]]
    days = rules.supply_lookback_days + 1
    daily = _rolling(supplied, ["patient", "dx"], days, value="supply")
    daily["first_day"] = _rolling(supplied, ["patient", "dx"], days, how="min")["window"].to_numpy()
    merged = supplied.merge(
        daily[["patient", "dx", "settle_day", "window", "first_day"]], on=["patient", "dx", "settle_day"]
    )
    ahead = merged["window"] - merged["supply"] - (merged["settle_day"] - merged["first_day"])
    return merged[ahead > rules.supply_tolerance_days]


def _group_visits(low: pd.DataFrame, rules: ClaimRules) -> pd.DataFrame:
    present = low[["inst", "patient", "settle_day"]].drop_duplicates()
    visitors = present.groupby(["inst", "settle_day"])["patient"].transform("size")
    # a pair can be together on group_min_days days only if each came at least that often
    regular = present.groupby(["inst", "patient"])["settle_day"].transform("size")
    keep = visitors.between(rules.group_min_patients, rules.group_max_visitors) & (regular >= rules.group_min_days)
    present = present[keep]
    pairs = present.merge(present, on=["inst", "settle_day"], suffixes=("", "_b"))
    pairs = pairs[pairs["patient"] != pairs["patient_b"]]
    together = _rolling(pairs, ["inst", "patient", "patient_b"], rules.group_window_days)
    strong = together[together["window"] >= rules.group_min_days]
    partners = strong.groupby(["inst", "patient", "settle_day"], as_index=False).size()
    grouped = partners.loc[partners["size"] >= rules.group_min_patients - 1, ["inst", "patient", "settle_day"]]
    return low.merge(grouped, on=["inst", "patient", "settle_day"])


def _monthly_claims(df: pd.DataFrame, institutions: pd.Index, months: MonthRange) -> pd.DataFrame:
    df = df[df["month"].between(months.start_month, months.end_month - 1)]
    df = df.assign(
        visit=~df["stay"],
        dispensing=~df["stay"] & (df["supply"].fillna(0) > 0),
        drug_known_total=df["total_cents"].where(df["drug_cents"].notna(), 0),
        exam_known_total=df["total_cents"].where(df["exam_cents"].notna(), 0),
    )
    out = df.groupby(["inst", "month"], as_index=False).agg(
        claims=("claim", "size"), stays=("stay", "sum"), visits=("visit", "sum"), dispensings=("dispensing", "sum"),
        total_cents=("total_cents", "sum"), fund_cents=("fund_cents", "sum"), drug_cents=("drug_cents", "sum"),
        drug_known_total_cents=("drug_known_total", "sum"), exam_cents=("exam_cents", "sum"),
        exam_known_total_cents=("exam_known_total", "sum"),
    )  # fmt: skip
    out["claims_with_items"] = 0
    out["stays_with_items"] = 0
    out["institution_code"] = institutions[out["inst"].to_numpy()]
    return out[["institution_code", "month", *MONTHLY_COLUMNS]]


# --- workers ----------------------------------------------------------------------------------------------


class _Statements(logging.Handler):
    """Collects the claim statements' times that ``run_duckdb`` logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rows: list[tuple[str, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "statement"):
            _, wall, cpu = record.args  # type: ignore[misc]
            self.rows.append((record.statement, float(wall), float(cpu)))


def _worker(kind: str, root: Path, config: dict[str, str]) -> dict[str, object]:
    statements = _Statements()
    claim_log = logging.getLogger("features.claim_features")
    claim_log.addHandler(statements)
    claim_log.setLevel(logging.DEBUG)
    months = MonthRange(FIRST_MONTH, FIRST_MONTH + MONTHS)
    paths = _paths(root)
    codes = pd.read_parquet(root / "institutions.parquet")["institution_code"].tolist()
    rules = ClaimRules()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if kind == "duckdb":
        source = ClaimSource(paths, duckdb_config=config, institution_codes=codes)
        monthly = monthly_claim_aggregates(source, months, rules)
    else:
        monthly = pandas_monthly(paths, months, rules)
    aggregated = time.perf_counter() - started
    features = claim_features_by_month(monthly, codes, [months.end_month])
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    out = root / f"result-{kind}"
    out.mkdir(exist_ok=True)
    monthly.claims.to_parquet(out / "claims.parquet")
    monthly.rules.to_parquet(out / "rules.parquet")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "seconds": seconds, "aggregate_seconds": aggregated, "cpu_seconds": cpu,
            "peak_mib": peak_kib / 1024, "claims": int(monthly.claims["claims"].sum()), "features": features.shape[1],
            "flags": int(monthly.rules["flagged"].sum()), "statements": statements.rows}  # fmt: skip


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _figures(result: dict[str, object]) -> str:
    return f"{result['seconds']:7.2f} s   cpu {result['cpu_seconds']:6.2f} s   peak {result['peak_mib']:7.0f} MiB"


def _run_worker(kind: str, root: Path, config: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "benchmarks.features", "--worker", kind, "--root", str(root), "--config",
               json.dumps(config)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=Path(__file__).parents[1])
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_result(root: Path) -> bool:
    def load(kind: str) -> ClaimMonthly:
        out = root / f"result-{kind}"
        return ClaimMonthly(
            MonthRange(0, 1),
            pd.read_parquet(out / "claims.parquet"),
            pd.read_parquet(out / "rules.parquet"),
            frozenset(),
        )

    return load("duckdb").equals(load("pandas"))


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/medcredit-bench"))
    parser.add_argument("--claims", type=int, default=10_000_000)
    parser.add_argument("--institutions", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulator", action="store_true", help="generate with features.simulate (slower)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--statements", action="store_true", help="also print each DuckDB statement's time")
    parser.add_argument("--out-of-core", type=int, default=0, metavar="CLAIMS", help="also run this many claims")
    parser.add_argument("--out-of-core-institutions", type=int, default=50_000)
    parser.add_argument("--memory-limit", default="5GB", help="DuckDB memory limit for the out-of-core run")
    parser.add_argument("--worker", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.root, json.loads(args.config))))
        return
    root = _dataset(args.data_dir, args.claims, args.institutions, args.seed, args.simulator)
    print(f"data: {root} ({len(_paths(root))} files); cores: {os.cpu_count()}; load average: {_load_average()}")
    ours = _run_worker("duckdb", root, {"threads": str(os.cpu_count())})
    print(f"duckdb : {_figures(ours)}   {ours['claims']:,} claims, {ours['flags']:,} flags, "
          f"{ours['features']} claim features")  # fmt: skip
    if args.statements:
        for label, wall, cpu in ours["statements"]:
            print(f"  {label:<36}{wall:7.2f} s   cpu {cpu:6.2f} s")
    if not args.skip_pandas:
        theirs = _run_worker("pandas", root, {})
        print(f"pandas : {_figures(theirs)}")
        print(f"ratio  : {theirs['seconds'] / ours['seconds']:.1f}× faster than pandas; identical results: "
              f"{_same_result(root)}")  # fmt: skip
    if args.out_of_core:
        big = _dataset(args.data_dir, args.out_of_core, args.out_of_core_institutions, args.seed, False)
        spill = big / "spill"
        spill.mkdir(exist_ok=True)
        config = {"memory_limit": args.memory_limit, "temp_directory": str(spill), "threads": str(os.cpu_count())}
        print(f"out of core: {big} ({len(_paths(big))} files); DuckDB memory_limit {args.memory_limit}; "
              f"load average: {_load_average()}")  # fmt: skip
        result = _run_worker("duckdb", big, config)
        print(f"duckdb : {_figures(result)}   {result['claims']:,} claims")
    print(f"load average at the end: {_load_average()}")


if __name__ == "__main__":
    main()
