"""The static part of the simulated city: institutions, their staff, the patient pool, inspectors.

Latent traits that the bureau never sees (misconduct propensity, honesty, abuse repertoire, inspector
skill) are drawn here too and go to the ground truth only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features import _simulate_config as cfg
from features._simulate_output import NO_DATE, as_arrow_strings, day_number, fixed_codes

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass
class Institutions:
    code: np.ndarray  # object (str)
    name: np.ndarray
    credit_code: np.ndarray
    kind: np.ndarray  # int, index into cfg.KINDS
    level: np.ndarray
    public: np.ndarray
    county: np.ndarray  # index into cfg.COUNTIES
    beds: np.ndarray
    staff_count: np.ndarray
    designated: np.ndarray  # day number
    volume: np.ndarray  # claims volume weight, mean 1
    cost_factor: np.ndarray  # honest case-mix cost level
    propensity_mean: np.ndarray  # long-run misconduct logit
    chain: np.ndarray  # -1 when not in a chain
    honesty: np.ndarray  # logit of reporting problems honestly in a self-inspection
    pattern_preference: np.ndarray  # (n, patterns), rows sum to 1

    def __len__(self) -> int:
        return len(self.code)

    @property
    def has_beds(self) -> np.ndarray:
        return np.isin(self.kind, (cfg.HOSPITAL, cfg.PRIMARY))


@dataclass
class Staff:
    code: np.ndarray  # object (str)
    institution: np.ndarray
    role: np.ndarray  # index into cfg.STAFF_ROLES
    prescriber_start: np.ndarray  # per institution: first doctor (pharmacist for pharmacies)
    prescriber_count: np.ndarray
    culprits: list[np.ndarray]  # per institution: staff who commit most of its abuse


@dataclass
class Patients:
    ids: pa.Array
    birth_year: np.ndarray
    male: np.ndarray
    county: np.ndarray
    chronic: np.ndarray
    remote: np.ndarray
    death_day: np.ndarray  # NO_DATE when alive at the end
    died_in_hospital: np.ndarray
    county_start: np.ndarray  # the pool is sorted by county, chronic patients first
    county_size: np.ndarray
    county_chronic: np.ndarray

    def __len__(self) -> int:
        return len(self.birth_year)


@dataclass
class Inspectors:
    code: np.ndarray
    name: np.ndarray
    region: np.ndarray
    county: np.ndarray  # index into cfg.COUNTIES; -1 city level, -2 province level
    certified: np.ndarray
    left_on: np.ndarray  # day the inspector left, NO_DATE if still active
    specialties: np.ndarray
    conflicts: list[frozenset[int]]  # institution indices
    skill: np.ndarray  # latent detection skill (logit scale)

    def __len__(self) -> int:
        return len(self.code)


@dataclass
class City:
    start_day: int
    end_day: int
    institutions: Institutions
    staff: Staff
    patients: Patients
    inspectors: Inspectors
    fake_visit_groups: list[np.ndarray]  # per institution: patients it uses for fake visits


def build_city(
    rng: np.random.Generator, n_institutions: int, start_year: int, years: int, claims_per_institution_year: float
) -> City:
    start_day = day_number(f"{start_year}-01-01")
    end_day = day_number(f"{start_year + years}-01-01") - 1
    institutions = build_institutions(rng, n_institutions, start_day, end_day)
    staff = build_staff(rng, institutions)
    n_patients = int(np.clip(n_institutions * claims_per_institution_year * 0.4, 3000, 3_000_000))
    patients = build_patients(rng, n_patients, start_year, start_day, end_day)
    inspectors = build_inspectors(rng, institutions, start_day, end_day)
    groups = _fake_visit_groups(rng, institutions, patients)
    return City(start_day, end_day, institutions, staff, patients, inspectors, groups)


def quota(n: int, shares: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Counts summing to n in the given shares (largest remainder), so small cities keep the mix."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    raw = shares * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _shuffled_labels(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(len(shares)), quota(n, shares)))


def build_institutions(rng: np.random.Generator, n: int, start_day: int, end_day: int) -> Institutions:
    kind = _shuffled_labels(rng, n, cfg.KIND_SHARE)
    county = _shuffled_labels(rng, n, [c[2] for c in cfg.COUNTIES])
    level = np.zeros(n, dtype=np.int64)
    hospitals = np.flatnonzero(kind == cfg.HOSPITAL)
    level[hospitals] = np.asarray(cfg.HOSPITAL_LEVELS)[_shuffled_labels(rng, len(hospitals), cfg.HOSPITAL_LEVEL_SHARE)]
    primary = np.flatnonzero(kind == cfg.PRIMARY)
    level[primary] = np.asarray(cfg.PRIMARY_LEVELS)[_shuffled_labels(rng, len(primary), cfg.PRIMARY_LEVEL_SHARE)]
    public = rng.random(n) < np.asarray(cfg.PUBLIC_SHARE)[kind]
    public[(kind == cfg.HOSPITAL) & (level == 3)] = True
    beds, staff_count = _beds_and_staff(rng, kind, level)
    designated = _designation_days(rng, kind, level, start_day, end_day)
    chain = _pharmacy_chains(rng, kind)
    code = _institution_codes(kind, county, designated)
    propensity = _propensity_means(rng, kind, public, chain)
    honesty = (
        cfg.HONESTY_MEAN - cfg.HONESTY_PROPENSITY_SLOPE * (propensity - cfg.PROPENSITY_MEAN) + rng.normal(0, 0.8, n)
    )
    return Institutions(
        code=code,
        name=_institution_names(rng, kind, level, county, chain),
        credit_code=_credit_codes(rng, public, kind, county, chain),
        kind=kind,
        level=level,
        public=public,
        county=county,
        beds=beds,
        staff_count=staff_count,
        designated=designated,
        volume=_volume_weights(kind, level),
        cost_factor=np.exp(rng.normal(0, 0.18, n)),
        propensity_mean=propensity,
        chain=chain,
        honesty=honesty,
        pattern_preference=_pattern_preferences(rng, kind),
    )


def _beds_and_staff(rng: np.random.Generator, kind: np.ndarray, level: np.ndarray):
    n = len(kind)
    beds = np.zeros(n, dtype=np.int64)
    bed_range = {3: (800, 2000), 2: (200, 700), 1: (30, 150), 0: (20, 100)}
    for lvl, (low, high) in bed_range.items():
        mask = (kind == cfg.HOSPITAL) & (level == lvl)
        beds[mask] = rng.integers(low, high, mask.sum())
    mask = kind == cfg.PRIMARY
    beds[mask] = rng.integers(10, 80, mask.sum())
    staff = np.ones(n, dtype=np.int64)
    staff[kind == cfg.HOSPITAL] = np.round(
        beds[kind == cfg.HOSPITAL] * rng.uniform(1.1, 1.6, (kind == cfg.HOSPITAL).sum())
    )
    staff[mask] = np.round(beds[mask] * rng.uniform(0.8, 1.5, mask.sum())) + rng.integers(15, 40, mask.sum())
    for k, (low, high) in {cfg.VILLAGE: (1, 5), cfg.CLINIC: (2, 26), cfg.PHARMACY: (2, 11)}.items():
        staff[kind == k] = rng.integers(low, high, (kind == k).sum())
    return beds, staff


def _designation_days(rng, kind, level, start_day: int, end_day: int) -> np.ndarray:
    first_year = np.asarray([2001, 2003, 2010, 2008, 2005])[kind]
    first = np.array([day_number(f"{y}-01-01") for y in first_year])
    days = first + np.floor(rng.random(len(kind)) * (start_day - 30 - first)).astype(np.int64)
    newcomer = (rng.random(len(kind)) < 0.04) & ~((kind == cfg.HOSPITAL) & (level >= 2))
    days[newcomer] = start_day + rng.integers(0, max(1, end_day - start_day - 60), newcomer.sum())
    return days


def _pharmacy_chains(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    chain = np.full(len(kind), -1, dtype=np.int64)
    pharmacies = np.flatnonzero(kind == cfg.PHARMACY)
    members = rng.permutation(pharmacies)[: int(len(pharmacies) * cfg.CHAIN_PHARMACY_SHARE)]
    position, chain_id = 0, 0
    while position < len(members) - 1:
        size = int(rng.integers(*cfg.CHAIN_SIZE, endpoint=True))
        chain[members[position : position + size]] = chain_id
        position += size
        chain_id += 1
    return chain


def _institution_codes(kind, county, designated) -> np.ndarray:
    """'H'/'P' + region + 5-digit serial, numbered per region and letter in order of designation."""
    codes = np.empty(len(kind), dtype=object)
    letter = np.where(kind == cfg.PHARMACY, "P", "H")
    for c, (region, _, _) in enumerate(cfg.COUNTIES):
        for prefix in ("H", "P"):
            members = np.flatnonzero((county == c) & (letter == prefix))
            members = members[np.argsort(designated[members], kind="stable")]
            for serial, i in enumerate(members, start=1):
                codes[i] = f"{prefix}{region}{serial:05d}"
    return codes


def _propensity_means(rng, kind, public, chain) -> np.ndarray:
    n = len(kind)
    chain_effect = rng.normal(0, cfg.PROPENSITY_CHAIN_SD, max(1, chain.max() + 1))
    return (
        cfg.PROPENSITY_MEAN
        + np.asarray(cfg.PROPENSITY_KIND_OFFSET)[kind]
        + np.where(public, 0.0, cfg.PROPENSITY_PRIVATE_OFFSET)
        + np.where(chain >= 0, chain_effect[np.maximum(chain, 0)], 0.0)
        + rng.normal(0, cfg.PROPENSITY_SD, n)
    )


def _pattern_preferences(rng, kind) -> np.ndarray:
    weights = np.asarray(cfg.PATTERN_WEIGHT).T[kind]  # (n, patterns)
    draws = rng.gamma(cfg.PATTERN_PREFERENCE_CONCENTRATION, 1.0, weights.shape) * weights
    return draws / draws.sum(axis=1, keepdims=True)


def _volume_weights(kind, level) -> np.ndarray:
    weight = np.asarray(cfg.VOLUME_BY_KIND)[kind].astype(float)
    hospital = kind == cfg.HOSPITAL
    weight[hospital] = [cfg.VOLUME_BY_HOSPITAL_LEVEL[int(lvl)] for lvl in level[hospital]]
    return weight / weight.mean()


def _person_name(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(cfg.GIVEN, size=int(rng.integers(1, 3))))
    return str(rng.choice(cfg.SURNAMES)) + given


def _institution_names(rng, kind, level, county, chain) -> np.ndarray:
    names = np.empty(len(kind), dtype=object)
    chain_brand = rng.choice(cfg.PHARMACY_BRANDS, size=max(1, chain.max() + 1))
    for i in range(len(kind)):
        place = cfg.COUNTIES[county[i]][1]
        town = str(rng.choice(cfg.TOWNS))
        if kind[i] == cfg.HOSPITAL:
            suffix = "人民医院" if level[i] == 3 else str(rng.choice(cfg.HOSPITAL_SUFFIXES))
            names[i] = f"{cfg.CITY_NAME if level[i] == 3 else place}{suffix}"
        elif kind[i] == cfg.PRIMARY:
            names[i] = f"{place}{town}镇卫生院" if rng.random() < 0.6 else f"{place}{town}街道社区卫生服务中心"
        elif kind[i] == cfg.VILLAGE:
            names[i] = f"{place}{town}镇{rng.choice(cfg.VILLAGES)}村卫生室"
        elif kind[i] == cfg.CLINIC:
            names[i] = (
                f"{place}{_person_name(rng)}诊所"
                if rng.random() < 0.6
                else f"{place}{town}{rng.choice(('康泰', '仁和', '同济', '惠民'))}门诊部"
            )
        else:
            brand = chain_brand[chain[i]] if chain[i] >= 0 else str(rng.choice(cfg.PHARMACY_BRANDS))
            names[i] = f"{brand}大药房（{place}{town}店）"
    return names


def _with_check(body: str, chars: str, weights: tuple[int, ...], modulus: int) -> str:
    total = sum(chars.index(ch) * w for ch, w in zip(body, weights, strict=False))
    check = (modulus - total % modulus) % modulus
    if modulus == 11:
        return body + ("X" if check == 10 else str(check))
    return body + chars[check]


def credit_code(rng: np.random.Generator, public: bool, private_hospital: bool, region: str) -> str:
    """A unified social credit code (GB 32100) with valid organisation-code and final check digits."""
    head = "12" if public else ("52" if private_hospital else "91")
    org = _with_check("".join(rng.choice(list("0123456789"), size=8)), "0123456789", _ORG_WEIGHTS, 11)
    body = head + region + org
    return _with_check(body, _CREDIT_CHARS, _CREDIT_WEIGHTS, 31)


def _credit_codes(rng, public, kind, county, chain) -> np.ndarray:
    codes = np.empty(len(kind), dtype=object)
    chain_codes: dict[int, str] = {}
    for i in range(len(kind)):
        region = cfg.COUNTIES[county[i]][0]
        if chain[i] >= 0:
            if chain[i] not in chain_codes:
                chain_codes[chain[i]] = credit_code(rng, False, False, cfg.CITY_CODE)
            codes[i] = chain_codes[chain[i]]
        else:
            codes[i] = credit_code(rng, bool(public[i]), bool(kind[i] == cfg.HOSPITAL), region)
    return codes


def build_staff(rng: np.random.Generator, inst: Institutions) -> Staff:
    """Staff holding payment qualification, ordered by institution with prescribers first."""
    counts = np.maximum(1, np.round(inst.staff_count * cfg.STAFF_QUALIFIED_SHARE)).astype(np.int64)
    roles: list[np.ndarray] = []
    for i in range(len(inst)):
        mix = cfg.STAFF_ROLE_MIX[inst.kind[i]]
        role = np.sort(rng.choice(len(cfg.STAFF_ROLES), size=counts[i], p=mix))
        prescriber = 2 if inst.kind[i] == cfg.PHARMACY else 0
        if not (role == prescriber).any():
            role[0] = prescriber
            role = np.sort(role)
        roles.append(role)
    role = np.concatenate(roles)
    institution = np.repeat(np.arange(len(inst)), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    prescriber_role = np.where(inst.kind == cfg.PHARMACY, 2, 0)
    prescriber_start = start + np.array([np.searchsorted(r, p) for r, p in zip(roles, prescriber_role, strict=False)])
    prescriber_count = np.array([(r == p).sum() for r, p in zip(roles, prescriber_role, strict=False)])
    code = _staff_codes(inst, institution, role)
    culprits = [
        prescriber_start[i] + rng.choice(prescriber_count[i], size=min(2, prescriber_count[i]), replace=False)
        for i in range(len(inst))
    ]
    return Staff(code, institution, role, prescriber_start, prescriber_count, culprits)


def _staff_codes(inst: Institutions, institution: np.ndarray, role: np.ndarray) -> np.ndarray:
    serial_by_region: dict[str, int] = {}
    codes = np.empty(len(role), dtype=object)
    for s in range(len(role)):
        region = cfg.COUNTIES[inst.county[institution[s]]][0]
        serial_by_region[region] = serial_by_region.get(region, 0) + 1
        codes[s] = f"{cfg.STAFF_ROLE_LETTER[role[s]]}{region}{serial_by_region[region]:06d}"
    return codes


def build_patients(rng: np.random.Generator, n: int, start_year: int, start_day: int, end_day: int) -> Patients:
    county = np.sort(rng.choice(len(cfg.COUNTIES), size=n, p=[c[2] for c in cfg.COUNTIES]))
    age_group = rng.choice(3, size=n, p=(0.16, 0.6, 0.24))
    age = np.select(
        [age_group == 0, age_group == 1], [rng.integers(0, 15, n), rng.integers(15, 60, n)], rng.integers(60, 96, n)
    )
    chronic = rng.random(n) < np.select([age < 45, age < 65], [0.04, 0.22], 0.5)
    order = np.lexsort((~chronic, county))
    county, age, chronic = county[order], age[order], chronic[order]
    hazard = np.select([age < 60, age < 75], [0.002, 0.015], 0.06)
    window = end_day - (start_day - 730) + 1
    dies = rng.random(n) < 1 - np.exp(-hazard * window / 365.25)
    death_day = np.where(dies, start_day - 730 + np.floor(rng.random(n) * window), NO_DATE).astype(np.int64)
    county_start = np.searchsorted(county, np.arange(len(cfg.COUNTIES)))
    county_size = np.diff(np.append(county_start, n))
    county_chronic = np.array([chronic[s : s + z].sum() for s, z in zip(county_start, county_size, strict=False)])
    a, b = int(rng.integers(1, 2**40)) | 1, int(rng.integers(0, 2**40))
    pseudonyms = (np.arange(n, dtype=np.uint64) * np.uint64(a * 7 + 2) + np.uint64(b)) % np.uint64(16**12)
    return Patients(
        ids=as_arrow_strings(fixed_codes("R", pseudonyms, 12, base=16)),
        birth_year=start_year - age,
        male=rng.random(n) < 0.5,
        county=county,
        chronic=chronic,
        remote=rng.random(n) < cfg.REMOTE_PATIENT_SHARE,
        death_day=death_day,
        died_in_hospital=dies & (rng.random(n) < cfg.DEATHS_IN_HOSPITAL),
        county_start=county_start,
        county_size=county_size,
        county_chronic=county_chronic,
    )


def build_inspectors(rng: np.random.Generator, inst: Institutions, start_day: int, end_day: int) -> Inspectors:
    regions: list[tuple[str, int, int]] = []  # (region code, county index, count)
    for c, (region, _, _) in enumerate(cfg.COUNTIES):
        regions.append((region, c, max(5, int(np.ceil((inst.county == c).sum() / 14)))))
    regions.append((cfg.CITY_CODE, -1, max(4, len(inst) // 60)))
    regions.append((cfg.PROVINCE_CODE, -2, 6))
    code, region, county = [], [], []
    for reg, c, count in regions:
        code += [f"ZF{reg}{k:03d}" for k in range(1, count + 1)]
        region += [reg] * count
        county += [c] * count
    n = len(code)
    county_arr = np.asarray(county)
    left = rng.random(n) < 0.07
    left_on = np.where(left, start_day + rng.integers(0, end_day - start_day, n), NO_DATE)
    specialties = np.array(
        [
            ";".join(sorted(rng.choice(cfg.INSPECTOR_SPECIALTIES, int(rng.integers(1, 4)), replace=False)))
            for _ in range(n)
        ],
        dtype=object,
    )
    conflicts = []
    for c in county_arr:
        own = np.flatnonzero(inst.county == c) if c >= 0 else np.arange(len(inst))
        has = rng.random() < 0.2 and len(own) > 0
        conflicts.append(
            frozenset(rng.choice(own, size=int(rng.integers(1, 3)), replace=False).tolist() if has else ())
        )
    return Inspectors(
        code=np.asarray(code, dtype=object),
        name=np.array([_person_name(rng) for _ in range(n)], dtype=object),
        region=np.asarray(region, dtype=object),
        county=county_arr,
        certified=rng.random(n) < 0.92,
        left_on=left_on,
        specialties=specialties,
        conflicts=conflicts,
        skill=rng.normal(0, cfg.INSPECTOR_SKILL_SD, n),
    )


def _fake_visit_groups(rng: np.random.Generator, inst: Institutions, patients: Patients) -> list[np.ndarray]:
    groups = []
    for i in range(len(inst)):
        c = inst.county[i]
        size = int(rng.integers(6, 21))
        groups.append(patients.county_start[c] + rng.choice(patients.county_size[c], size=size, replace=False))
    return groups
