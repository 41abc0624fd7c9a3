"""A simulated city of designated medical institutions, written as files of the source-data contract.

`simulate_city` writes every table of shared/data-contract.md into ``out_dir/data`` and the hidden
truth behind them (misconduct propensities, injected abuse, inspector skill) into
``out_dir/ground_truth``. Conduct drives outcomes: each institution has a latent misconduct
propensity that drifts year to year; it sets how much abuse is injected into its claims, and the
violations, complaints, referrals and self-inspection reports follow from that abuse through the
bureau's (imperfect, selective) supervision. The same seed gives byte-identical files.

Claims are generated and written one month at a time, so memory stays bounded whatever the size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features import _simulate_config as cfg
from features._simulate_abuse import DeathRegistry, month_claims
from features._simulate_bureau import Bureau, detection_chance, sigmoid
from features._simulate_city import City, build_city
from features._simulate_items import ItemCatalog, claim_ids, claim_items_table, claim_truth_table, claims_table
from features._simulate_output import iso_dates, write_csv, write_parquet

__all__ = ["CSV_TABLES", "SimulationSummary", "simulate_city"]

logger = logging.getLogger(__name__)

CSV_TABLES = (
    "institutions",
    "inspectors",
    "staff",
    "violations",
    "inspections",
    "self_inspections",
    "complaints",
    "referrals",
    "staff_points",
    "deaths",
)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SimulationSummary:
    out_dir: Path
    data_dir: Path
    truth_dir: Path
    rows: Mapping[str, int]  # table name → rows written
    seconds: float


def simulate_city(
    out_dir: str | Path,
    *,
    n_institutions: int = 500,
    years: int = 4,
    seed: int = 0,
    start_year: int = 2022,
    claims_per_institution_year: float = 500.0,
    claim_items: bool = True,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Simulate `years` calendar years from `start_year` of a city with `n_institutions` institutions.

    `claims_per_institution_year` is the mean over institutions; a level-3 hospital gets many times
    what a village clinic gets. `claim_items=False` skips the (large) fee-line tables.
    `progress(stage, done, total)` is called as work advances.
    """
    _check_arguments(n_institutions, years, start_year, claims_per_institution_year)
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    data_dir, truth_dir = out / "data", out / "ground_truth"
    _remove_stale_month_files(data_dir, truth_dir)
    city_seed, claims_seed, bureau_seed, items_seed = np.random.SeedSequence(seed).spawn(4)
    report("city", 0, 1)
    city = build_city(np.random.default_rng(city_seed), n_institutions, start_year, years, claims_per_institution_year)
    report("city", 1, 1)
    bureau = Bureau(np.random.default_rng(bureau_seed), city, start_year, years)
    rows = _simulate_months(
        city,
        bureau,
        np.random.default_rng(claims_seed),
        items_seed,
        data_dir,
        truth_dir,
        claims_per_institution_year,
        claim_items,
        report,
    )
    rows.update(_write_tables(city, bureau, data_dir))
    _write_truth(city, bureau, truth_dir)
    report("tables", 1, 1)
    seconds = time.perf_counter() - started
    logger.info(
        "simulated %d institutions over %d years: %d claims in %.1f s", n_institutions, years, rows["claims"], seconds
    )
    return SimulationSummary(out, data_dir, truth_dir, rows, seconds)


def _check_arguments(n_institutions: int, years: int, start_year: int, claims: float) -> None:
    if not isinstance(n_institutions, int) or n_institutions < 10:
        raise ValueError(f"n_institutions must be an integer >= 10; got {n_institutions!r}")
    if not isinstance(years, int) or years < 1:
        raise ValueError(f"years must be an integer >= 1; got {years!r}")
    if not isinstance(start_year, int) or not 2000 <= start_year <= 2100:
        raise ValueError(f"start_year must be an integer in [2000, 2100]; got {start_year!r}")
    if not claims > 0:
        raise ValueError(f"claims_per_institution_year must be > 0; got {claims!r}")


def _remove_stale_month_files(data_dir: Path, truth_dir: Path) -> None:
    """Month files of an earlier, longer run in the same place would otherwise survive."""
    for folder, pattern in (
        (data_dir / "claims", "claims_*.parquet"),
        (data_dir / "claim_items", "claim_items_*.parquet"),
        (truth_dir / "claim_flags", "claim_flags_*.parquet"),
    ):
        for path in sorted(folder.glob(pattern)):
            path.unlink()


def _simulate_months(
    city: City,
    bureau: Bureau,
    rng: np.random.Generator,
    items_seed: np.random.SeedSequence,
    data_dir: Path,
    truth_dir: Path,
    claims_per_year: float,
    claim_items: bool,
    report: Progress,
) -> dict[str, int]:
    deaths = DeathRegistry(city)
    catalog = ItemCatalog(np.random.default_rng(items_seed.spawn(1)[0])) if claim_items else None
    key_rng = np.random.default_rng(items_seed)
    trace_key = (int(key_rng.integers(10**17, 10**18)) * 10 + 3, int(key_rng.integers(0, 10**18)))
    total_months = 12 * bureau.years
    rows = {"claims": 0, "claim_items": 0}
    for month_index in range(total_months):
        if month_index % 12 == 0:
            bureau.begin_year(month_index // 12)
        ctx = bureau.month_context(month_index)
        batch, ledger = month_claims(rng, city, ctx, claims_per_year / 12, deaths)
        bureau.record_month(month_index, ledger)
        stamp = f"{ctx.year}{ctx.month:02d}"
        ids = claim_ids(ctx.year, ctx.month, len(batch))
        write_parquet(claims_table(city, batch, ids), data_dir / "claims" / f"claims_{stamp}.parquet")
        write_parquet(claim_truth_table(city, batch, ids), truth_dir / "claim_flags" / f"claim_flags_{stamp}.parquet")
        rows["claims"] += len(batch)
        if catalog is not None:
            items_rng = np.random.default_rng([items_seed.entropy, month_index])
            items = claim_items_table(items_rng, catalog, batch, ids, month_index, trace_key)
            write_parquet(items, data_dir / "claim_items" / f"claim_items_{stamp}.parquet")
            rows["claim_items"] += items.num_rows
        del batch
        bureau.close_month(month_index)
        report("claims", month_index + 1, total_months)
    if catalog is None:
        del rows["claim_items"]
    return rows


def _write_tables(city: City, bureau: Bureau, data_dir: Path) -> dict[str, int]:
    tables = bureau.records.tables(bureau.terminated_on, bureau.suspended_from, bureau.suspended_until)
    tables["deaths"] = _deaths(city)
    written = {}
    for name in CSV_TABLES:
        path = data_dir / f"{name}.csv"
        path.unlink(missing_ok=True)
        if len(tables[name]) == 0:  # a header-only file is not a valid export; an absent optional table is
            logger.info("no rows for %s: file not written", name)
            continue
        write_csv(tables[name], path)
        written[name] = len(tables[name])
    return written


def _deaths(city: City) -> pd.DataFrame:
    pool = city.patients
    dead = np.flatnonzero(pool.death_day <= city.end_day)
    dead = dead[np.lexsort((dead, pool.death_day[dead]))]
    return pd.DataFrame(
        {
            "patient_id": pool.ids.take(pa.array(dead)).to_numpy(zero_copy_only=False),
            "death_date": iso_dates(pool.death_day[dead]),
        }
    )


def _write_truth(city: City, bureau: Bureau, truth_dir: Path) -> None:
    records = bureau.records
    write_parquet(
        pa.Table.from_pandas(_institution_years(city, bureau), preserve_index=False),
        truth_dir / "institution_years.parquet",
    )
    write_parquet(
        pa.Table.from_pandas(_institution_traits(city), preserve_index=False), truth_dir / "institutions.parquet"
    )
    inspectors = pd.DataFrame({"inspector_code": city.inspectors.code, "detection_skill": city.inspectors.skill})
    for name, frame in (
        ("inspectors", inspectors),
        ("inspections", pd.DataFrame(records.inspection_truth)),
        ("violations", pd.DataFrame(records.violation_truth)),
        ("self_inspections", pd.DataFrame(records.self_inspection_truth)),
    ):
        write_parquet(pa.Table.from_pandas(frame, preserve_index=False), truth_dir / f"{name}.parquet")


def _institution_years(city: City, bureau: Bureau) -> pd.DataFrame:
    """One row per institution and year: propensity, true violation probability, abuse by pattern."""
    n, years = len(city.institutions), bureau.years
    count = bureau.realised_count.reshape(n, years, 12, -1).sum(axis=2)
    amount = bureau.realised_amount.reshape(n, years, 12, -1).sum(axis=2)
    # What a routine inspection by average inspectors at the end of the year would find (config's record review).
    routine = sigmoid(cfg.DETECTION_LOGIT["routine"])
    claims = bureau.claims.reshape(n, years, 12).sum(axis=2)
    chance = detection_chance(routine, claims, (count * (amount >= 100)).sum(axis=2))
    frame = pd.DataFrame(
        {
            "institution_code": np.repeat(city.institutions.code, years),
            "year": np.tile(np.arange(bureau.start_year, bureau.start_year + years), n),
            "propensity_logit": bureau.logit.ravel(),
            "propensity": bureau.monthly_propensity.reshape(n, years, 12).mean(axis=2).ravel(),
            "violation_probability": chance.ravel(),
            "claims": bureau.claims.reshape(n, years, 12).sum(axis=2).ravel(),
            "revenue": bureau.revenue.reshape(n, years, 12).sum(axis=2).ravel() / 100,
            "abuse_events": count.sum(axis=2).ravel(),
            "amount_at_stake": amount.sum(axis=2).ravel() / 100,
        }
    )
    for k, pattern in enumerate(cfg.PATTERNS):
        frame[f"events_{pattern}"] = count[:, :, k].ravel()
        frame[f"amount_{pattern}"] = amount[:, :, k].ravel() / 100
    return frame


def _institution_traits(city: City) -> pd.DataFrame:
    inst = city.institutions
    frame = pd.DataFrame(
        {
            "institution_code": inst.code,
            "propensity_mean_logit": inst.propensity_mean,
            "honesty_logit": inst.honesty,
            "chain": inst.chain,
            "cost_factor": inst.cost_factor,
            "culprit_staff": [";".join(city.staff.code[c]) for c in city.staff.culprits],
        }
    )
    for k, pattern in enumerate(cfg.PATTERNS):
        frame[f"preference_{pattern}"] = inst.pattern_preference[:, k]
    return frame
