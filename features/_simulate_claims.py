"""Honest settlement claims of one month, held column-wise in numpy arrays.

Dates are day numbers, money integer cents. Missing values: -1 for discharge, diagnosis, days' supply
and doctor. Abuse and background noise are layered on top by `_simulate_abuse`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import _simulate_config as cfg
from features._simulate_city import City

COLUMNS: dict[str, type] = {
    "inst": np.int64,
    "patient": np.int64,
    "visit": np.int64,
    "admit": np.int64,
    "discharge": np.int64,
    "settle": np.int64,
    "diag": np.int64,
    "emergency": np.bool_,
    "total": np.int64,
    "fund": np.int64,
    "drug": np.int64,
    "exam": np.int64,
    "material": np.int64,
    "service": np.int64,
    "days_supply": np.int64,
    "doctor": np.int64,
    "pattern": np.int64,
    "abusive": np.bool_,
    "excess": np.int64,
    "dup_amount": np.int64,
    "trace_reuse": np.bool_,
}
PARTS = ("drug", "exam", "material", "service")

DIAGNOSIS_CODES: tuple[str, ...] = tuple(
    sorted(
        {
            code
            for table in (
                cfg.DIAGNOSES_OUTPATIENT,
                cfg.DIAGNOSES_INPATIENT,
                cfg.DIAGNOSES_CHRONIC,
                cfg.DIAGNOSES_PHARMACY,
            )
            for code, _ in table
        }
    )
)


def diagnosis_index(code: str) -> int:
    return DIAGNOSIS_CODES.index(code)


def _diagnosis_cumulative() -> np.ndarray:
    tables = (cfg.DIAGNOSES_OUTPATIENT, cfg.DIAGNOSES_INPATIENT, cfg.DIAGNOSES_CHRONIC, cfg.DIAGNOSES_PHARMACY)
    weights = np.zeros((len(tables), len(DIAGNOSIS_CODES)))
    for v, table in enumerate(tables):
        for code, w in table:
            weights[v, diagnosis_index(code)] = w
    return np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)


_DIAGNOSIS_CUMULATIVE = _diagnosis_cumulative()
_LEVEL_AMOUNT_FACTOR = np.array([cfg.LEVEL_AMOUNT_FACTOR[level] for level in range(4)])


class ClaimBatch(dict):
    """Column name → numpy array; all columns have the same length."""

    def __len__(self) -> int:
        return len(self["inst"])

    @classmethod
    def empty(cls, n: int) -> ClaimBatch:
        batch = cls({name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()})
        for name in ("discharge", "diag", "days_supply", "doctor", "pattern"):
            batch[name][:] = -1
        return batch

    def subset(self, rows: np.ndarray) -> ClaimBatch:
        return ClaimBatch({name: values[rows] for name, values in self.items()})

    @classmethod
    def concat(cls, batches: list[ClaimBatch]) -> ClaimBatch:
        return cls({name: np.concatenate([b[name] for b in batches]) for name in COLUMNS})


@dataclass
class MonthContext:
    index: int  # months since the start of the simulation
    year: int
    month: int
    first_day: int
    last_day: int
    active_from: np.ndarray  # per institution; active_to < active_from when not billing this month
    active_to: np.ndarray
    propensity: np.ndarray  # per institution, after deterrence

    @property
    def active_days(self) -> np.ndarray:
        return np.maximum(0, self.active_to - self.active_from + 1)


def pick_rows(rng: np.random.Generator, inst: np.ndarray, eligible: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Random eligible rows, at most wanted[i] of them for institution i."""
    candidates = np.flatnonzero(eligible & (wanted[inst] > 0))
    owner = inst[candidates]
    if np.all(np.bincount(owner, minlength=len(wanted)) <= wanted):
        return candidates  # every candidate is wanted: nothing to choose
    order = np.lexsort((rng.random(len(candidates)), owner))
    candidates, owner = candidates[order], owner[order]
    rank = np.arange(len(candidates)) - np.searchsorted(owner, owner, side="left")
    return np.sort(candidates[rank < wanted[owner]])


def uniform_days(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A day uniformly in [low, high] (inclusive) for each row."""
    return low + np.floor(rng.random(len(low)) * (high - low + 1)).astype(np.int64)


def sample_diagnoses(rng: np.random.Generator, visit: np.ndarray) -> np.ndarray:
    u = rng.random(len(visit))
    diag = (u[:, None] > _DIAGNOSIS_CUMULATIVE[visit]).sum(axis=1)
    diag = np.minimum(diag, len(DIAGNOSIS_CODES) - 1)
    missing = (visit == cfg.PHARMACY_VISIT) & (rng.random(len(visit)) < cfg.PHARMACY_DIAGNOSIS_MISSING)
    return np.where(missing, -1, diag)


def sample_patients(
    rng: np.random.Generator, city: City, county: np.ndarray, chronic: np.ndarray, settle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Patients for claims, alive at settlement; returns (patient, ok) where ok is False if none found."""
    pool = city.patients
    patient = _draw_patients(rng, pool, county, chronic)
    for _ in range(3):
        dead = pool.death_day[patient] <= settle
        if not dead.any():
            break
        patient[dead] = _draw_patients(rng, pool, county[dead], chronic[dead])
    return patient, pool.death_day[patient] > settle


def _draw_patients(rng, pool, county: np.ndarray, chronic: np.ndarray) -> np.ndarray:
    n = len(county)
    elsewhere = rng.random(n) < 0.08
    county = np.where(elsewhere, rng.integers(0, len(cfg.COUNTIES), n), county)
    chronic = chronic & (pool.county_chronic[county] > 0)
    size = np.where(chronic, pool.county_chronic[county], pool.county_size[county])
    u = rng.random(n)
    u = np.where(chronic, u, u**1.4)  # some patients visit much more often than others
    return pool.county_start[county] + np.minimum((u * size).astype(np.int64), size - 1)


def prescribers(rng: np.random.Generator, city: City, inst: np.ndarray) -> np.ndarray:
    staff = city.staff
    doctor = staff.prescriber_start[inst] + (rng.random(len(inst)) * staff.prescriber_count[inst]).astype(np.int64)
    return np.where(city.institutions.kind[inst] == cfg.PHARMACY, -1, doctor)


def bill(rng: np.random.Generator, city: City, batch: ClaimBatch) -> None:
    """Fill amounts, fund payment and days' supply of claims whose visit, dates and institution are set."""
    inst = city.institutions
    kind, level, visit = inst.kind[batch["inst"]], inst.level[batch["inst"]], batch["visit"]
    factor = np.where(kind == cfg.HOSPITAL, _LEVEL_AMOUNT_FACTOR[level], np.asarray(cfg.KIND_AMOUNT_FACTOR)[kind])
    median = np.asarray(cfg.AMOUNT_MEDIAN)[visit] * factor * inst.cost_factor[batch["inst"]]
    los = np.maximum(1, batch["discharge"] - batch["admit"])
    median = np.where(visit == cfg.INPATIENT, median * (los / cfg.INPATIENT_LOS_MEDIAN) ** 0.75, median)
    total = median * np.exp(rng.normal(0, 1, len(visit)) * np.asarray(cfg.AMOUNT_SIGMA)[visit])
    batch["total"] = np.maximum(100, np.round(total * 100)).astype(np.int64)
    shares = rng.gamma(np.asarray(cfg.PART_SHAPES)[visit])
    set_parts(batch, np.arange(len(visit)), shares / shares.sum(axis=1, keepdims=True))
    material_only = (visit == cfg.PHARMACY_VISIT) & (rng.random(len(visit)) < 0.08)
    batch["material"][material_only] = batch["total"][material_only]
    batch["drug"][material_only] = 0
    batch["fund"] = np.floor(batch["total"] * _fund_shares(rng, kind, level, visit, batch["total"])).astype(np.int64)
    batch["days_supply"] = _days_supply(rng, visit, batch["drug"])


def set_parts(batch: ClaimBatch, rows: np.ndarray, shares: np.ndarray) -> None:
    """Split the totals of `rows` by `shares` (drug, exam, material, service[, other]).

    Parts are floored to cents; when two or more parts are non-zero at least one cent stays outside
    them, so that the float sum of the written parts never exceeds the written total.
    """
    total = batch["total"][rows]
    parts = np.floor(total[:, None] * shares[:, :4]).astype(np.int64)
    crowded = ((parts > 0).sum(axis=1) >= 2) & (parts.sum(axis=1) >= total)
    largest = parts.argmax(axis=1)
    parts[np.flatnonzero(crowded), largest[crowded]] -= 1
    for k, name in enumerate(PARTS):
        batch[name][rows] = parts[:, k]


def _fund_shares(rng, kind, level, visit, total) -> np.ndarray:
    n = len(visit)
    inpatient_base = np.where(kind == cfg.PRIMARY, 0.82, np.select([level == 3, level == 2], [0.65, 0.72], 0.77))
    base = np.select(
        [visit == cfg.INPATIENT, visit == cfg.CHRONIC, visit == cfg.OUTPATIENT],
        [inpatient_base, cfg.FUND_SHARE[cfg.CHRONIC], cfg.FUND_SHARE[cfg.OUTPATIENT]],
        0.5,
    )
    share = np.clip(base + rng.normal(0, 0.07, n), 0.0, 0.95)
    deductible = (visit == cfg.OUTPATIENT) & (total < 3000) & (rng.random(n) < 0.6)
    personal_account = (visit == cfg.PHARMACY_VISIT) & (rng.random(n) >= cfg.PHARMACY_POOLED_SHARE)
    return np.where(deductible | personal_account, 0.0, share)


def _days_supply(rng, visit, drug) -> np.ndarray:
    n = len(visit)
    outpatient = rng.choice([1, 2, 3, 5, 7], size=n, p=[0.1, 0.15, 0.35, 0.2, 0.2])
    chronic = rng.choice([14, 21, 28], size=n, p=[0.2, 0.2, 0.6])
    pharmacy = rng.choice([3, 5, 7], size=n, p=[0.4, 0.3, 0.3])
    inpatient = rng.choice([0, 3, 7], size=n, p=[0.5, 0.3, 0.2])
    days = np.choose(visit, [outpatient, inpatient, chronic, pharmacy])
    return np.where(drug > 0, days, -1)


def base_claims(
    rng: np.random.Generator, city: City, ctx: MonthContext, claims_per_institution_month: float
) -> ClaimBatch:
    """The honest visits and purchases of one month."""
    inst = city.institutions
    month_days = ctx.last_day - ctx.first_day + 1
    expected = (
        claims_per_institution_month * inst.volume * cfg.SEASONALITY[ctx.month - 1] * ctx.active_days / month_days
    )
    owner = np.repeat(np.arange(len(inst)), rng.poisson(expected))
    batch = ClaimBatch.empty(len(owner))
    batch["inst"] = owner
    u = rng.random(len(owner))
    mix = np.cumsum(np.asarray(cfg.VISIT_MIX), axis=1)[inst.kind[owner]]
    batch["visit"] = np.minimum((u[:, None] > mix[:, :-1]).sum(axis=1), len(cfg.VISIT_TYPES) - 1)
    _set_dates(rng, city, ctx, batch)
    patient, alive = sample_patients(rng, city, inst.county[owner], batch["visit"] == cfg.CHRONIC, batch["settle"])
    batch["patient"] = patient
    batch = batch.subset(np.flatnonzero(alive))
    batch["diag"] = sample_diagnoses(rng, batch["visit"])
    batch["emergency"] = _emergencies(rng, inst.kind[batch["inst"]], batch["visit"])
    batch["doctor"] = prescribers(rng, city, batch["inst"])
    bill(rng, city, batch)
    return batch


def _set_dates(rng, city: City, ctx: MonthContext, batch: ClaimBatch) -> None:
    owner, n = batch["inst"], len(batch)
    settle = uniform_days(rng, ctx.active_from[owner], ctx.active_to[owner])
    inpatient = batch["visit"] == cfg.INPATIENT
    los = np.clip(np.round(cfg.INPATIENT_LOS_MEDIAN * np.exp(rng.normal(0, 0.55, n))), 1, 60).astype(np.int64)
    discharge = np.maximum(
        settle - np.where(rng.random(n) < 0.8, 0, rng.integers(1, 3, n)), city.institutions.designated[owner]
    )
    admit_inpatient = np.maximum(discharge - los, city.institutions.designated[owner])
    late_settle = np.where(rng.random(n) < 0.05, rng.integers(1, 4, n), 0)
    batch["settle"] = settle
    batch["admit"] = np.where(
        inpatient, admit_inpatient, np.maximum(settle - late_settle, city.institutions.designated[owner])
    )
    batch["discharge"] = np.where(inpatient, discharge, -1)


def _emergencies(rng, kind: np.ndarray, visit: np.ndarray) -> np.ndarray:
    rate = np.zeros(len(kind))
    for (k, v), r in cfg.EMERGENCY_RATE.items():
        rate[(kind == k) & (visit == v)] = r
    return rng.random(len(kind)) < rate
