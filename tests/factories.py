"""Small, valid contract files for tests, with hooks to break them deliberately."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

INSTITUTIONS = pd.DataFrame(
    {
        "institution_code": ["H44150200001", "H44150200002", "P44150200003", "P44152100004"],
        "name": ["市第一医院", "城区卫生院", "好药房", "乡镇药店"],
        "credit_code": ["12441500MB2C12345X", "12441500MB2C12346X", "91441500MA4W12345Y", ""],
        "kind": ["hospital", "primary_care", "pharmacy", "pharmacy"],
        "level": ["3", "1", "0", "0"],
        "ownership": ["public", "public", "private", "private"],
        "region_code": ["441502", "441502", "441502", "441521"],
        "beds": ["800", "40", "0", "0"],
        "staff_count": ["1200", "60", "5", "3"],
        "designated_since": ["2010-01-05", "2012-06-01", "2019-03-01", "2020-07-15"],
        "status": ["active", "active", "active", "active"],
    }
)

INSPECTIONS = pd.DataFrame(
    {
        "inspection_id": ["I1", "I2", "I3"],
        "institution_code": ["H44150200001", "P44150200003", "P44152100004"],
        "start_date": ["2024-03-01", "2024-04-01", "2024-05-10"],
        "kind": ["random", "routine", "targeted"],
        "level": ["city", "county", "city"],
        "items": ["inpatient", "", "pharmacy"],
        "inspector_codes": ["E1;E2", "E1;E3", "E2;E3"],
        "draw_id": ["D2024-01", "", ""],
        "found_violation": ["true", "false", "true"],
        "amount_found": ["12345.60", "", "800"],
        "result_published": ["2024-03-20", "", "2024-06-01"],
    }
)

VIOLATIONS = pd.DataFrame(
    {
        "violation_id": ["V1", "V2"],
        "institution_code": ["H44150200001", "P44152100004"],
        "found_date": ["2024-03-01", "2024-05-10"],
        "decision_date": ["2024-04-01", "2024-05-20"],
        "source": ["random_inspection", "targeted_inspection"],
        "inspection_id": ["I1", "I3"],
        "category": ["split_admission", "overprescription"],
        "amount": ["12345.60", "800.00"],
        "disposition": ["recovery", "interview"],
        "penalty_amount": ["", ""],
        "fraud": ["false", "false"],
        "lenient": ["false", "true"],
        "status": ["confirmed", "confirmed"],
        "staff_codes": ["S1", ""],
    }
)

CLAIMS = pd.DataFrame(
    {
        "claim_id": ["C1", "C2", "C3"],
        "institution_code": ["H44150200001", "H44150200001", "P44150200003"],
        "patient_id": ["PT1", "PT1", "PT2"],
        "visit_type": ["inpatient", "outpatient", "pharmacy"],
        "admit_date": ["2024-01-03", "2024-02-10", "2024-02-11"],
        "discharge_date": ["2024-01-09", "", ""],
        "settle_date": ["2024-01-09", "2024-02-10", "2024-02-11"],
        "diagnosis_code": ["I10", "E11.900", ""],
        "emergency": ["false", "false", ""],
        "total_amount": ["8000.00", "300.50", "120.00"],
        "fund_amount": ["6000.00", "150.00", "60.00"],
        "drug_amount": ["3000", "200", "120"],
        "exam_amount": ["2000", "50", ""],
        "material_amount": ["500", "", ""],
        "service_amount": ["1500", "50.5", ""],
        "days_supply": ["", "7", "30"],
    }
)


def write_tables(folder: Path, tables: dict[str, pd.DataFrame] | None = None, *, encoding: str = "utf-8") -> Path:
    """Write ``tables`` (default: institutions, inspections, violations, claims) as CSV files."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = tables if tables is not None else default_tables()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False, encoding=encoding)
    return folder


def default_tables() -> dict[str, pd.DataFrame]:
    return {
        "institutions": INSTITUTIONS.copy(),
        "inspections": INSPECTIONS.copy(),
        "violations": VIOLATIONS.copy(),
        "claims": CLAIMS.copy(),
    }
