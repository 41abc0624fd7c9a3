"""Importing bureau files: formats, spellings, bad input of every class, atomicity and idempotency."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features import ImportRejected, import_paths, load_table, table_counts
from features.claims_store import connect, orphan_files
from features.contract import TABLES
from tests.factories import default_tables, write_tables


def snapshot(engine) -> dict[str, pd.DataFrame]:
    """Everything stored, to compare before and after a rejected import."""
    tables = {name: load_table(engine, name) for name, t in TABLES.items() if not t.large}
    con = connect(engine)
    tables["claims"] = con.execute("SELECT * FROM claims ORDER BY claim_id").df()
    con.close()
    with engine.connect() as connection:
        tables["imports"] = pd.DataFrame(connection.execute(sa.text("SELECT * FROM import_files")).mappings().all())
    return tables


def assert_unchanged(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], check_dtype=False, obj=name)


@pytest.fixture
def loaded(store, tmp_path):
    """A store holding the factory's valid tables."""
    import_paths([write_tables(tmp_path / "base")], engine=store)
    return store


def reasons(error: ImportRejected) -> set[str]:
    return {p.reason for p in error.value.problems}


def test_valid_files_import_into_every_table(store, tmp_path):
    report = import_paths([write_tables(tmp_path / "in")], engine=store)
    assert report.rows_by_table() == {"institutions": 4, "inspections": 3, "violations": 2, "claims": 3}
    counts = table_counts(store)
    assert counts["institutions"] == 4 and counts["claims"] == 3
    inspections = load_table(store, "inspections")
    assert inspections.loc[0, "inspector_codes"] == "E1;E2"
    assert inspections.loc[0, "amount_found"] == pytest.approx(12345.60)
    assert inspections["start_date"].dtype == "datetime64[ns]"


def test_reimporting_the_same_rows_changes_nothing(loaded, tmp_path):
    before = table_counts(loaded)
    report = import_paths([write_tables(tmp_path / "again")], engine=loaded)
    assert report.rows_written == 0 and report.rows_unchanged == 12
    assert table_counts(loaded) == before


def test_same_key_with_different_content_is_a_conflict(loaded, tmp_path):
    before = snapshot(loaded)
    tables = default_tables()
    tables["violations"].loc[0, "amount"] = "99999.00"
    tables["claims"].loc[1, "total_amount"] = "301.00"
    with pytest.raises(ImportRejected) as error:
        import_paths([write_tables(tmp_path / "changed", tables)], engine=loaded)
    conflicts = [p for p in error.value.problems if p.reason == "conflict"]
    assert {(p.table, p.value) for p in conflicts} == {("violations", "V1"), ("claims", "C2")}
    assert_unchanged(before, snapshot(loaded))


def test_chinese_headers_labels_and_spellings_are_accepted(store, tmp_path):
    folder = tmp_path / "zh"
    folder.mkdir()
    (folder / "定点医药机构.csv").write_text(
        " 机构编码 ,机构名称,机构类型,医院等级,所有制,行政区划代码,定点日期,协议状态,床位数\n"
        "H44150200009,测试医院,医院,二级,公立,441502,2015/03/09,正常,120.0\n"
        "P44150200010,测试药房,零售药店,未定级,民营,441502,20200101,中止,\n",
        encoding="gb18030",
    )
    (folder / "inspections_2024.csv").write_text(
        "INSPECTION_ID,机构编码,检查日期,检查方式,检查层级,执法人员,是否发现问题,问题金额\n"
        'X1,H44150200009,2024/5/6,双随机抽查,市级,E1；E2,是,"12,345.60"\n',
        encoding="utf-8-sig",
    )
    import_paths([folder], engine=store)
    institutions = load_table(store, "institutions").set_index("institution_code")
    assert institutions.loc["H44150200009", "level"] == 2
    assert institutions.loc["H44150200009", "beds"] == 120
    assert institutions.loc["P44150200010", "status"] == "suspended"
    assert institutions.loc["P44150200010", "designated_since"] == pd.Timestamp("2020-01-01")
    inspection = load_table(store, "inspections").iloc[0]
    assert inspection["kind"] == "random" and inspection["inspector_codes"] == "E1;E2"
    assert bool(inspection["found_violation"]) and inspection["amount_found"] == pytest.approx(12345.6)


def test_xlsx_sheet_named_after_table_and_excel_dates(store, tmp_path):
    path = tmp_path / "institutions.xlsx"
    frame = default_tables()["institutions"]
    frame["designated_since"] = [datetime(2010, 1, 5), date(2012, 6, 1), "2019-03-01", "20200715"]
    frame["beds"] = [800.0, 40.0, 0.0, None]
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="说明", index=False)
        frame.to_excel(writer, sheet_name="institutions", index=False)
    import_paths([path], engine=store)
    stored = load_table(store, "institutions")
    assert list(stored["designated_since"].dt.year) == [2010, 2012, 2019, 2020]


def test_parquet_claims_land_in_monthly_partitions(store, tmp_path):
    import_paths([write_tables(tmp_path / "base", {"institutions": default_tables()["institutions"]})], engine=store)
    claims = default_tables()["claims"]
    typed = claims.assign(
        admit_date=pd.to_datetime(claims["admit_date"]),
        settle_date=pd.to_datetime(claims["settle_date"]),
        discharge_date=pd.to_datetime(claims["discharge_date"].replace("", None)),
        total_amount=claims["total_amount"].astype(float),
        fund_amount=claims["fund_amount"].astype(float),
    )[
        [
            "claim_id",
            "institution_code",
            "patient_id",
            "visit_type",
            "admit_date",
            "discharge_date",
            "settle_date",
            "total_amount",
            "fund_amount",
        ]
    ]
    path = tmp_path / "claims_202401.parquet"
    typed.to_parquet(path)
    import_paths([path], engine=store)
    con = connect(store)
    months = con.execute(
        "SELECT strftime(settle_date, '%Y-%m') m, count(*) FROM claims GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert months == [("2024-01", 1), ("2024-02", 2)]


@pytest.mark.parametrize(
    ("table", "column", "value", "reason"),
    [
        ("institutions", "kind", "supermarket", "bad_code"),
        ("institutions", "designated_since", "2024-13-45", "bad_date"),
        ("institutions", "designated_since", "next week", "bad_date"),
        ("institutions", "institution_code", "X123", "bad_format"),
        ("institutions", "level", "2.5", "bad_integer"),
        ("violations", "amount", "-5.00", "negative"),
        ("violations", "amount", "12.345", "too_many_decimals"),
        ("violations", "amount", "lots", "bad_number"),
        ("violations", "fraud", "maybe", "bad_bool"),
        ("violations", "decision_date", "2024-01-01", "decision_before_found"),
        ("violations", "institution_code", "H44150299999", "unknown_institution"),
        ("violations", "inspection_id", "I404", "unknown_inspection"),
        ("violations", "inspection_id", "I2", "unknown_inspection"),  # another institution's inspection
        ("inspections", "inspector_codes", "E1", "too_few_items"),
        ("inspections", "start_date", "", "required"),
        ("claims", "discharge_date", "2024-01-01", "discharge_before_admit"),
        ("claims", "fund_amount", "9000.00", "fund_exceeds_total"),
        ("claims", "total_amount", "5000.00", "parts_exceed_total"),
    ],
)
def test_bad_value_rejects_the_whole_import_and_names_the_problem(store, tmp_path, table, column, value, reason):
    tables = default_tables()
    tables[table].loc[0, column] = value
    with pytest.raises(ImportRejected) as error:
        import_paths([write_tables(tmp_path / "bad", tables)], engine=store)
    problem = next(p for p in error.value.problems if p.reason == reason)
    assert (problem.table, problem.column, problem.row, problem.file) == (table, column, 2, f"{table}.csv")
    assert table_counts(store) == dict.fromkeys(TABLES, 0)


def test_all_missing_required_columns_are_reported_together(store, tmp_path):
    tables = default_tables()
    tables["violations"] = tables["violations"].drop(columns=["category", "status", "amount"])
    with pytest.raises(ImportRejected) as error:
        import_paths([write_tables(tmp_path / "cols", tables)], engine=store)
    missing = {p.column for p in error.value.problems if p.reason == "missing_column"}
    assert missing == {"category", "status", "amount"}


def test_wrong_encoding_is_rejected(store, tmp_path):
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "institutions.csv").write_bytes("机构编码,机构名称\n".encode("utf-16"))
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=store)
    assert reasons(error) == {"encoding"}


def test_empty_file_and_header_only_file_are_rejected(store, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "institutions.csv").write_text("")
    (folder / "violations.csv").write_text(",".join(TABLES["violations"].column_names) + "\n")
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=store)
    assert {(p.file, p.reason) for p in error.value.problems} == {
        ("institutions.csv", "empty_file"),
        ("violations.csv", "empty_file"),
    }


def test_file_that_is_not_a_table_is_rejected(store, tmp_path):
    folder = write_tables(tmp_path / "mixed")
    (folder / "notes.txt").write_text("hello")
    (folder / "budget.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=store)
    assert {(p.file, p.reason) for p in error.value.problems} == {
        ("notes.txt", "not_a_table"),
        ("budget.csv", "not_a_table"),
    }
    assert table_counts(store)["institutions"] == 0


def test_duplicate_keys_within_a_file_and_across_files(store, tmp_path):
    tables = default_tables()
    tables["violations"].loc[1, "violation_id"] = "V1"
    folder = write_tables(tmp_path / "dup", tables)
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=store)
    assert [(p.row, p.reason) for p in error.value.problems] == [(3, "duplicate_key")]
    second = tmp_path / "dup2"
    write_tables(second, {"violations": default_tables()["violations"].iloc[:1]})
    (second / "violations.csv").rename(second / "violations_2.csv")
    tables = default_tables()
    with pytest.raises(ImportRejected) as error:
        import_paths([write_tables(tmp_path / "dup3", tables), second], engine=store)
    assert reasons(error) == {"duplicate_key"}


def test_skip_bad_rows_writes_the_rest_and_lists_each_skipped_row(store, tmp_path):
    tables = default_tables()
    tables["institutions"].loc[3, "kind"] = "supermarket"  # P44152100004 is skipped ...
    tables["claims"].loc[2, "fund_amount"] = "500"  # ... and so is this claim
    report = import_paths([write_tables(tmp_path / "skip", tables)], engine=store, skip_bad_rows=True)
    skipped = {(p.table, p.row, p.reason) for p in report.skipped}
    # the violation and inspection of the skipped institution cascade into unknown_institution
    assert skipped == {
        ("institutions", 5, "bad_code"),
        ("claims", 4, "fund_exceeds_total"),
        ("inspections", 4, "unknown_institution"),
        ("violations", 3, "unknown_institution"),
    }
    assert table_counts(store)["institutions"] == 3 and table_counts(store)["claims"] == 2


def test_a_crash_mid_import_leaves_the_store_as_before(loaded, tmp_path, monkeypatch):
    """Killed after rows and claim files are written but before commit: nothing is visible after."""
    from features import claims_store

    before = snapshot(loaded)
    tables = default_tables()
    tables["claims"] = tables["claims"].assign(claim_id=["C7", "C8", "C9"])
    tables["violations"] = tables["violations"].assign(violation_id=["V8", "V9"])
    real_record = claims_store.record_partitions

    def record_then_crash(connection, import_id, written):
        real_record(connection, import_id, written)
        assert all(part.absolute_path.exists() for part in written)
        raise KeyboardInterrupt("killed mid-import")

    monkeypatch.setattr(claims_store, "record_partitions", record_then_crash)
    with pytest.raises(KeyboardInterrupt):
        import_paths([write_tables(tmp_path / "crash", tables)], engine=loaded)
    assert_unchanged(before, snapshot(loaded))
    assert orphan_files(loaded) == []


def test_every_import_is_recorded_with_file_hash(loaded):
    with loaded.connect() as connection:
        rows = connection.execute(sa.text("SELECT file_name, sha256, table_name, rows_written FROM import_files")).all()
    assert {(r.file_name, r.table_name, r.rows_written) for r in rows} == {
        ("institutions.csv", "institutions", 4),
        ("inspections.csv", "inspections", 3),
        ("violations.csv", "violations", 2),
        ("claims.csv", "claims", 3),
    }
    assert all(len(r.sha256) == 64 for r in rows)


def test_table_option_overrides_the_file_name(store, tmp_path):
    path = tmp_path / "export-from-system.csv"
    default_tables()["institutions"].to_csv(path, index=False)
    import_paths([path], engine=store, table="institutions")
    assert table_counts(store)["institutions"] == 4


def test_unknown_table_option_names_the_allowed_values(store, tmp_path):
    with pytest.raises(ValueError, match="table must be one of"):
        import_paths([write_tables(tmp_path / "x")], engine=store, table="patients")


def test_rows_are_numbered_as_a_person_sees_them(store, tmp_path):
    tables = default_tables()
    tables["inspections"].loc[2, "kind"] = "surprise"
    with pytest.raises(ImportRejected) as error:
        import_paths([write_tables(tmp_path / "rows", tables)], engine=store)
    problem = error.value.problems[0]
    assert (problem.row, problem.value, problem.reason) == (4, "surprise", "bad_code")
    assert "第4行" in problem.describe("zh") and "row 4" in problem.describe("en")


def test_claim_items_must_reference_stored_claims(loaded, tmp_path):
    items = pd.DataFrame(
        {
            "claim_id": ["C1", "C404"],
            "line_no": ["1", "1"],
            "item_code": ["X", "Y"],
            "item_type": ["drug", "drug"],
            "item_date": ["2024-01-03", "2024-01-03"],
            "quantity": ["1", "2"],
            "unit_price": ["3", "4"],
            "amount": ["3", "8"],
        }
    )
    folder = tmp_path / "items"
    folder.mkdir()
    items.to_csv(folder / "claim_items.csv", index=False)
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=loaded)
    assert [(p.row, p.reason) for p in error.value.problems] == [(3, "unknown_claim")]


def test_missing_folder_contents_is_reported(store, tmp_path: Path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ImportRejected):
        import_paths([tmp_path / "nothing"], engine=store)


def test_claims_repeated_across_monthly_files_are_duplicates(loaded, tmp_path):
    folder = tmp_path / "months"
    folder.mkdir()
    claims = default_tables()["claims"].assign(claim_id=["C21", "C22", "C23"])
    claims.iloc[:2].to_csv(folder / "claims_202401.csv", index=False)
    claims.iloc[1:].to_csv(folder / "claims_202402.csv", index=False)
    before = snapshot(loaded)
    with pytest.raises(ImportRejected) as error:
        import_paths([folder], engine=loaded)
    assert [(p.file, p.row, p.value, p.reason) for p in error.value.problems] == [
        ("claims_202402.csv", 2, "C22", "duplicate_key")
    ]
    assert_unchanged(before, snapshot(loaded))
    assert orphan_files(loaded) == []


def test_claim_items_may_reference_claims_of_the_same_import(loaded, tmp_path):
    folder = tmp_path / "with-items"
    folder.mkdir()
    default_tables()["claims"].assign(claim_id=["C31", "C32", "C33"]).to_csv(folder / "claims.csv", index=False)
    pd.DataFrame(
        {
            "claim_id": ["C31", "C31"],
            "line_no": ["1", "2"],
            "item_code": ["X", "X"],
            "item_type": ["药品", "drug"],
            "item_date": ["2024-01-03", "2024-01-03"],
            "quantity": ["1", "1"],
            "unit_price": ["3", "3"],
            "amount": ["3", "3"],
        }
    ).to_csv(folder / "claim_items.csv", index=False)
    report = import_paths([folder], engine=loaded)
    assert report.rows_by_table() == {"claims": 3, "claim_items": 2}
    assert table_counts(loaded)["claim_items"] == 2
