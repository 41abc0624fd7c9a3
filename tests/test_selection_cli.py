"""``medcredit draw | target | plan | inspection``: the operator's path, its messages and exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import cli
from api.commands import selection as commands
from scoring import credit_store
from scoring import selection_store as ss
from tests import selection_data as city

city_templates, loaded_sqlite = city.city_templates, city.loaded_sqlite  # fixtures

FREEZE = [
    "draw",
    "freeze",
    "--region",
    city.CITY,
    "--region",
    city.COUNTY,
    "--item",
    "inpatient",
    "--as-of",
    city.AS_OF,
]
DICE = "31415 92653 58979 32384 62"


@pytest.fixture
def medcredit(loaded_sqlite, tmp_path):
    """Run ``medcredit ARGS`` against the loaded store; returns the click Result."""
    url = loaded_sqlite.url.render_as_string(hide_password=False)
    grades = tmp_path / "grades.csv"
    city.grades().to_csv(grades, index=False)

    def run(*args: str, grades_file: bool = False):
        extra = ["--grades", str(grades)] if grades_file else []
        return CliRunner(env={"MEDCREDIT_ACTOR": "测试员"}).invoke(cli, [*args, *extra, "--database-url", url])

    run.engine = loaded_sqlite
    return run


def frozen_draw_id(result) -> str:
    assert result.exit_code == 0, result.output
    return next(line.split()[2].rstrip(":") for line in result.stdout.splitlines() if line.startswith("抽查批次 draw"))


def test_freeze_seed_show_export_and_verify(medcredit, tmp_path):
    frozen = medcredit(*FREEZE, "--out", str(tmp_path / "pool"), grades_file=True)
    draw_id = frozen_draw_id(frozen)
    pool_hash = ss.get_draw(medcredit.engine, draw_id).pool_hash
    assert f"pool hash (SHA-256): {pool_hash}" in frozen.stdout
    assert f"medcredit draw seed {draw_id} --dice" in frozen.stdout
    assert (tmp_path / "pool" / f"pool-{draw_id}.json").exists()

    seeded = medcredit("draw", "seed", draw_id, "--dice", DICE, "--reference", "县医保局大厅")
    assert seeded.exit_code == 0, seeded.output
    assert "已抽取 drawn with the dice seed 3141592653589793238462" in seeded.stdout
    shown = medcredit("draw", "show", draw_id, "--exclusions")
    assert shown.exit_code == 0 and "已抽取 drawn" in shown.stdout and city.SUSPENDED in shown.stdout
    listed = medcredit("draw", "list")
    assert draw_id in listed.stdout and "drawn" in listed.stdout

    exported = medcredit("draw", "export", draw_id, "--out", str(tmp_path / "pub"))
    assert exported.exit_code == 0 and f"draw-{draw_id}.xlsx" in exported.stdout
    published = tmp_path / "pub" / f"draw-{draw_id}.json"
    verified = medcredit("draw", "verify", str(published), "--pool-hash", pool_hash)
    assert verified.exit_code == 0 and "验证通过 / VERIFIED" in verified.stdout
    assert "pool hash equals the one published before the seed" in verified.stdout
    stored = medcredit("draw", "verify", draw_id)
    assert stored.exit_code == 0 and "stored pool hash, seed, units and teams match" in stored.stdout


def test_verify_names_a_pool_other_than_the_announced_one_and_an_unreadable_file(medcredit, tmp_path):
    draw_id = frozen_draw_id(medcredit(*FREEZE, grades_file=True))
    medcredit("draw", "seed", draw_id, "--dice", DICE)
    medcredit("draw", "export", draw_id, "--out", str(tmp_path / "pub"))
    published = tmp_path / "pub" / f"draw-{draw_id}.json"
    wrong = medcredit("draw", "verify", str(published), "--pool-hash", "ab" * 32)
    assert wrong.exit_code == 1 and "the pool is not the one announced" in wrong.stdout
    document = json.loads(published.read_text(encoding="utf-8"))
    document["assignments"][0]["inspector_codes"].reverse()
    published.write_text(json.dumps(document), encoding="utf-8")
    tampered = medcredit("draw", "verify", str(published), "--json")
    assert tampered.exit_code == 1 and json.loads(tampered.stdout)["discrepancy"].startswith("assignments[0]")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    unreadable = medcredit("draw", "verify", str(broken))
    assert unreadable.exit_code == 2 and "cannot read" in unreadable.stderr


def test_freezing_without_a_credit_run_asks_for_one_and_then_uses_it(medcredit):
    refused = medcredit(*FREEZE)
    assert refused.exit_code == 2
    assert "medcredit credit evaluate" in refused.stderr and "错误 error" in refused.stderr
    credit_store.run_evaluation(medcredit.engine, city.AS_OF, "national-100", "测试员")
    draw_id = frozen_draw_id(medcredit(*FREEZE))
    strata = {unit["stratum"] for unit in ss.get_draw(medcredit.engine, draw_id).pool_document["units"]}
    assert strata == {"A"}  # the credit run graded every institution A: the pool follows the run, not the file


def test_a_second_seed_and_unknown_draws_exit_with_2(medcredit):
    draw_id = frozen_draw_id(medcredit(*FREEZE, grades_file=True))
    assert medcredit("draw", "seed", draw_id, "--dice", DICE).exit_code == 0
    again = medcredit("draw", "seed", draw_id, "--dice", "27182818284590452353")
    assert again.exit_code == 2 and "a draw takes exactly one seed" in again.stderr
    unknown = medcredit("draw", "show", "20250630-ffffffffffff")
    assert unknown.exit_code == 2 and "no draw '20250630-ffffffffffff' is stored" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dice", "12345"], "dice seed must have 20 to 200 digits; got 5"),
        (["--dice", "1234567890 1234567890", "--beacon", "abcdefabcdefabcdef00"], "exactly one of --dice and --beacon"),
        (["--beacon", "abcdefabcdefabcdef00"], "a beacon seed needs --reference"),
    ],
)
def test_bad_seeds_exit_with_2_and_leave_the_draw_frozen(medcredit, args, message):
    draw_id = frozen_draw_id(medcredit(*FREEZE, grades_file=True))
    result = medcredit("draw", "seed", draw_id, *args)
    assert result.exit_code == 2 and message in result.output
    assert ss.get_draw(medcredit.engine, draw_id).status == "frozen"


@pytest.mark.parametrize(
    ("ratios", "message"),
    [("A=0.02,B", "expected GRADE=RATIO pairs"), ("A=0,B=0.05,C=0.1,D=0.3", "zero would exempt the stratum")],
)
def test_bad_ratios_exit_with_2(medcredit, ratios, message):
    result = medcredit(*FREEZE, "--ratios", ratios, grades_file=True)
    assert result.exit_code == 2 and message in result.output


def test_an_impossible_team_suggests_the_options_that_help(medcredit):
    result = medcredit(*FREEZE, "--team-size", "8", grades_file=True)
    assert result.exit_code == 2
    assert "无法组成检查组" in result.stderr and "--higher-level-inspectors" in result.stderr


def test_target_lists_every_pick_with_reasons_and_merges_with_the_draw(medcredit):
    draw_id = frozen_draw_id(medcredit(*FREEZE, grades_file=True))
    medcredit("draw", "seed", draw_id, "--dice", DICE)
    result = medcredit("target", "--budget", "12", "--as-of", city.AS_OF, "--draw", draw_id, grades_file=True)
    assert result.exit_code == 0, result.output
    assert "属实投诉举报 1 件" in result.stdout and "1 substantiated complaint(s)" in result.stdout
    assert city.REFERRED in result.stdout
    assert "综合查一次 one visit per institution" in result.stdout
    assert "medcredit features leads --selection 1" in result.stdout
    stored = ss.get_targeted_selection(medcredit.engine, 1)
    assert len(stored.selected) == 12


def test_target_reads_model_scores_from_a_file(medcredit, tmp_path):
    scores = tmp_path / "scores.csv"
    codes = city.grades()["institution_code"]
    pd.DataFrame({"institution_code": codes, "probability": 0.1, "expected_amount": 1000.0}).assign(
        probability=lambda f: [0.9 if code == f"H{city.CITY}00020" else 0.1 for code in f["institution_code"]]
    ).to_csv(scores, index=False, encoding="utf-8-sig")
    result = medcredit("target", "--budget", "1", "--as-of", city.AS_OF, "--scores", str(scores), grades_file=True)
    assert result.exit_code == 0, result.output
    assert "模型风险概率 0.90" in result.stdout and f"H{city.CITY}00020" in result.stdout


def test_plan_prints_the_monthly_table_and_writes_the_visits(medcredit, tmp_path):
    out = tmp_path / "plan.xlsx"
    result = medcredit("plan", "--year", "2025", "--reserve-random", "3=5", "--routine-item", "GL01", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2025 年度检查计划 yearly plan #1" in result.stdout and "余量 spare" in result.stdout
    assert "尚无信用评价" in result.stdout  # planned without grades, and says so
    visits = pd.read_excel(out, sheet_name="明细 Visits")
    assert len(visits) == 50 and visits["月份 month"].between(1, 12).all()
    assert (visits["检查事项 items"] == "GL01").all()
    months = pd.read_excel(out, sheet_name="月度 Months")
    assert months.loc[months["月份 month"] == 3, "双随机 random"].item() == 5


def test_plan_beyond_capacity_exits_with_2_and_the_numbers(medcredit):
    result = medcredit("plan", "--year", "2025", "--team-size", "11")
    assert result.exit_code == 2
    assert "无法覆盖全部 50 家在册机构" in result.stderr and "short by" in result.stderr


def test_inspection_record_overdue_and_published(medcredit):
    code = f"H{city.CITY}00010"
    base = ["inspection", "record", "--institution", code, "--date", "2025-09-15", "--kind", "routine"]
    recorded = medcredit(
        *base,
        "--inspectors",
        "E002;E003",
        "--found",
        "--violation",
        "category=split_admission,amount=1200,disposition=recovery",
    )
    assert recorded.exit_code == 0, recorded.output
    assert f"INS-20250915-{code}" in recorded.stdout and "by 2025-10-17" in recorded.stdout
    overdue = medcredit("inspection", "overdue", "--today", "2025-11-03")
    assert (
        overdue.exit_code == 0 and f"INS-20250915-{code}" in overdue.stdout and "未公开 unpublished" in overdue.stdout
    )
    published = medcredit("inspection", "published", f"INS-20250915-{code}", "--date", "2025-10-16")
    assert published.exit_code == 0 and "按时 on time" in published.stdout
    after = medcredit("inspection", "overdue", "--today", "2025-11-03")
    assert f"INS-20250915-{code}" not in after.stdout


def test_inspection_record_problems_exit_with_2_and_write_nothing(medcredit):
    code = f"H{city.CITY}00010"
    base = ["inspection", "record", "--institution", code, "--date", "2025-09-15", "--kind", "routine"]
    bad_spec = medcredit(*base, "--inspectors", "E002;E003", "--found", "--violation", "split_admission")
    assert bad_spec.exit_code == 2 and "expected key=value pairs" in bad_spec.output
    rejected = medcredit(
        *base, "--inspectors", "E002;E003", "--found", "--violation", "category=nope,amount=5,disposition=recovery"
    )
    assert rejected.exit_code == 2
    assert "rejected, nothing written" in rejected.stderr and "[bad_code]" in rejected.stderr
    missing = medcredit(*base, "--found")
    assert missing.exit_code == 2 and "inspector_codes must list the inspectors" in missing.stderr


def test_the_demo_steps_draw_publish_verify_and_plan(loaded_sqlite, tmp_path):
    credit_store.run_evaluation(loaded_sqlite, city.AS_OF, "national-100", "demo")
    runner = CliRunner()
    with runner.isolation() as (out, _err, *_):
        draw = commands.demo_draw(loaded_sqlite, tmp_path / "draw")
        plan = commands.demo_plan(loaded_sqlite, tmp_path, draw_id=draw.draw_id)
    printed = out.getvalue().decode("utf-8")
    assert draw.status == "drawn" and "验证通过 / VERIFIED" in printed
    assert (tmp_path / "draw" / f"draw-{draw.draw_id}.json").exists()
    assert plan.year == 2025 and (tmp_path / "plan-2025.csv").exists()
    assert set(draw.selected["institution_code"]) <= set(plan.visits["institution_code"])
