"""The simulated city: contract-exact files, determinism, plausible rates, conduct driving outcomes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.simulate import CSV_TABLES, simulate_city

KINDS = {"hospital", "primary_care", "village_clinic", "clinic", "pharmacy"}
VISITS = {"outpatient", "inpatient", "chronic", "pharmacy"}
SOURCES = {
    "routine_inspection",
    "random_inspection",
    "targeted_inspection",
    "special_inspection",
    "flying_inspection",
    "cross_inspection",
    "smart_audit",
    "complaint",
    "referral",
    "self_inspection",
    "audit",
}
CATEGORIES = {
    "split_admission",
    "phantom_bed",
    "low_standard_admission",
    "overtreatment",
    "overprescription",
    "duplicate_billing",
    "unbundling",
    "overcharging",
    "item_substitution",
    "out_of_scope",
    "fabricated_service",
    "fake_visit",
    "deceased_settlement",
    "resale",
    "management",
    "other",
}
DISPOSITIONS = [
    "interview",
    "rectification",
    "recovery",
    "refusal",
    "payment_suspension",
    "liquidated_damages",
    "staff_suspension",
    "agreement_suspension",
    "penalty_art39",
    "penalty_art38",
    "penalty_art40",
    "agreement_termination",
    "police_referral",
]
INSPECTION_KINDS = {"routine", "random", "targeted", "special", "flying", "cross", "complaint"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^\d+\.\d{2}$")
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# ---- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """A small city with claim items: for checking every contract rule."""
    out = tmp_path_factory.mktemp("city")
    simulate_city(out, n_institutions=80, years=2, seed=11, claims_per_institution_year=300)
    return out


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    """A larger city without claim items: for rates and the link between conduct and outcomes."""
    out = tmp_path_factory.mktemp("town")
    simulate_city(out, n_institutions=400, years=3, seed=3, claim_items=False)
    return out


def read_csv(root: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(root / "data" / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8")


def read_months(root: Path, table: str) -> pd.DataFrame:
    files = sorted((root / "data" / table).glob(f"{table}_*.parquet"))
    return pd.concat([pd.read_parquet(f).assign(_file=f.name) for f in files], ignore_index=True)


def truth(root: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(root / "ground_truth" / f"{name}.parquet")


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def split(values: pd.Series) -> pd.Series:
    return values.map(lambda text: [v for v in text.split(";") if v])


# ---- determinism and layout -----------------------------------------------------------------------------
def test_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path):
    options = dict(n_institutions=25, years=1, claims_per_institution_year=120)
    simulate_city(tmp_path / "a", seed=7, **options)
    simulate_city(tmp_path / "b", seed=7, **options)
    simulate_city(tmp_path / "c", seed=8, **options)
    first, second, other = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert first == second
    assert first["data/claims/claims_202201.parquet"] != other["data/claims/claims_202201.parquet"]
    assert first["data/institutions.csv"] != other["data/institutions.csv"]


def test_every_contract_table_is_written_and_ground_truth_stays_outside_data(city, town):
    for table in CSV_TABLES:
        assert (town / "data" / f"{table}.csv").is_file()
    data = city / "data"
    claims = sorted(p.name for p in (data / "claims").iterdir())
    items = sorted(p.name for p in (data / "claim_items").iterdir())
    assert claims == [f"claims_{y}{m:02d}.parquet" for y in (2022, 2023) for m in range(1, 13)]
    assert items == [name.replace("claims", "claim_items") for name in claims]
    assert not any(p.is_relative_to(data) for p in (city / "ground_truth").rglob("*"))
    truth_words = ("propensity", "pattern", "abusive", "skill", "honest", "true_")
    for path in data.rglob("*"):
        if path.suffix == ".csv":
            header = path.read_text(encoding="utf-8").splitlines()[0]
        elif path.suffix == ".parquet":
            header = ",".join(pq.read_schema(path).names)
        else:
            continue
        assert not any(word in header for word in truth_words), path


def test_summary_counts_rows_and_progress_reaches_the_end(tmp_path):
    calls: list[tuple[str, int, int]] = []
    summary = simulate_city(
        tmp_path,
        n_institutions=20,
        years=1,
        claims_per_institution_year=60,
        claim_items=False,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert summary.data_dir == tmp_path / "data" and summary.truth_dir == tmp_path / "ground_truth"
    assert summary.rows["institutions"] == 20
    assert summary.rows["claims"] == sum(pq.read_metadata(p).num_rows for p in (tmp_path / "data/claims").iterdir())
    assert "claim_items" not in summary.rows and not (tmp_path / "data/claim_items").exists()
    assert ("claims", 12, 12) in calls and calls[-1][1] == calls[-1][2]


@pytest.mark.parametrize(
    "argument, value", [("n_institutions", 3), ("years", 0), ("start_year", 1900), ("claims_per_institution_year", 0.0)]
)
def test_bad_arguments_are_refused_with_the_value_named(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        simulate_city(tmp_path, **{argument: value})


# ---- contract rules, table by table ---------------------------------------------------------------------
def test_institutions_follow_the_contract_and_mix_kinds_like_a_real_city(city):
    inst = read_csv(city, "institutions")
    assert inst.institution_code.is_unique
    assert inst.institution_code.str.fullmatch(r"[HP]\d{6}\d{5}").all()
    assert (inst.institution_code.str[1:7] == inst.region_code).all()
    assert ((inst.kind == "pharmacy") == inst.institution_code.str.startswith("P")).all()
    assert set(inst.kind) == KINDS and set(inst.ownership) <= {"public", "private"}
    assert set(inst.status) <= {"active", "suspended", "terminated"}
    assert set(inst.level) <= {"0", "1", "2", "3"} and (inst.level[inst.kind == "pharmacy"] == "0").all()
    assert inst.region_code.str.startswith("4415").all() and inst.region_code.nunique() >= 3
    assert 0.45 <= (inst.kind == "pharmacy").mean() <= 0.55
    for column in ("designated_since", "status_since"):
        assert inst[column].str.match(DATE).all()
    assert (inst.status_since >= inst.designated_since).all()
    assert (inst.beds.astype(int) >= 0).all() and (inst.staff_count.astype(int) >= 0).all()
    assert (inst.beds[inst.kind == "pharmacy"].astype(int) == 0).all()
    assert all(_valid_credit_code(code) for code in inst.credit_code)


def _valid_credit_code(code: str) -> bool:
    if len(code) != 18 or any(ch not in CREDIT_CHARS for ch in code):
        return False
    total = sum(CREDIT_CHARS.index(ch) * w for ch, w in zip(code[:17], CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


def test_claims_follow_the_contract(city):
    claims = read_months(city, "claims")
    inst = read_csv(city, "institutions").set_index("institution_code")
    staff = read_csv(city, "staff").set_index("staff_code")
    assert claims.claim_id.is_unique
    assert claims.institution_code.isin(inst.index).all()
    assert set(claims.visit_type) == VISITS
    inpatient = claims.visit_type == "inpatient"
    assert (claims.discharge_date[inpatient] >= claims.admit_date[inpatient]).all()
    assert claims.discharge_date[~inpatient].isna().all()
    assert (claims.settle_date >= claims.admit_date).all()
    month = pd.to_datetime(claims.settle_date).dt.strftime("claims_%Y%m.parquet")
    assert (month == claims._file).all()
    assert ((claims.fund_amount >= 0) & (claims.fund_amount <= claims.total_amount)).all()
    parts = claims[["drug_amount", "exam_amount", "material_amount", "service_amount"]]
    assert (parts >= 0).all().all() and (parts.sum(axis=1) <= claims.total_amount).all()
    for column in ("total_amount", "fund_amount", "drug_amount"):
        assert np.allclose(claims[column], claims[column].round(2))
    kind = inst.kind.reindex(claims.institution_code).to_numpy()
    assert ((kind == "pharmacy") == (claims.visit_type == "pharmacy")).all()
    assert np.isin(kind[inpatient], ["hospital", "primary_care"]).all()
    doctors = claims.doctor_code.dropna()
    assert (staff.role.reindex(doctors) == "doctor").all()
    assert (staff.institution_code.reindex(doctors).to_numpy() == claims.institution_code[doctors.index]).all()
    assert set(claims.patient_sex) == {"M", "F"} and claims.patient_birth_year.between(1900, 2023).all()
    assert claims.days_supply.dropna().ge(0).all() and claims.remote.any()
    assert claims.diagnosis_code.dropna().str.fullmatch(r"[A-Z]\d{2}(\.\d{1,3})?").all()


def test_claims_parquet_uses_native_types(city):
    schema = pq.read_schema(city / "data/claims/claims_202201.parquet")
    assert schema.field("admit_date").type == pa.date32() and schema.field("settle_date").type == pa.date32()
    assert schema.field("total_amount").type == pa.float64() and schema.field("days_supply").type == pa.int64()
    assert schema.field("emergency").type == pa.bool_() and schema.field("patient_birth_year").type == pa.int64()
    items = pq.read_schema(city / "data/claim_items/claim_items_202201.parquet")
    assert items.field("item_date").type == pa.date32() and items.field("line_no").type == pa.int64()


def test_claim_items_reference_their_claims_and_add_up_to_the_total(city):
    claims = read_months(city, "claims").set_index("claim_id")
    items = read_months(city, "claim_items")
    assert not items.duplicated(["claim_id", "line_no"]).any()
    assert items.claim_id.isin(claims.index).all()
    assert set(items.item_type) <= {"drug", "service", "material"}
    assert (items.quantity > 0).all() and (items.unit_price >= 0).all()
    assert np.allclose(items.quantity * items.unit_price, items.amount)
    per_claim = items.groupby("claim_id").amount.sum()
    assert np.allclose(per_claim, claims.total_amount.reindex(per_claim.index), atol=0.005)
    assert items.trace_code.dropna().str.fullmatch(r"\d{20}").all()
    assert items.trace_code[items.item_type != "drug"].isna().all()


def test_violations_follow_the_contract_and_point_to_earlier_inspections_of_the_same_institution(city):
    violations = read_csv(city, "violations")
    inspections = read_csv(city, "inspections").set_index("inspection_id")
    inst = read_csv(city, "institutions")
    staff = read_csv(city, "staff").set_index("staff_code")
    assert len(violations) > 0 and violations.violation_id.is_unique
    assert violations.institution_code.isin(inst.institution_code).all()
    assert set(violations.source) <= SOURCES and set(violations.category) <= CATEGORIES
    assert set(violations.disposition) <= set(DISPOSITIONS)
    assert set(violations.status) <= {"confirmed", "under_appeal", "overturned"}
    assert violations.amount.str.match(MONEY).all() and violations.found_date.str.match(DATE).all()
    decided = violations.decision_date != ""
    assert (violations.decision_date[decided] >= violations.found_date[decided]).all()
    linked = violations[violations.inspection_id != ""]
    assert linked.inspection_id.isin(inspections.index).all()
    assert (inspections.institution_code.reindex(linked.inspection_id).to_numpy() == linked.institution_code).all()
    assert (inspections.start_date.reindex(linked.inspection_id).to_numpy() <= linked.found_date).all()
    for codes, owner in zip(split(violations.staff_codes), violations.institution_code, strict=True):
        assert all(staff.institution_code[c] == owner for c in codes)
    assert set(violations.fraud) <= {"true", "false"} and set(violations.lenient) <= {"true", "false"}


def test_inspections_have_certified_inspectors_of_their_jurisdiction_without_conflicts(city):
    inspections = read_csv(city, "inspections")
    inspectors = read_csv(city, "inspectors").set_index("inspector_code")
    region = read_csv(city, "institutions").set_index("institution_code").region_code
    assert inspections.inspection_id.is_unique and set(inspections.kind) <= INSPECTION_KINDS
    assert set(inspections.level) <= {"province", "city", "county"}
    teams = split(inspections.inspector_codes)
    assert (teams.map(len) >= 2).all() and (teams.map(lambda t: len(set(t)) == len(t))).all()
    for team, code, kind in zip(teams, inspections.institution_code, inspections.kind, strict=True):
        assert inspectors.certified[team[0]] == "true"
        assert all(code not in inspectors.conflicts[i].split(";") for i in team)
        if kind in ("routine", "random", "complaint", "targeted"):
            assert all(inspectors.region_code[i] == region[code] for i in team)
    drawn = inspections.kind == "random"
    assert drawn.any() and inspections.draw_id[drawn].str.fullmatch(r"D\d{4}-\d{2}").all()
    assert (inspections.draw_id[~drawn] == "").all()
    published = inspections.result_published != ""
    assert (inspections.result_published[published] >= inspections.start_date[published]).all()


def test_inspection_results_agree_with_the_violations_they_found(city):
    inspections = read_csv(city, "inspections").set_index("inspection_id")
    violations = read_csv(city, "violations")
    linked = violations[violations.inspection_id != ""]
    found = linked.groupby("inspection_id").amount.apply(lambda a: a.astype(float).sum())
    expected = np.where(inspections.index.isin(found.index), "true", "false")
    assert (inspections.found_violation.to_numpy() == expected).all()
    recorded = inspections.amount_found.reindex(found.index).astype(float)
    assert np.allclose(recorded, found, atol=0.01)


def test_self_inspections_complaints_referrals_and_staff_points_follow_the_contract(town):
    city = town
    codes = set(read_csv(city, "institutions").institution_code)
    reports = read_csv(city, "self_inspections")
    assert reports.report_id.is_unique and reports.institution_code.isin(codes).all()
    assert (reports.period_end >= reports.period_start).all() and (reports.submitted_date > reports.period_end).all()
    assert (reports.problems_reported.astype(int) >= 0).all() and reports.amount_refunded.str.match(MONEY).all()
    verified = reports.verified == "true"
    assert (reports.verified_date[verified] >= reports.submitted_date[verified]).all()
    assert (reports.problems_found[~verified] == "").all()
    complaints = read_csv(city, "complaints")
    assert set(complaints.substantiated) <= {"true", "false", ""}
    assert ((complaints.closed_date == "") == (complaints.substantiated == "")).all()
    referrals = read_csv(city, "referrals")
    assert set(referrals.department) <= {"health", "market", "tax", "police", "audit", "discipline"}
    staff = read_csv(city, "staff").set_index("staff_code")
    assert set(staff.role) <= {"doctor", "nurse", "pharmacist", "technician", "other"}
    assert set(staff.status) <= {"active", "suspended", "terminated"} and staff.institution_code.isin(codes).all()
    points = read_csv(city, "staff_points")
    assert points.event_id.is_unique and points.points.astype(int).between(1, 12).all()
    assert (staff.institution_code.reindex(points.staff_code).to_numpy() == points.institution_code).all()
    deaths = read_csv(city, "deaths")
    assert deaths.patient_id.is_unique and deaths.death_date.str.match(DATE).all()


def test_inspectors_include_every_jurisdiction(city):
    inspectors = read_csv(city, "inspectors")
    assert inspectors.inspector_code.is_unique
    assert {"440000", "441500"} <= set(inspectors.region_code)
    assert set(inspectors.certified) <= {"true", "false"} and set(inspectors.active) <= {"true", "false"}


# ---- abuse is visible in the claims, honest noise too ----------------------------------------------------
def test_injected_abuse_shows_the_signals_bureaus_look_for(city):
    claims = read_months(city, "claims").set_index("claim_id")
    flags = pd.concat([pd.read_parquet(p) for p in sorted((city / "ground_truth/claim_flags").iterdir())])
    abusive = flags[flags.abusive]
    deaths = read_csv(city, "deaths").set_index("patient_id").death_date
    after_death = abusive[abusive.pattern == "deceased_settlement"].claim_id
    rows = claims.loc[after_death]
    assert len(rows) and (rows.settle_date.astype(str) > deaths.reindex(rows.patient_id).to_numpy()).all()
    long_supply = claims.loc[abusive[abusive.pattern == "overprescription"].claim_id]
    limit = np.where(long_supply.visit_type == "chronic", 28, 7)
    assert (long_supply.days_supply > limit).all()
    phantom = claims.loc[abusive[abusive.pattern == "phantom_bed"].claim_id]
    assert ((pd.to_datetime(phantom.discharge_date) - pd.to_datetime(phantom.admit_date)).dt.days >= 10).all()
    items = read_months(city, "claim_items")
    duplicated = items[items.duplicated(["claim_id", "item_code", "item_date", "amount"], keep=False)].claim_id
    assert set(abusive[abusive.pattern == "duplicate_billing"].claim_id) <= set(duplicated)
    reused = items.trace_code.dropna()
    assert reused.duplicated().any()
    noise = flags[~flags.abusive]
    assert {"overprescription", "split_admission"} <= set(noise.pattern)  # honest institutions are noisy too


def test_split_admissions_are_readmissions_within_fifteen_days_with_the_same_diagnosis(city):
    claims = read_months(city, "claims")
    flags = pd.concat([pd.read_parquet(p) for p in sorted((city / "ground_truth/claim_flags").iterdir())])
    split_ids = set(flags[flags.abusive & (flags.pattern == "split_admission")].claim_id)
    stays = claims[claims.visit_type == "inpatient"].sort_values(["patient_id", "admit_date"])
    stays = stays.assign(
        previous_discharge=stays.groupby("patient_id").discharge_date.shift(),
        previous_diagnosis=stays.groupby("patient_id").diagnosis_code.shift(),
        next_admit=stays.groupby("patient_id").admit_date.shift(-1),
    )
    flagged = stays[stays.claim_id.isin(split_ids)]
    gap_before = (pd.to_datetime(flagged.admit_date) - pd.to_datetime(flagged.previous_discharge)).dt.days
    assert len(flagged) > 0
    assert ((gap_before.between(0, 15)) | flagged.next_admit.notna()).mean() > 0.9
    assert not flagged.emergency.any()


# ---- rates and the link between conduct and outcomes ------------------------------------------------------
def test_yearly_supervision_rates_are_in_the_published_ranges(town):
    n = len(read_csv(town, "institutions"))
    violations = read_csv(town, "violations").assign(year=lambda v: v.found_date.str[:4])
    share = violations.groupby("year").institution_code.nunique() / n
    assert share.between(0.25, 0.6).all() and share.mean() == pytest.approx(0.43, abs=0.1)
    counts = violations.disposition.value_counts()
    assert counts.index[0] == "interview"
    assert counts.get("recovery", 0) + counts.get("refusal", 0) > counts.get("liquidated_damages", 0)
    assert counts.get("liquidated_damages", 0) > counts.get("agreement_suspension", 0)
    assert counts.get("agreement_termination", 0) <= 2 * 3 * n / 500 + 2
    assert (violations.fraud == "true").mean() < 0.03
    complaints = read_csv(town, "complaints")
    assert 0.005 <= len(complaints) / n / 3 <= 0.04
    assert 0.2 <= (complaints.substantiated == "true").sum() / (complaints.substantiated != "").sum() <= 0.65
    assert 1 <= len(read_csv(town, "referrals")) / 3 <= 15
    inspections = read_csv(town, "inspections").assign(year=lambda i: i.start_date.str[:4])
    routine = inspections[inspections.kind.isin(["routine", "random"])]
    assert (routine.groupby("year").institution_code.nunique() / n).between(0.85, 1.0).all()
    drawn = inspections[inspections.kind == "random"].groupby("year").size() / n
    assert drawn.between(0.03, 0.08).all()


def test_targeted_inspections_find_more_than_random_ones(town):
    inspections = read_csv(town, "inspections")
    found = inspections.groupby("kind").found_violation.apply(lambda f: (f == "true").mean())
    assert found["targeted"] > found["random"] + 0.1
    assert found["targeted"] > found["routine"] + 0.1


def test_higher_propensity_institutions_have_more_violations_and_more_abuse(town):
    years = truth(town, "institution_years")
    violations = read_csv(town, "violations").assign(year=lambda v: v.found_date.str[:4].astype(int))
    counted = violations.groupby(["institution_code", "year"]).size().rename("violations")
    years = years.join(counted, on=["institution_code", "year"]).fillna({"violations": 0})
    years = years[years.claims > 0].assign(
        abuse_per_claim=lambda y: y.abuse_events / y.claims, quintile=lambda y: pd.qcut(y.propensity, 5, labels=False)
    )
    by_quintile = years.groupby("quintile")[["abuse_per_claim", "violation_probability", "violations"]].mean()
    assert by_quintile.abuse_per_claim.is_monotonic_increasing
    assert by_quintile.violation_probability.is_monotonic_increasing
    assert by_quintile.violations.iloc[-1] > 2 * by_quintile.violations.iloc[0]
    assert years.propensity.corr(years.violations, method="spearman") > 0.2


def test_inspections_find_by_conduct_not_by_size(town):
    """Record review: the chance of a finding follows the share of abusive claims, not the claim volume."""
    inspections = read_csv(town, "inspections").merge(truth(town, "inspections"), on="inspection_id")
    years = truth(town, "institution_years").assign(share=lambda y: y.abuse_events / y.claims.clip(lower=1))
    inspections = inspections.assign(year=lambda i: i.start_date.str[:4].astype(int)).merge(
        years, on=["institution_code", "year"]
    )
    assert inspections.detection_probability.between(0, 1).all()
    found = inspections.found_violation == "true"
    by_quintile = found.groupby(pd.qcut(inspections.detection_probability, 5, labels=False)).mean()
    assert by_quintile.iloc[-1] > by_quintile.iloc[0] + 0.4
    share_rho = inspections.detection_probability.corr(inspections.share, method="spearman")
    size_rho = inspections.detection_probability.corr(inspections.claims, method="spearman")
    assert share_rho > 0.5 and share_rho > abs(size_rho) + 0.3


def test_ownership_and_county_do_not_drive_misconduct_much(town):
    traits = truth(town, "institution_years").groupby("institution_code").propensity.mean()
    inst = read_csv(town, "institutions").set_index("institution_code")
    by_ownership = traits.groupby(inst.ownership).mean()
    by_county = traits.groupby(inst.region_code).mean()
    assert by_ownership.max() - by_ownership.min() < 0.08
    assert by_county.max() - by_county.min() < 0.08


def test_dishonest_no_problem_reports_are_sometimes_contradicted_on_verification(town):
    reports = read_csv(town, "self_inspections")
    honest = truth(town, "self_inspections").set_index("report_id").honest_reporter
    no_problem = reports[reports.problems_reported == "0"]
    contradicted = no_problem[(no_problem.verified == "true") & (no_problem.problems_found.replace("", "0") != "0")]
    assert len(contradicted) > 0
    assert (~honest.reindex(contradicted.report_id)).mean() > 0.5
    refunding = reports[reports.amount_refunded.astype(float) > 0]
    assert honest.reindex(refunding.report_id).all()


def test_simulated_files_pass_the_import_validation(sqlite_store, tmp_path):
    from features.importer import import_paths

    simulate_city(tmp_path / "city", n_institutions=30, years=1, claims_per_institution_year=80, seed=2)
    report = import_paths([tmp_path / "city" / "data"], engine=sqlite_store)
    rows = report.rows_by_table()
    assert rows["institutions"] == 30 and rows["claims"] > 0 and rows["claim_items"] > 0


def test_fraud_rulings_follow_how_pervasive_the_scheme_is_not_the_institutions_size():
    """The same sum is ruled fraud far more often where it is a large share of the institution's income."""
    from features import _simulate_config as cfg
    from features._simulate_dispositions import decide

    def fraud_rate(amount_yuan: float, billing_share: float, pattern: int = cfg.FAKE_VISIT) -> float:
        rng = np.random.default_rng(7)
        rulings = [
            decide(
                rng,
                pattern=pattern,
                kind=cfg.PHARMACY,
                essential=False,
                amount_cents=int(amount_yuan * 100),
                billing_share=billing_share,
                propensity=0.5,
                prior_violations=0,
                found_day=0,
                end_day=1000,
            ).fraud
            for _ in range(4000)
        ]
        return float(np.mean(rulings))

    pervasive, marginal = fraud_rate(3_000, 0.15), fraud_rate(3_000, 0.005)
    assert marginal == 0.0 and 0.1 < pervasive < 0.25
    assert fraud_rate(500, 0.5) == 0.0  # below the minimum sum nothing is ruled fraud
    assert 0.02 < fraud_rate(300_000, 0.001) < 0.15  # a large sum can be fraud at a large institution too
    assert fraud_rate(3_000, 0.15, pattern=cfg.PATTERNS.index("overprescription")) == 0.0
