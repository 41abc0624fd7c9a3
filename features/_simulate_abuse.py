"""Abuse patterns (shared/domain.md §5) and honest background signals layered on a month of claims.

Each institution's number of abusive events of each pattern is Poisson with a mean proportional to
its claims, its current misconduct propensity and its own repertoire of patterns. Honest noise that
looks like the same signals is added at fixed rates to everyone, whatever their conduct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import _simulate_config as cfg
from features._simulate_city import City
from features._simulate_claims import (
    ClaimBatch,
    MonthContext,
    base_claims,
    bill,
    diagnosis_index,
    pick_rows,
    prescribers,
    sample_diagnoses,
    sample_patients,
    set_parts,
    uniform_days,
)

_N_PATTERNS = len(cfg.PATTERNS)


@dataclass
class MonthLedger:
    """Per-institution facts of one month, for supervision and the ground truth."""

    claims: np.ndarray
    revenue: np.ndarray  # cents
    abuse_count: np.ndarray  # (institutions, patterns)
    abuse_amount: np.ndarray  # (institutions, patterns), cents at stake
    flags: np.ndarray  # claims a smart-audit rule would flag (abusive or not)


class DeathRegistry:
    """Deceased patients by county in order of death, to find the dead for deceased settlement."""

    def __init__(self, city: City) -> None:
        pool = city.patients
        dead = np.flatnonzero(pool.death_day < city.end_day + 1)
        self.by_county = []
        for c in range(len(cfg.COUNTIES)):
            members = dead[pool.county[dead] == c]
            members = members[np.argsort(pool.death_day[members], kind="stable")]
            self.by_county.append((members, pool.death_day[members]))

    def sample_dead_before(
        self, rng: np.random.Generator, county: np.ndarray, day: np.ndarray, within_days: int = 1095
    ) -> np.ndarray:
        """A patient of the county who died before `day` (and within `within_days`), or -1."""
        out = np.full(len(county), -1, dtype=np.int64)
        for c, (members, death) in enumerate(self.by_county):
            rows = np.flatnonzero(county == c)
            if len(rows) == 0 or len(members) == 0:
                continue
            high = np.searchsorted(death, day[rows] - 1, side="left")
            low = np.searchsorted(death, day[rows] - within_days, side="left")
            pick = low + (rng.random(len(rows)) * (high - low)).astype(np.int64)
            found = high > low
            out[rows[found]] = members[pick[found]]
        return out


def month_claims(
    rng: np.random.Generator, city: City, ctx: MonthContext, claims_per_month: float, deaths: DeathRegistry
) -> tuple[ClaimBatch, MonthLedger]:
    """All claims settled in one month, honest and abusive, sorted by settlement day."""
    base = base_claims(rng, city, ctx, claims_per_month)
    n_inst = len(city.institutions)
    claims_by_inst = np.bincount(base["inst"], minlength=n_inst)
    wanted = _abuse_counts(rng, city, ctx, claims_by_inst)
    taken = np.zeros(len(base), dtype=bool)
    added = [
        _split_admissions(rng, city, ctx, base, wanted[:, cfg.SPLIT]),
        _phantom_beds(rng, city, ctx, base, taken, wanted[:, cfg.PHANTOM]),
        _low_standard_admissions(rng, city, ctx, wanted[:, cfg.LOW_STANDARD]),
        _deceased_settlements(rng, city, ctx, deaths, wanted[:, cfg.DECEASED]),
        _fake_visits(rng, city, ctx, wanted[:, cfg.FAKE_VISIT]),
    ]
    _overprescribe(rng, base, taken, wanted[:, cfg.OVERPRESCRIPTION])
    _duplicate_items(rng, city, base, taken, wanted[:, cfg.DUPLICATE])
    _resell(rng, city, base, taken, wanted[:, cfg.RESALE])
    _inflate(rng, city, base, taken, wanted[:, cfg.INFLATED])
    added += _honest_noise(rng, city, ctx, base, taken)
    batch = ClaimBatch.concat([base] + [b for b in added if len(b)])
    batch = batch.subset(np.lexsort((batch["admit"], batch["inst"], batch["settle"])))
    return batch, _ledger(rng, city, batch, wanted[:, cfg.HIDDEN])


def _abuse_counts(rng, city: City, ctx: MonthContext, claims_by_inst: np.ndarray) -> np.ndarray:
    share = cfg.ABUSE_SHARE_AT_FULL_PROPENSITY * ctx.propensity
    mean = claims_by_inst[:, None] * share[:, None] * city.institutions.pattern_preference
    return rng.poisson(mean)


def _ledger(rng, city: City, batch: ClaimBatch, hidden_events: np.ndarray) -> MonthLedger:
    n_inst = len(city.institutions)
    claims = np.bincount(batch["inst"], minlength=n_inst)
    revenue = np.bincount(batch["inst"], weights=batch["total"], minlength=n_inst)
    abusive = batch["abusive"]
    cell = batch["inst"][abusive] * _N_PATTERNS + batch["pattern"][abusive]
    count = np.bincount(cell, minlength=n_inst * _N_PATTERNS).reshape(n_inst, _N_PATTERNS)
    amount = np.bincount(cell, weights=batch["excess"][abusive], minlength=n_inst * _N_PATTERNS).reshape(
        n_inst, _N_PATTERNS
    )
    mean_bill = revenue / np.maximum(claims, 1)
    hidden_events = np.where(claims > 0, hidden_events, 0)
    count[:, cfg.HIDDEN] = hidden_events
    amount[:, cfg.HIDDEN] = hidden_events * mean_bill * np.exp(rng.normal(0, 0.4, n_inst))
    flagged = np.bincount(batch["inst"][batch["pattern"] >= 0], minlength=n_inst)
    flags = flagged + rng.binomial(claims, cfg.SMART_AUDIT_NOISE_FLAGS)
    return MonthLedger(claims, np.round(revenue).astype(np.int64), count, np.round(amount).astype(np.int64), flags)


def _mark(batch: ClaimBatch, rows: np.ndarray, pattern: int, abusive: bool) -> None:
    batch["pattern"][rows] = pattern
    batch["abusive"][rows] = abusive


def _culprit_doctors(rng, city: City, inst: np.ndarray, share: float = 0.7) -> np.ndarray:
    """Abuse is mostly done by the institution's few culprits."""
    doctor = prescribers(rng, city, inst)
    culprit = np.array([city.staff.culprits[i][0] if len(city.staff.culprits[i]) else -1 for i in inst], dtype=np.int64)
    use = (rng.random(len(inst)) < share) & (doctor >= 0) & (culprit >= 0)
    return np.where(use, culprit, doctor)


def _new_claims(rng, city: City, inst, patient, visit, admit, discharge, settle, diag) -> ClaimBatch:
    batch = ClaimBatch.empty(len(inst))
    for name, values in (
        ("inst", inst),
        ("patient", patient),
        ("visit", visit),
        ("admit", admit),
        ("discharge", discharge),
        ("settle", settle),
        ("diag", diag),
    ):
        batch[name] = np.asarray(values, dtype=np.int64)
    batch["doctor"] = prescribers(rng, city, batch["inst"])
    bill(rng, city, batch)
    return batch


def _rebill(rng, batch: ClaimBatch, rows: np.ndarray, total: np.ndarray, shares: np.ndarray) -> None:
    ratio = batch["fund"][rows] / np.maximum(batch["total"][rows], 1)
    batch["total"][rows] = total
    set_parts(batch, rows, shares)
    batch["fund"][rows] = np.floor(total * ratio).astype(np.int64)
    batch["days_supply"][rows] = np.where(batch["drug"][rows] > 0, np.maximum(batch["days_supply"][rows], 0), -1)


def _readmissions(rng, city: City, ctx: MonthContext, base: ClaimBatch, rows: np.ndarray) -> ClaimBatch:
    """A second short stay of the same patient 1–14 days after (or before) each anchor stay."""
    inst = base["inst"][rows]
    gap = rng.integers(1, 15, len(rows))
    los = rng.integers(2, 7, len(rows))
    after_admit = base["discharge"][rows] + gap
    before_discharge = base["admit"][rows] - gap
    after_ok = after_admit + los <= ctx.active_to[inst]
    before_ok = (before_discharge >= ctx.active_from[inst]) & (
        before_discharge - los >= city.institutions.designated[inst]
    )
    admit = np.where(after_ok, after_admit, before_discharge - los)
    keep = (after_ok | before_ok) & (city.patients.death_day[base["patient"][rows]] > admit + los)
    discharge = admit + los
    new = _new_claims(
        rng,
        city,
        inst[keep],
        base["patient"][rows][keep],
        np.full(keep.sum(), cfg.INPATIENT),
        admit[keep],
        discharge[keep],
        discharge[keep],
        base["diag"][rows][keep],
    )
    new["doctor"] = base["doctor"][rows][keep]
    return new


def _split_admissions(rng, city, ctx, base: ClaimBatch, wanted: np.ndarray) -> ClaimBatch:
    eligible = (base["visit"] == cfg.INPATIENT) & ~base["emergency"]
    rows = pick_rows(rng, base["inst"], eligible, wanted)
    new = _readmissions(rng, city, ctx, base, rows)
    new["excess"] = new["total"]
    _mark(new, np.arange(len(new)), cfg.SPLIT, True)
    return new


def _phantom_beds(rng, city, ctx, base: ClaimBatch, taken, wanted) -> ClaimBatch:
    """Long cheap stays, mostly exams or hardly any treatment; some patients seen elsewhere meanwhile."""
    rows = pick_rows(rng, base["inst"], (base["visit"] == cfg.INPATIENT) & ~taken, wanted)
    taken[rows] = True
    n = len(rows)
    los = rng.integers(14, 41, n)
    base["admit"][rows] = np.maximum(base["discharge"][rows] - los, city.institutions.designated[base["inst"][rows]])
    days = base["discharge"][rows] - base["admit"][rows]
    total = np.round(np.maximum(days, 1) * rng.uniform(120, 280, n) * 100).astype(np.int64)
    exam_heavy = rng.random(n) < 0.6
    shares = np.column_stack(
        [
            np.where(exam_heavy, rng.uniform(0.03, 0.08, n), rng.uniform(0.02, 0.05, n)),
            np.where(exam_heavy, rng.uniform(0.82, 0.9, n), rng.uniform(0.03, 0.08, n)),
            np.zeros(n),
            np.zeros(n),
        ]
    )
    shares[:, 3] = 1 - shares[:, :3].sum(axis=1) - 0.01
    _rebill(rng, base, rows, total, shares)
    base["excess"][rows] = base["total"][rows]
    _mark(base, rows, cfg.PHANTOM, True)
    return _seen_elsewhere(rng, city, ctx, base, rows[rng.random(n) < 0.4])


def _seen_elsewhere(rng, city, ctx, base: ClaimBatch, rows: np.ndarray) -> ClaimBatch:
    """Pharmacy purchases elsewhere by patients who are supposedly in a hospital bed."""
    inst = city.institutions
    counties = inst.county[base["inst"][rows]]
    low = np.maximum(base["admit"][rows] + 1, ctx.first_day)
    high = np.minimum(base["discharge"][rows] - 1, ctx.last_day)
    shops = [
        np.flatnonzero((inst.kind == cfg.PHARMACY) & (inst.county == c) & (ctx.active_days > 0))
        for c in range(len(cfg.COUNTIES))
    ]
    shop = np.array([shops[c][rng.integers(len(shops[c]))] if len(shops[c]) else -1 for c in counties], dtype=np.int64)
    ok = (shop >= 0) & (high >= low)
    ok[ok] &= (ctx.active_from[shop[ok]] <= low[ok]) & (ctx.active_to[shop[ok]] >= high[ok])
    day = uniform_days(rng, low[ok], high[ok])
    visit = np.full(ok.sum(), cfg.PHARMACY_VISIT)
    new = _new_claims(
        rng,
        city,
        shop[ok],
        base["patient"][rows][ok],
        visit,
        day,
        np.full(ok.sum(), -1),
        day,
        sample_diagnoses(rng, visit),
    )
    _mark(new, np.arange(len(new)), cfg.PHANTOM, False)
    return new


def _in_window(rng, ctx: MonthContext, owner: np.ndarray) -> np.ndarray:
    return uniform_days(rng, ctx.active_from[owner], ctx.active_to[owner])


def _low_standard_admissions(rng, city, ctx, wanted) -> ClaimBatch:
    owner = np.repeat(np.arange(len(wanted)), wanted)
    settle = _in_window(rng, ctx, owner)
    los = rng.integers(1, 4, len(owner))
    admit = np.maximum(settle - los, city.institutions.designated[owner])
    county = city.institutions.county[owner]
    patient, alive = sample_patients(rng, city, county, np.zeros(len(owner), bool), settle)
    diag = np.array([diagnosis_index(c) for c in cfg.LOW_STANDARD_DIAGNOSES])[rng.integers(0, 4, len(owner))]
    new = _new_claims(rng, city, owner, patient, np.full(len(owner), cfg.INPATIENT), admit, settle, settle, diag)
    n = len(new)
    total = np.round(rng.uniform(800, 2500, n) * 100).astype(np.int64)
    exam = rng.uniform(0.6, 0.8, n)
    _rebill(rng, new, np.arange(n), total, np.column_stack([np.full(n, 0.1), exam, np.zeros(n), 0.88 - exam]))
    new["doctor"] = _culprit_doctors(rng, city, owner)
    new["excess"] = new["total"]
    _mark(new, np.arange(n), cfg.LOW_STANDARD, True)
    return new.subset(np.flatnonzero(alive))


def _deceased_settlements(rng, city, ctx, deaths: DeathRegistry, wanted) -> ClaimBatch:
    owner = np.repeat(np.arange(len(wanted)), wanted)
    settle = _in_window(rng, ctx, owner)
    patient = deaths.sample_dead_before(rng, city.institutions.county[owner], settle)
    ok = patient >= 0
    owner, settle, patient = owner[ok], settle[ok], patient[ok]
    pharmacy = city.institutions.kind[owner] == cfg.PHARMACY
    visit = np.where(pharmacy, cfg.PHARMACY_VISIT, np.where(rng.random(len(owner)) < 0.6, cfg.CHRONIC, cfg.OUTPATIENT))
    new = _new_claims(
        rng, city, owner, patient, visit, settle, np.full(len(owner), -1), settle, sample_diagnoses(rng, visit)
    )
    new["doctor"] = _culprit_doctors(rng, city, owner)
    new["excess"] = new["total"]
    _mark(new, np.arange(len(new)), cfg.DECEASED, True)
    return new


def _fake_visits(rng, city: City, ctx: MonthContext, wanted: np.ndarray) -> ClaimBatch:
    """Low-value visits of one fixed group of patients, together on a few days of the month."""
    owners, patients, days = [], [], []
    for i in np.flatnonzero(wanted):
        group = city.fake_visit_groups[i]
        n_days = max(1, round(wanted[i] / (0.8 * len(group))))
        for day in uniform_days(rng, np.full(n_days, ctx.active_from[i]), np.full(n_days, ctx.active_to[i])):
            members = group[(rng.random(len(group)) < 0.8) & (city.patients.death_day[group] > day)]
            owners.append(np.full(len(members), i))
            patients.append(members)
            days.append(np.full(len(members), day))
    if not owners:
        return ClaimBatch.empty(0)
    owner, patient, day = np.concatenate(owners), np.concatenate(patients), np.concatenate(days)
    visit = np.where(city.institutions.kind[owner] == cfg.PHARMACY, cfg.PHARMACY_VISIT, cfg.OUTPATIENT)
    diag = np.array([diagnosis_index(c) for c in ("J06.900", "I10", "K29.700")])[rng.integers(0, 3, len(owner))]
    new = _new_claims(rng, city, owner, patient, visit, day, np.full(len(owner), -1), day, diag)
    n = len(new)
    total = np.round(rng.uniform(25, 90, n) * 100).astype(np.int64)
    drug = rng.uniform(0.75, 0.95, n)
    shares = np.where(
        (visit == cfg.PHARMACY_VISIT)[:, None],
        np.array([[1.0, 0, 0, 0]]),
        np.column_stack([drug, np.zeros(n), np.zeros(n), 0.99 - drug]),
    )
    _rebill(rng, new, np.arange(n), total, shares)
    new["days_supply"] = np.where(new["drug"] > 0, rng.integers(3, 6, n), -1)
    new["doctor"] = np.where(new["doctor"] >= 0, _culprit_doctors(rng, city, owner, share=1.0), -1)
    new["excess"] = new["total"]
    _mark(new, np.arange(n), cfg.FAKE_VISIT, True)
    return new


def _overprescribe(rng, base: ClaimBatch, taken, wanted) -> None:
    eligible = ~taken & (base["days_supply"] >= 1) & (base["visit"] != cfg.INPATIENT)
    rows = pick_rows(rng, base["inst"], eligible, wanted)
    taken[rows] = True
    _lengthen_supply(rng, base, rows)
    _mark(base, rows, cfg.OVERPRESCRIPTION, True)


def _lengthen_supply(rng, base: ClaimBatch, rows: np.ndarray, noise: bool = False) -> None:
    chronic = base["visit"][rows] == cfg.CHRONIC
    if noise:
        days = np.where(chronic, rng.integers(29, 57, len(rows)), rng.integers(8, 15, len(rows)))
    else:
        days = np.where(chronic, rng.integers(35, 91, len(rows)), rng.integers(10, 31, len(rows)))
    old = base["days_supply"][rows]
    extra = np.round(base["drug"][rows] * (days / old - 1)).astype(np.int64)
    ratio = base["fund"][rows] / np.maximum(base["total"][rows], 1)
    base["days_supply"][rows] = days
    base["drug"][rows] += extra
    base["total"][rows] += extra
    base["fund"][rows] += np.floor(extra * ratio).astype(np.int64)
    base["excess"][rows] = 0 if noise else extra


def _duplicate_items(rng, city, base: ClaimBatch, taken, wanted, noise: bool = False) -> None:
    """The same service item twice on the same day; the copy is billed on top (abuse) or not (noise)."""
    eligible = ~taken & (base["service"] >= 400) & (base["visit"] != cfg.PHARMACY_VISIT)
    rows = pick_rows(rng, base["inst"], eligible, wanted)
    taken[rows] = True
    high = np.where(base["visit"][rows] == cfg.INPATIENT, 50_000, 20_000)
    amount = np.minimum(rng.integers(2_000, high + 1), base["service"][rows] // 2)
    base["dup_amount"][rows] = amount
    if not noise:
        ratio = base["fund"][rows] / np.maximum(base["total"][rows], 1)
        base["service"][rows] += amount
        base["total"][rows] += amount
        base["fund"][rows] += np.floor(amount * ratio).astype(np.int64)
        base["excess"][rows] = amount
    _mark(base, rows, cfg.DUPLICATE, not noise)


def _resell(rng, city, base: ClaimBatch, taken, wanted, noise: bool = False) -> None:
    """Drugs whose trace code was already settled once (bought back and sold again)."""
    eligible = ~taken & (base["drug"] > 0)
    if not noise:
        eligible &= np.isin(city.institutions.kind[base["inst"]], (cfg.PHARMACY, cfg.CLINIC))
    rows = pick_rows(rng, base["inst"], eligible, wanted)
    taken[rows] = True
    base["trace_reuse"][rows] = True
    base["excess"][rows] = 0 if noise else base["drug"][rows]
    _mark(base, rows, cfg.RESALE, not noise)


def _inflate(rng, city, base: ClaimBatch, taken, wanted) -> None:
    """Costs pushed above the peer norm: pricier drugs for pharmacies, more exams or drugs elsewhere."""
    rows = pick_rows(rng, base["inst"], ~taken, wanted)
    taken[rows] = True
    extra = np.round(base["total"][rows] * rng.uniform(0.3, 1.2, len(rows))).astype(np.int64)
    pharmacy = base["visit"][rows] == cfg.PHARMACY_VISIT
    to_drug = pharmacy | (rng.random(len(rows)) < 0.5)
    to_drug &= base["drug"][rows] > 0
    ratio = base["fund"][rows] / np.maximum(base["total"][rows], 1)
    for name, mask in (("drug", to_drug), ("material", pharmacy & ~to_drug), ("exam", ~pharmacy & ~to_drug)):
        base[name][rows[mask]] += extra[mask]
    base["total"][rows] += extra
    base["fund"][rows] += np.floor(extra * ratio).astype(np.int64)
    base["excess"][rows] = extra
    _mark(base, rows, cfg.INFLATED, True)


def _honest_noise(rng, city: City, ctx: MonthContext, base: ClaimBatch, taken) -> list[ClaimBatch]:
    """Signals with innocent causes: planned or emergency readmissions, long rehabilitation stays,
    long prescriptions, repeated tests, scanning errors, deaths in hospital settled afterwards."""
    n_inst = len(city.institutions)
    everyone = np.full(n_inst, 10**9)
    inpatient = (base["visit"] == cfg.INPATIENT) & ~taken
    pick = lambda mask, rate: pick_rows(rng, base["inst"], mask & (rng.random(len(base)) < rate), everyone)
    readmit = _readmissions(rng, city, ctx, base, pick(inpatient, cfg.NOISE_READMISSION))
    kind = rng.random(len(readmit))
    readmit["emergency"] = kind < 0.4
    other_diag = (kind >= 0.4) & (kind < 0.7)
    readmit["diag"][other_diag] = sample_diagnoses(rng, readmit["visit"][other_diag])
    _mark(readmit, np.arange(len(readmit)), cfg.SPLIT, False)
    _long_stays(rng, city, base, pick(inpatient, cfg.NOISE_LONG_STAY), taken)
    _exam_heavy_stays(rng, base, pick(inpatient & ~taken, cfg.NOISE_EXAM_HEAVY_STAY), taken)
    rows = pick(~taken & (base["days_supply"] >= 1) & (base["visit"] != cfg.INPATIENT), cfg.NOISE_LONG_SUPPLY)
    taken[rows] = True
    _lengthen_supply(rng, base, rows, noise=True)
    _mark(base, rows, cfg.OVERPRESCRIPTION, False)
    noise_wanted = rng.binomial(np.bincount(base["inst"], minlength=n_inst), cfg.NOISE_DUPLICATE_ITEM)
    _duplicate_items(rng, city, base, taken, noise_wanted, noise=True)
    _resell(
        rng,
        city,
        base,
        taken,
        rng.binomial(np.bincount(base["inst"], minlength=n_inst), cfg.NOISE_TRACE_REUSE),
        noise=True,
    )
    return [readmit, _terminal_stays(rng, city, ctx)]


def _long_stays(rng, city, base: ClaimBatch, rows, taken) -> None:
    taken[rows] = True
    los = rng.integers(20, 46, len(rows))
    base["admit"][rows] = np.maximum(base["discharge"][rows] - los, city.institutions.designated[base["inst"][rows]])
    base["diag"][rows] = np.array([diagnosis_index(c) for c in cfg.LONG_STAY_DIAGNOSES])[
        rng.integers(0, len(cfg.LONG_STAY_DIAGNOSES), len(rows))
    ]
    _mark(base, rows, cfg.PHANTOM, False)


def _exam_heavy_stays(rng, base: ClaimBatch, rows, taken) -> None:
    taken[rows] = True
    n = len(rows)
    exam = rng.uniform(0.81, 0.88, n)
    shares = np.column_stack([np.full(n, 0.05), exam, np.zeros(n), 0.93 - exam])
    _rebill(rng, base, rows, base["total"][rows], shares)
    _mark(base, rows, cfg.PHANTOM, False)


def _terminal_stays(rng, city: City, ctx: MonthContext) -> ClaimBatch:
    """Patients who die in hospital: discharged on the day of death and settled a few days later."""
    pool, inst = city.patients, city.institutions
    dying = np.flatnonzero(pool.died_in_hospital & (pool.death_day >= ctx.first_day) & (pool.death_day <= ctx.last_day))
    wards = [
        np.flatnonzero(inst.has_beds & (inst.county == c) & (ctx.active_days > 0)) for c in range(len(cfg.COUNTIES))
    ]
    ward = np.array(
        [wards[c][rng.integers(len(wards[c]))] if len(wards[c]) else -1 for c in pool.county[dying]], dtype=np.int64
    )
    dying, ward = dying[ward >= 0], ward[ward >= 0]
    death = pool.death_day[dying]
    ok = (ctx.active_from[ward] <= death) & (ctx.active_to[ward] >= death)
    dying, ward, death = dying[ok], ward[ok], death[ok]
    settle = np.minimum(death + rng.integers(0, 5, len(death)), ctx.active_to[ward])
    admit = np.maximum(death - rng.integers(1, 15, len(death)), inst.designated[ward])
    visit = np.full(len(ward), cfg.INPATIENT)
    new = _new_claims(rng, city, ward, dying, visit, admit, death, settle, sample_diagnoses(rng, visit))
    _mark(new, np.flatnonzero(settle > death), cfg.DECEASED, False)
    return new
