"""Publication files (一公开): the pool before the seed, the draw list, the results; each verifiable by anyone."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from openpyxl import load_workbook

from scoring import outcomes, publication, verify_draw
from scoring import selection_store as ss
from scoring.draws import Seed
from tests import selection_data as city

city_templates, loaded_sqlite = city.city_templates, city.loaded_sqlite  # fixtures

DICE = Seed("dice", "3141592653 5897932384 626", "县医保局大厅公开掷骰")
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def frozen(loaded_sqlite):
    draw = ss.freeze_draw(
        loaded_sqlite,
        as_of=city.AS_OF,
        regions=[city.CITY, city.COUNTY],
        item="inpatient",
        grades=city.grades(),
        actor="张三",
    )
    return loaded_sqlite, draw.draw_id


@pytest.fixture
def drawn(frozen):
    engine, draw_id = frozen
    return engine, ss.enter_seed_and_draw(engine, draw_id, DICE, "张三")


def run_verifier(folder, name):
    return subprocess.run(
        [sys.executable, "verify_draw.py", name], cwd=folder, capture_output=True, text=True, check=False
    )


def test_the_pool_is_published_before_the_seed_with_its_hash_and_exclusions(frozen, tmp_path):
    engine, draw_id = frozen
    files = publication.export_pool(engine, draw_id, tmp_path / "pool")
    pool = json.loads(files.files["pool"].read_text(encoding="utf-8"))
    stored = ss.get_draw(engine, draw_id)
    assert verify_draw.compute_pool_hash(pool) == stored.pool_hash
    readme = files.files["readme"].read_text(encoding="utf-8")
    assert stored.pool_hash in readme and "随机种子 / Seed" not in readme
    sheets = load_workbook(files.files["xlsx"], read_only=True).sheetnames
    assert sheets == ["说明 About", "对象库 Pool", "未入库 Excluded"]
    excluded = pd.read_excel(files.files["xlsx"], sheet_name="未入库 Excluded")
    assert set(excluded["机构编码 Institution code"]) == {city.SUSPENDED, city.NOT_YET, city.AT_CAP, city.SAME_ITEM}
    assert files.files["csv"].read_bytes().startswith(BOM)
    hashed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, verify_draw; "
            f"print(verify_draw.compute_pool_hash(json.load(open('pool-{draw_id}.json', encoding='utf-8'))))",
        ],
        cwd=files.folder,
        capture_output=True,
        text=True,
        check=True,
    )
    assert hashed.stdout.strip() == stored.pool_hash


def test_the_draw_list_opens_in_excel_and_names_the_teams(drawn, tmp_path):
    engine, draw = drawn
    files = publication.export_draw(engine, draw.draw_id, tmp_path / "draw")
    raw = files.files["csv"].read_bytes()
    assert raw.startswith(BOM), "Chinese Excel needs the byte-order mark to read UTF-8"
    table = pd.read_csv(files.files["csv"], encoding="utf-8-sig", dtype=str)
    assert table["机构编码 Institution code"].tolist() == draw.selected["institution_code"].tolist()
    assert table["抽签号 Ticket (SHA-256)"].tolist() == draw.selected["ticket"].tolist()
    first_team = draw.assignments["inspector_codes"].iloc[0].split(";")
    assert table["检查人员 Inspectors"].iloc[0] == "；".join(f"{c} 执法员{c[0]}{int(c[1:])}" for c in first_team)
    assert table["机构名称 Name"].str.startswith("测试医院").all()
    workbook = pd.read_excel(files.files["xlsx"], sheet_name=None, dtype=str)
    assert list(workbook) == ["说明 About", "抽查名单 Draw list", "分层 Strata"]
    cover = dict(workbook["说明 About"].itertuples(index=False))
    assert cover["随机种子 / Seed"] == "31415926535897932384626"
    assert cover["对象库哈希 / Pool hash (SHA-256)"] == draw.pool_hash
    assert cover["种子出处 / Seed reference"] == "县医保局大厅公开掷骰"
    assert "北京时间" in cover["抽取时间 / Drawn at"]
    readme = files.files["readme"].read_text(encoding="utf-8")
    assert f"python verify_draw.py draw-{draw.draw_id}.json" in readme and "How to verify" in readme


def test_the_published_folder_verifies_with_the_copied_verifier(drawn, tmp_path):
    engine, draw = drawn
    files = publication.export_draw(engine, draw.draw_id, tmp_path / "draw")
    assert files.files["verifier"].read_bytes() == publication.VERIFIER.read_bytes()
    result = run_verifier(files.folder, files.files["json"].name)
    assert result.returncode == 0 and "验证通过 / VERIFIED" in result.stdout
    document = json.loads(files.files["json"].read_text(encoding="utf-8"))
    document["selected"][0], document["selected"][1] = document["selected"][1], document["selected"][0]
    files.files["json"].write_text(json.dumps(document), encoding="utf-8")
    result = run_verifier(files.folder, files.files["json"].name)
    assert result.returncode == 1 and "NOT VERIFIED" in result.stdout


def test_a_frozen_draw_has_no_list_or_results_to_publish(frozen, tmp_path):
    engine, draw_id = frozen
    for export in (publication.export_draw, publication.export_results):
        with pytest.raises(ss.DrawStateError, match="only its pool can be published"):
            export(engine, draw_id, tmp_path / "out")


def test_results_list_every_drawn_institution_with_its_outcome(drawn, tmp_path):
    engine, draw = drawn
    codes = draw.selected["institution_code"].tolist()
    common = {"level": "city", "draw_id": draw.draw_id, "start_date": "2025-07-15", "actor": "李四"}
    violation = {"category": "split_admission", "amount": "1200", "disposition": "recovery"}
    found = outcomes.record_outcome(
        engine, institution_code=codes[0], found_violation=True, violations=[violation], **common
    )
    outcomes.record_outcome(engine, institution_code=codes[1], found_violation=False, **common)
    outcomes.mark_published(engine, found.inspection_id, "2025-08-01", actor="李四")
    files = publication.export_results(engine, draw.draw_id, tmp_path / "results")
    table = pd.read_csv(files.files["csv"], encoding="utf-8-sig", dtype=str).set_index("机构编码 Institution code")
    assert table.loc[codes[0], "是否发现问题 Violation found"] == "是 yes"
    assert table.loc[codes[0], "违规类型 Violation types"] == "分解住院 split_admission"
    assert table.loc[codes[0], "处理方式 Dispositions"] == "追回 recovery"
    assert table.loc[codes[0], "结果公开日期 Published on"] == "2025-08-01"
    assert table.loc[codes[1], "是否发现问题 Violation found"] == "否 no"
    assert (table.loc[codes[2:], "是否发现问题 Violation found"] == "未录入 not recorded").all()
    cover = dict(pd.read_excel(files.files["xlsx"], sheet_name="说明 About", dtype=str).itertuples(index=False))
    assert cover["已检查 / inspected"] == f"2 / {len(codes)}"
    assert cover["问题金额合计（元） / amount found (yuan)"] == "1,200.00"
    assert run_verifier(files.folder, files.files["json"].name).returncode == 0
