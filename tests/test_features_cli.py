"""The store path, the `medcredit features` commands, and the catalogue in docs/features.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from api.cli import cli
from features import import_paths
from features.build import build_features, catalogue_as_markdown, claim_leads
from tests.factories import write_tables

DOCS = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def test_features_from_the_store_with_claims_in_parquet(sqlite_store, tmp_path):
    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    result = build_features("2024-06-01", engine=sqlite_store)
    frame = result.frame
    assert list(frame.index) == ["H44150200001", "H44150200002", "P44150200003", "P44152100004"]
    assert frame.loc["H44150200001", "clm_claims_12m"] == 2 and frame.loc["H44150200001", "clm_fund_12m"] == 6150.0
    assert frame.loc["P44152100004", "viol_n_12m"] == 1
    missing = {m.family: m for m in result.missing_families}
    assert "self_inspection" in missing and "no rows imported" in missing["self_inspection"].reason
    assert "claim_items" in missing and "claims" not in missing
    leads = claim_leads("2024-06-01", engine=sqlite_store)
    assert leads[["claim_id", "rule"]].values.tolist() == [["C3", "long_supply"]]  # 30 days at a pharmacy
    assert leads.loc[0, "known_from"] == pd.Timestamp("2024-03-01")


def test_build_command_writes_the_features(sqlite_store, tmp_path, monkeypatch):
    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(cli, ["features", "build", "--as-of", "2024-06-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 家机构 institutions" in result.output and "未计算 missing — complaints" in result.output
    written = pd.read_parquet(out)
    assert len(written) == 4 and "clm_split_admission_rate_12m_pz" in written.columns


def test_build_command_rejects_bad_options(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    runner = CliRunner()
    bad_out = runner.invoke(cli, ["features", "build", "--as-of", "2024-06-01", "--out", str(tmp_path / "f.xlsx")])
    assert bad_out.exit_code == 2 and "--out" in bad_out.output
    bad_days = runner.invoke(cli, ["features", "build", "--as-of", "2024-06-01", "--readmit-days", "0"])
    assert bad_days.exit_code == 2 and "readmit_days must be an integer from 1 to 90; got 0" in bad_days.output
    bad_date = runner.invoke(cli, ["features", "build", "--as-of", "someday"])
    assert bad_date.exit_code == 2 and "as_of must be a date" in bad_date.output


def test_leads_command_lists_the_flagged_claims(sqlite_store, tmp_path, monkeypatch):
    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    runner = CliRunner()
    shown = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01"])
    assert shown.exit_code == 0, shown.output
    assert "线索 leads: 1 条 claims, 1 家机构 institutions" in shown.output
    assert "单次超量开药 prescriptions over the days' supply limit (long_supply): 1" in shown.output
    assert "C3" in shown.output and "2024-02" in shown.output and "2024-03-01" in shown.output
    out = tmp_path / "leads.csv"
    written = runner.invoke(
        cli, ["features", "leads", "--as-of", "2024-06-01", "--institution", "P44150200003", "--out", str(out)]
    )
    assert written.exit_code == 0, written.output
    leads = pd.read_csv(out, encoding="utf-8-sig")
    assert leads[["claim_id", "institution_code", "rule", "rule_zh", "event_month", "known_from"]].values.tolist() == [
        ["C3", "P44150200003", "long_supply", "单次超量开药", "2024-02", "2024-03-01"]
    ]
    other = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01", "--rule", "split_admission"])
    assert other.exit_code == 0 and "线索 leads: 0 条 claims" in other.output


def _stored_selection(engine, as_of: str, codes: list[str]) -> int:
    import sqlalchemy as sa

    from scoring.selection_store import targeted_picks, targeted_selections

    with engine.begin() as connection:
        selection_id = connection.execute(
            targeted_selections.insert().values(
                as_of=pd.Timestamp(as_of).date(),
                budget=len(codes),
                rules_json="{}",
                triggered=0,
                selected_count=len(codes),
                created_at=pd.Timestamp("2024-06-02").to_pydatetime(),
                created_by="test",
            )
        ).inserted_primary_key[0]
        connection.execute(
            sa.insert(targeted_picks),
            [{"selection_id": selection_id, "institution_code": code, "position": i, "trigger": False,
              "reason_codes": "", "reasons_json": "[]"} for i, code in enumerate(codes, start=1)],
        )  # fmt: skip
    return int(selection_id)


def test_leads_command_for_a_stored_targeted_selection(sqlite_store, tmp_path, monkeypatch):
    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    with_pharmacy = _stored_selection(sqlite_store, "2024-06-01", ["P44150200003", "H44150200002"])
    without = _stored_selection(sqlite_store, "2024-06-01", ["H44150200002"])
    runner = CliRunner()
    shown = runner.invoke(cli, ["features", "leads", "--selection", str(with_pharmacy)])
    assert shown.exit_code == 0, shown.output
    assert f"targeted selection #{with_pharmacy}: 2 家 institutions, 2024-06-01" in shown.output
    assert "线索 leads: 1 条 claims" in shown.output and "C3" in shown.output
    none = runner.invoke(cli, ["features", "leads", "--selection", str(without)])
    assert none.exit_code == 0 and "线索 leads: 0 条 claims" in none.output
    missing = runner.invoke(cli, ["features", "leads", "--selection", "999"])
    assert missing.exit_code == 2 and "no targeted selection 999" in missing.output
    both = runner.invoke(cli, ["features", "leads", "--selection", str(without), "--as-of", "2024-06-01"])
    assert both.exit_code == 2 and "give --as-of or --selection" in both.output


def test_leads_command_names_what_is_wrong(sqlite_store, tmp_path, monkeypatch):
    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    runner = CliRunner()
    unknown = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01", "--institution", "H00000000000"])
    assert unknown.exit_code == 2 and "not in the institutions table: H00000000000" in unknown.output
    bad_rule = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01", "--rule", "nonsense"])
    assert bad_rule.exit_code == 2 and "'nonsense' is not one of" in bad_rule.output
    bad_date = runner.invoke(cli, ["features", "leads", "--as-of", "someday"])
    assert bad_date.exit_code == 2 and "as_of must be a date" in bad_date.output
    bad_out = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01", "--out", str(tmp_path / "x.json")])
    assert bad_out.exit_code == 2 and "--out" in bad_out.output


def test_a_store_whose_claim_files_are_elsewhere_is_named_not_half_read(sqlite_store, tmp_path, monkeypatch):
    folder = write_tables(tmp_path / "in")
    import_paths([folder], engine=sqlite_store)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", sqlite_store.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(tmp_path / "elsewhere"))  # the store's claims/ is not here
    runner = CliRunner()
    built = runner.invoke(cli, ["features", "build", "--as-of", "2024-06-01"])
    assert built.exit_code == 2
    assert "2 of the 2 files the store lists are not under" in built.output and "MEDCREDIT_DATA_DIR" in built.output
    leads = runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01"])
    assert leads.exit_code == 2 and "files missing" in leads.output
    again = runner.invoke(cli, ["import", str(folder / "claims.csv")])
    assert again.exit_code == 2 and "import refused, nothing written" in again.output
    assert not (tmp_path / "elsewhere" / "claims").exists()
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(tmp_path / "data"))
    assert runner.invoke(cli, ["features", "leads", "--as-of", "2024-06-01"]).exit_code == 0


def test_catalogue_command_and_docs_agree_with_the_code():
    result = CliRunner().invoke(cli, ["features", "catalogue"])
    assert result.exit_code == 0
    assert result.output == catalogue_as_markdown()
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
    documented = text[text.index(start) + len(start) : text.index(end)]
    assert documented == catalogue_as_markdown(), "docs/features.md is stale: regenerate its catalogue section"


def test_claims_from_a_duckdb_connection_or_relation(sqlite_store, tmp_path):
    import duckdb

    from features.claims_store import partition_paths, relation_sql

    import_paths([write_tables(tmp_path / "in")], engine=sqlite_store)
    expected = build_features("2024-06-01", engine=sqlite_store).frame
    con = duckdb.connect()
    for table in ("claims", "claim_items"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {relation_sql(partition_paths(sqlite_store, table), table)}")
    try:
        via_connection = build_features("2024-06-01", engine=sqlite_store, claims=con).frame
        via_relation = build_features("2024-06-01", engine=sqlite_store, claims=con.sql("SELECT * FROM claims")).frame
        assert "deaths" not in {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    finally:
        con.close()
    pd.testing.assert_frame_equal(via_connection, expected)
    pd.testing.assert_frame_equal(via_relation, expected)
