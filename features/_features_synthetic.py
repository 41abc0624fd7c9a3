"""A fast, seeded generator of contract tables for feature tests and benchmarks.

Not the simulated city (``features.simulate``): this one has no latent conduct model and exists to
produce volume quickly (tens of millions of claims, month by month, in bounded memory) with the
structure the claim rules work on — patients returning to an institution, stays with readmissions,
visits elsewhere during a stay, long prescriptions, low-value visit rings, deaths — plus small event
tables so every feature family has data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .contract import CODE_LISTS

KINDS = ("hospital", "primary_care", "village_clinic", "clinic", "pharmacy")
KIND_SHARES = (0.08, 0.12, 0.25, 0.15, 0.40)
VISIT_MIX = {  # outpatient, inpatient, chronic, pharmacy
    "hospital": (0.72, 0.13, 0.15, 0.0),
    "primary_care": (0.72, 0.08, 0.20, 0.0),
    "village_clinic": (0.93, 0.0, 0.07, 0.0),
    "clinic": (0.90, 0.0, 0.10, 0.0),
    "pharmacy": (0.0, 0.0, 0.0, 1.0),
}
VISIT_TYPES = ("outpatient", "inpatient", "chronic", "pharmacy")
DIAGNOSES = ("J06.900", "I10", "E11.900", "K29.700", "M54.500", "J18.900", "I63.900", "C34.900", "N18.900", "J44.100")
MEDIAN_AMOUNT = (95.0, 5200.0, 320.0, 85.0)
SUPPLY_DAYS = np.array([0, 0, 3, 3, 5, 5, 7, 7, 7, 14])
REGION_SIZE = 40  # institutions sharing one pool of patients


def synthetic_institutions(rng: np.random.Generator, n: int, start: str = "2015-01-01") -> pd.DataFrame:
    kind = rng.choice(len(KINDS), size=n, p=KIND_SHARES)
    level = np.where(kind == 0, rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25]), np.where(kind == 1, 1, 0))
    region = np.arange(n) // REGION_SIZE
    prefix = np.where(kind == 4, "P", "H")
    codes = [f"{p}4415{r % 100:02d}{i:05d}" for p, r, i in zip(prefix, region, range(n), strict=True)]
    designated = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 3000, size=n), unit="D")
    status = rng.choice(["active", "suspended", "terminated"], size=n, p=[0.94, 0.03, 0.03])
    since = designated + pd.to_timedelta(rng.integers(200, 3400, size=n), unit="D")
    return pd.DataFrame(
        {
            "institution_code": pd.array(codes, dtype="str"),
            "name": pd.array([f"机构{i}" for i in range(n)], dtype="str"),
            "kind": pd.array(np.array(KINDS)[kind], dtype="str"),
            "level": pd.array(level, dtype="Int64"),
            "ownership": pd.array(rng.choice(["public", "private"], size=n), dtype="str"),
            "region_code": pd.array([f"4415{r % 100:02d}" for r in region], dtype="str"),
            "beds": pd.array(np.where(kind <= 1, rng.integers(20, 900, size=n), 0), dtype="Int64"),
            "staff_count": pd.array(rng.integers(2, 1500, size=n), dtype="Int64"),
            "designated_since": designated.astype("datetime64[ns]"),
            "status": pd.array(status, dtype="str"),
            "status_since": pd.Series(np.where(status == "active", pd.NaT, since)).astype("datetime64[ns]").to_numpy(),
        }
    )


def _month_days(month: pd.Timestamp) -> tuple[int, int]:
    first = int(np.datetime64(month.date(), "D").astype(np.int64))
    return first, int(month.days_in_month)


VOLUME_BY_KIND = np.array([8.0, 3.0, 0.5, 0.8, 0.6])  # relative claims volume by kind


def _base_claims(
    rng: np.random.Generator, institutions: pd.DataFrame, first: int, n_days: int, claims_per_institution_year: float
) -> dict[str, np.ndarray]:
    kind_index = pd.Index(KINDS).get_indexer(institutions["kind"].astype(str))
    weight = VOLUME_BY_KIND[kind_index]
    volume = rng.poisson(claims_per_institution_year / 12 * weight / weight.mean())
    inst = np.repeat(np.arange(len(institutions)), volume)
    n = len(inst)
    kinds = kind_index[inst]
    u = rng.random(n)
    visit = np.zeros(n, dtype=np.int64)
    for k, mix in enumerate(VISIT_MIX.values()):
        rows = kinds == k
        visit[rows] = np.minimum(np.searchsorted(np.cumsum(mix), u[rows], side="right"), 3)
    # Patients come from a pool shared by the institutions of a region (about one claim per person
    # and month, as in a real city), some returning more often than others.
    pool = max(int(claims_per_institution_year * REGION_SIZE / 12), 50)
    patient = (inst // REGION_SIZE) * pool + (pool * rng.random(n) ** 1.5).astype(np.int64)
    settle = first + rng.integers(0, n_days, size=n)
    los = np.where(visit == 1, np.minimum(rng.geometric(1 / 6.5, size=n), 60), 0)
    amount = np.round(np.array(MEDIAN_AMOUNT)[visit] * rng.lognormal(0, 0.7, size=n), 2)
    supply = np.where(visit == 1, 0, SUPPLY_DAYS[rng.integers(0, len(SUPPLY_DAYS), size=n)])
    supply = np.where(visit == 2, rng.choice([14, 28, 28, 30], size=n), supply)
    dx = np.minimum(rng.zipf(1.5, size=n) - 1, len(DIAGNOSES) - 1)
    return {
        "inst": inst,
        "patient": patient,
        "visit": visit,
        "settle": settle,
        "los": los,
        "amount": amount,
        "supply": supply,
        "dx": dx,
        "emergency": (visit == 1) & (rng.random(n) < 0.2),
    }


def _take(rows: dict[str, np.ndarray], which: np.ndarray) -> dict[str, np.ndarray]:
    return {key: values[which] for key, values in rows.items()}


def _injected(rng: np.random.Generator, rows: dict[str, np.ndarray], first: int) -> list[dict[str, np.ndarray]]:
    """Abuse-like patterns on top of the background: readmissions, frequent low-value visits, visit rings."""
    stays = np.flatnonzero(rows["visit"] == 1)
    again = _take(rows, rng.choice(stays, size=len(stays) // 20, replace=False)) if len(stays) else None
    extra = []
    if again is not None and len(again["inst"]):
        again["los"] = np.minimum(rng.geometric(1 / 4, size=len(again["inst"])), 20)
        again["settle"] = again["settle"] + rng.integers(0, 21, size=len(again["inst"])) + again["los"]
        again["emergency"] = np.zeros(len(again["inst"]), dtype=bool)
        extra.append(again)
    visits = np.flatnonzero(rows["visit"] == 0)
    seeds = rng.choice(visits, size=len(visits) // 100, replace=False) if len(visits) else visits
    for step in (2, 5, 9, 14):
        repeat = _take(rows, seeds)
        repeat["settle"] = repeat["settle"] + step
        repeat["amount"] = np.round(rng.uniform(15, 45, size=len(seeds)), 2)
        extra.append(repeat)
    # Rings: four patients visiting one institution on the same three days of the month.
    rings = rng.choice(visits, size=max(len(visits) // 2000, 1), replace=False) if len(visits) else visits
    for member in range(4):
        for day in (3, 10, 17):
            ring = _take(rows, rings)
            ring["patient"] = ring["patient"] + 100_000_000 + member
            ring["settle"] = np.full(len(rings), first + day)
            extra.append(ring)
    return extra


def claim_month(
    rng: np.random.Generator,
    institutions: pd.DataFrame,
    month: pd.Timestamp,
    claims_per_institution_year: float,
    id_offset: int,
) -> pa.Table:
    """One month of claims (contract columns, Arrow types) for every institution."""
    first, n_days = _month_days(month)
    rows = _base_claims(rng, institutions, first, n_days, claims_per_institution_year)
    parts = [rows, *_injected(rng, rows, first)]
    rows = {key: np.concatenate([p[key] for p in parts]) for key in rows}
    n = len(rows["inst"])
    visit, settle, amount = rows["visit"], rows["settle"], rows["amount"]
    stay = visit == 1
    drug_share, exam_share = rng.beta(4, 5, size=n), rng.beta(2, 6, size=n) * (visit != 3)
    exam_heavy = stay & (rng.random(n) < 0.01)
    drug_share, exam_share = np.where(exam_heavy, 0.05, drug_share), np.where(exam_heavy, 0.9, exam_share)
    supply = rows["supply"]
    day0 = np.datetime64("1970-01-01", "D")
    ids = np.char.add("C", (id_offset + np.arange(n)).astype(str))
    return pa.table(
        {
            "claim_id": pa.array(ids.astype(object), pa.string()),
            "institution_code": pa.array(
                institutions["institution_code"].astype(str).to_numpy()[rows["inst"]], pa.string()
            ),
            "patient_id": pa.array(np.char.add("PT", rows["patient"].astype(str)).astype(object), pa.string()),
            "visit_type": pa.array(np.array(VISIT_TYPES)[visit].astype(object), pa.string()),
            "admit_date": pa.array(day0 + (settle - rows["los"]), pa.date32()),
            "discharge_date": pa.array(np.where(stay, day0 + settle, np.datetime64("NaT")), pa.date32()),
            "settle_date": pa.array(day0 + settle, pa.date32()),
            "diagnosis_code": pa.array(np.array(DIAGNOSES)[rows["dx"]].astype(object), pa.string()),
            "emergency": pa.array(rows["emergency"], pa.bool_()),
            "total_amount": pa.array(amount, pa.float64()),
            "fund_amount": pa.array(np.round(amount * rng.uniform(0.3, 0.8, size=n), 2), pa.float64()),
            "drug_amount": pa.array(np.round(amount * drug_share, 2), pa.float64()),
            "exam_amount": pa.array(np.round(amount * exam_share, 2), pa.float64()),
            "material_amount": pa.nulls(n, pa.float64()),
            "service_amount": pa.nulls(n, pa.float64()),
            "days_supply": pa.array(supply, pa.int64(), mask=supply == 0),
            "doctor_code": pa.nulls(n, pa.string()),
            "patient_birth_year": pa.array(rng.integers(1930, 2020, size=n), pa.int64()),
            "patient_sex": pa.array(rng.choice(["M", "F"], size=n).astype(object), pa.string()),
            "remote": pa.array(rng.random(n) < 0.04, pa.bool_()),
        }
    )


def claim_months(
    seed: int, institutions: pd.DataFrame, start: str, months: int, claims_per_institution_year: float
) -> Iterator[tuple[pd.Timestamp, pa.Table]]:
    """Claims month by month, so that any volume can be written in bounded memory."""
    rng = np.random.default_rng(seed)
    offset = 0
    for k in range(months):
        month = pd.Timestamp(start) + pd.DateOffset(months=k)
        table = claim_month(rng, institutions, month, claims_per_institution_year, offset)
        offset += len(table)
        yield month, table


def write_claims(
    out_dir: Path, seed: int, institutions: pd.DataFrame, start: str, months: int, claims_per_institution_year: float
) -> list[Path]:
    """Write claims as one Parquet file per month under ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for month, table in claim_months(seed, institutions, start, months, claims_per_institution_year):
        path = out_dir / f"claims_{month:%Y%m}.parquet"
        pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)
        paths.append(path)
    return paths


def synthetic_items(rng: np.random.Generator, claims: pd.DataFrame) -> pd.DataFrame:
    """Claim items: a few lines per claim, daily lines for stays (with gaps), some duplicates and trace codes."""
    lines = []
    for claim in claims.itertuples(index=False):
        start = pd.Timestamp(claim.admit_date)
        end = pd.Timestamp(claim.discharge_date) if pd.notna(claim.discharge_date) else start
        days = pd.date_range(start, end, freq="D")
        if len(days) > 3 and rng.random() < 0.1:  # an idle stretch in the middle of the stay
            days = days[[0, *range(3, len(days))]]
        for k, day in enumerate(days):
            code = f"X{rng.integers(0, 6)}"
            trace = f"T{rng.integers(0, 10**6)}" if rng.random() < 0.3 else None
            lines.append((claim.claim_id, k + 1, code, "service", day, 1.0, 10.0, 10.0, trace))
        if rng.random() < 0.02:  # duplicate the first line
            lines.append((claim.claim_id, len(days) + 1, *lines[-len(days)][2:]))
    frame = pd.DataFrame(
        lines,
        columns=[
            "claim_id",
            "line_no",
            "item_code",
            "item_type",
            "item_date",
            "quantity",
            "unit_price",
            "amount",
            "trace_code",
        ],
    )
    frame["line_no"] = frame["line_no"].astype("Int64")
    frame["item_date"] = pd.to_datetime(frame["item_date"]).astype("datetime64[ns]")
    return frame


def _event_dates(rng: np.random.Generator, n: int, start: str, end: str) -> pd.Series:
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    return pd.Series(lo + pd.to_timedelta(rng.integers(0, (hi - lo).days, size=n), unit="D")).astype("datetime64[ns]")


def synthetic_events(
    rng: np.random.Generator, institutions: pd.DataFrame, start: str, end: str, rate: float = 2.0
) -> dict[str, pd.DataFrame]:
    """Violations, self-inspections, complaints, referrals, staff and staff points between two dates."""
    codes = institutions["institution_code"].astype(str).to_numpy()
    n = len(codes)
    nv = int(n * rate)
    dispositions, categories = list(CODE_LISTS["disposition"]), list(CODE_LISTS["violation_category"])
    found = _event_dates(rng, nv, start, end)
    violations = pd.DataFrame(
        {
            "violation_id": [f"V{i}" for i in range(nv)],
            "institution_code": rng.choice(codes, size=nv),
            "found_date": found,
            "decision_date": (found + pd.to_timedelta(rng.integers(0, 60, size=nv), unit="D")).astype("datetime64[ns]"),
            "source": rng.choice(list(CODE_LISTS["violation_source"]), size=nv),
            "category": rng.choice(categories, size=nv),
            "amount": np.round(rng.lognormal(8, 1.5, size=nv), 2),
            "disposition": rng.choice(dispositions, size=nv, p=_ladder(len(dispositions))),
            "penalty_amount": np.where(rng.random(nv) < 0.2, np.round(rng.lognormal(9, 1, size=nv), 2), np.nan),
            "fraud": pd.array(rng.random(nv) < 0.05, dtype="boolean"),
            "lenient": pd.array(rng.random(nv) < 0.2, dtype="boolean"),
            "status": rng.choice(["confirmed", "under_appeal", "overturned"], size=nv, p=[0.9, 0.06, 0.04]),
        }
    )
    ns = n
    submitted = _event_dates(rng, ns, start, end)
    reported = rng.choice([0, 0, 1, 2, 5], size=ns)
    verified = rng.random(ns) < 0.3
    self_inspections = pd.DataFrame(
        {
            "report_id": [f"R{i}" for i in range(ns)],
            "institution_code": codes,
            "period_start": (submitted - pd.Timedelta(days=365)).astype("datetime64[ns]"),
            "period_end": (submitted - pd.Timedelta(days=30)).astype("datetime64[ns]"),
            "submitted_date": submitted,
            "problems_reported": pd.array(reported, dtype="Int64"),
            "amount_refunded": np.round(reported * rng.lognormal(7, 1, size=ns), 2),
            "verified": pd.array(verified, dtype="boolean"),
            "verified_date": pd.Series(np.where(verified, submitted + pd.Timedelta(days=45), pd.NaT)).astype(
                "datetime64[ns]"
            ),
            "problems_found": pd.array(np.where(verified, reported + rng.integers(0, 3, size=ns), 0), dtype="Int64"),
            "amount_found": np.where(verified, np.round(rng.lognormal(7, 1, size=ns), 2), np.nan),
        }
    )
    nc = n
    received = _event_dates(rng, nc, start, end)
    outcome = rng.choice([1, 0, -1], size=nc, p=[0.4, 0.4, 0.2])
    complaints = pd.DataFrame(
        {
            "complaint_id": [f"Q{i}" for i in range(nc)],
            "institution_code": rng.choice(codes, size=nc),
            "received_date": received,
            "channel": rng.choice(list(CODE_LISTS["complaint_channel"]), size=nc),
            "substantiated": pd.array(np.where(outcome < 0, None, outcome == 1), dtype="boolean"),
            "closed_date": pd.Series(np.where(outcome < 0, pd.NaT, received + pd.Timedelta(days=40))).astype(
                "datetime64[ns]"
            ),
        }
    )
    nr = max(n // 2, 1)
    referrals = pd.DataFrame(
        {
            "referral_id": [f"F{i}" for i in range(nr)],
            "institution_code": rng.choice(codes, size=nr),
            "date": _event_dates(rng, nr, start, end),
            "department": rng.choice(list(CODE_LISTS["department"]), size=nr),
        }
    )
    staff = pd.DataFrame(
        {
            "staff_code": [f"S{i}" for i in range(2 * n)],
            "institution_code": np.repeat(codes, 2),
            "role": rng.choice(list(CODE_LISTS["staff_role"]), size=2 * n),
            "status": "active",
        }
    )
    npnt = n
    who = rng.integers(0, 2 * n, size=npnt)
    staff_points = pd.DataFrame(
        {
            "event_id": [f"E{i}" for i in range(npnt)],
            "staff_code": staff["staff_code"].to_numpy()[who],
            "institution_code": staff["institution_code"].to_numpy()[who],
            "date": _event_dates(rng, npnt, start, end),
            "points": pd.array(rng.choice([2, 3, 5, 8, 11], size=npnt), dtype="Int64"),
        }
    )
    return {
        "violations": violations,
        "self_inspections": self_inspections,
        "complaints": complaints,
        "referrals": referrals,
        "staff": staff,
        "staff_points": staff_points,
    }


def _ladder(k: int) -> np.ndarray:
    weights = 0.6 ** np.arange(k)
    return weights / weights.sum()


def synthetic_city(
    seed: int = 0,
    n_institutions: int = 60,
    start: str = "2022-01-01",
    months: int = 30,
    claims_per_institution_year: float = 240,
    items: bool = True,
) -> dict[str, pd.DataFrame]:
    """A small city as typed frames: every contract table the features read."""
    rng = np.random.default_rng(seed)
    institutions = synthetic_institutions(rng, n_institutions)
    claims = pd.concat(
        [t.to_pandas() for _, t in claim_months(seed + 1, institutions, start, months, claims_per_institution_year)],
        ignore_index=True,
    )
    for column in ("admit_date", "discharge_date", "settle_date"):
        claims[column] = pd.to_datetime(claims[column]).astype("datetime64[ns]")
    claims["emergency"] = claims["emergency"].astype("boolean")
    claims["days_supply"] = claims["days_supply"].astype("Int64")
    end = (pd.Timestamp(start) + pd.DateOffset(months=months)).date().isoformat()
    tables = {"institutions": institutions, "claims": claims, **synthetic_events(rng, institutions, start, end)}
    patients = claims["patient_id"].drop_duplicates().sample(frac=0.01, random_state=seed)
    tables["deaths"] = pd.DataFrame(
        {"patient_id": patients.to_numpy(), "death_date": _event_dates(rng, len(patients), start, end).to_numpy()}
    )
    if items:
        tables["claim_items"] = synthetic_items(rng, claims.sample(frac=0.2, random_state=seed))
    return tables
