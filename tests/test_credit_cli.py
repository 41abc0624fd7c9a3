"""The ``medcredit credit`` commands: evaluate, explain, objections, repairs and their error messages."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import cli
from features import import_paths
from tests.factories import INSPECTIONS, INSTITUTIONS, write_tables


@pytest.fixture
def database(sqlite_store, tmp_path, monkeypatch) -> str:
    violations = pd.DataFrame(
        [
            {
                "violation_id": "V1",
                "institution_code": "H44150200001",
                "found_date": "2025-01-10",
                "decision_date": "2025-01-10",
                "source": "routine_inspection",
                "category": "other",
                "amount": "1000",
                "disposition": "recovery",
                "status": "confirmed",
            }
        ]
    )
    tables = {"institutions": INSTITUTIONS.copy(), "inspections": INSPECTIONS.copy(), "violations": violations}
    import_paths([write_tables(tmp_path / "in", tables)], engine=sqlite_store)
    url = sqlite_store.url.render_as_string(hide_password=False)
    monkeypatch.setenv("MEDCREDIT_DATABASE_URL", url)
    monkeypatch.setenv("MEDCREDIT_ACTOR", "信用科")
    return url


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_evaluate_prints_the_distribution_and_stores_the_run(database):
    result = invoke("credit", "evaluate", "--as-of", "2025-06-30", "--policy", "national-100")
    assert result.exit_code == 0, result.output
    assert "评价批次 run #1: national-100" in result.output
    assert "  A                        4      100.0%" in result.output
    runs = invoke("credit", "runs")
    assert "national-100" in runs.output and "信用科" in runs.output


def test_explain_prints_the_lines_in_chinese_or_english(database):
    invoke("credit", "evaluate", "--as-of", "2025-06-30")
    zh = invoke("credit", "explain", "H44150200001")
    assert zh.exit_code == 0 and "v_recovery:V1 · -3.00 · 追回：违规记录 V1（2025-01-10）扣 3.00 分" in zh.output
    en = invoke("credit", "explain", "H44150200001", "--lang", "en")
    assert "recovery: violation V1 (2025-01-10) −3.00 points" in en.output


def test_objection_and_repair_commands_record_decisions(database):
    invoke("credit", "evaluate", "--as-of", "2025-06-30")
    filed = invoke("credit", "object", "v_recovery:V1", "--reason", "金额有误", "--attachment", "a.pdf")
    assert filed.exit_code == 0 and "objection #1" in filed.output
    decided = invoke("credit", "decide", "1", "--uphold", "--note", "属实")
    assert decided.exit_code == 0 and "re-graded in run #2" in decided.output
    changes = invoke("credit", "changes", "1", "2")
    assert "H44150200001  A → A" not in changes.output  # 97 → 100 stays A: no grade change
    matrix = invoke("credit", "matrix", "1", "2")
    assert matrix.exit_code == 0 and "run 1" in matrix.output


def test_refused_requests_exit_with_the_reason(database):
    invoke("credit", "evaluate", "--as-of", "2025-06-30")
    result = CliRunner().invoke(cli, ["credit", "repair", "v_recovery:V404", "--reason", "r"])
    assert result.exit_code == 1
    assert "line_id 'v_recovery:V404' is not in any stored credit run" in result.output
    twice = CliRunner().invoke(cli, ["credit", "decide", "7", "--reject"])
    assert twice.exit_code == 1 and "objection_id 7" in twice.output


def test_policy_command_checks_a_file(tmp_path):
    good = invoke("credit", "policy", "guangdong-1000")
    assert good.exit_code == 0 and "scale 1000, base 850" in good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ntitle: {zh: 甲, en: a}\nscale: 100\nbase: 100\ngrades: [{grade: A}]\nindicators: []\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["credit", "policy", str(bad)])
    assert (
        result.exit_code == 1 and "grades: got [{'grade': 'A'}]; expected a list of at least 2 grades" in result.output
    )
