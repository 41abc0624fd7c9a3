"""Publication (一公开): what the bureau publishes about a random draw, in files anyone can open and check.

Three moments, three exports, each a folder:

* ``export_pool`` — after freezing, before the seed: the pool document, its SHA-256 and the list of
  institutions in the pool and of those left out (with reasons). Publishing this first is what
  proves the pool was fixed before anyone knew the seed.
* ``export_draw`` — after the seed: the draw list (institution, county, stratum, ticket, inspection
  team) as CSV and XLSX, a cover with seed, pool hash, draw time and how to verify, the draw
  document (``draw-<id>.json``) and a copy of ``verify_draw.py``.
* ``export_results`` — after the inspections: each drawn institution's result (found or not,
  amount, violation types, dispositions, publication date), with the same cover and verifier.

CSV files are UTF-8 with a byte-order mark so that Excel on a Chinese Windows opens them correctly;
every table has Chinese headers with the English name alongside. Times are shown in Beijing time.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from features import load_table
from features.contract import CODE_LISTS
from scoring import verify_draw
from scoring.outcomes import draw_results
from scoring.selection_store import DrawStateError, StoredDraw, get_draw

__all__ = ["PublishedFiles", "export_draw", "export_pool", "export_results"]

logger = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8), "CST")
VERIFIER = Path(verify_draw.__file__)


@dataclass(frozen=True)
class PublishedFiles:
    """The folder written and its files by role (``csv``, ``xlsx``, ``json``, ``pool``, ``verifier``, ``readme``)."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)


# --------------------------------------------------------------------------- the three exports


def export_pool(engine: Engine, draw_id: str, out_dir: str | Path) -> PublishedFiles:
    """The pre-seed announcement: pool document and hash, pool list, exclusions and the verifier (any state)."""
    draw = get_draw(engine, draw_id)
    folder = _folder(out_dir)
    names = _institution_names(engine)
    units = draw.units.merge(names, on="institution_code", how="left")
    pool_list = pd.DataFrame(
        {
            "序号 No.": range(1, len(units) + 1),
            "机构编码 Institution code": units["institution_code"],
            "机构名称 Name": units["name"],
            "区县 County": units["region_code"],
            "分层（信用等级） Stratum": units["stratum"],
        }
    )
    exclusions = _exclusions_table(draw, names)
    cover = _cover_rows(draw, stage="pool")
    files = {
        "pool": _write_json(folder / f"pool-{draw_id}.json", draw.pool_document),
        "verifier": _copy_verifier(folder),
        "csv": _write_csv(folder / f"pool-{draw_id}.csv", pool_list),
        "xlsx": _write_xlsx(
            folder / f"pool-{draw_id}.xlsx",
            {"说明 About": cover, "对象库 Pool": pool_list, "未入库 Excluded": exclusions},
        ),
        "readme": _write_readme(folder / "README.txt", cover, _pool_instructions(draw)),
    }
    logger.info("pool of draw %s exported to %s", draw_id, folder)
    return PublishedFiles(folder, files)


def export_draw(engine: Engine, draw_id: str, out_dir: str | Path) -> PublishedFiles:
    """The draw list with teams, the cover (seed, pool hash, time, how to verify), the draw document and verifier."""
    draw = _drawn(engine, draw_id)
    folder = _folder(out_dir)
    names = _institution_names(engine)
    inspectors = _inspector_names(engine)
    selected = draw.selected.merge(names, on="institution_code", how="left")
    teams = draw.assignments.set_index("institution_code")
    lead = selected["institution_code"].map(teams["lead_inspector_code"]) if not teams.empty else None
    members = selected["institution_code"].map(teams["inspector_codes"]) if not teams.empty else None
    draw_list = pd.DataFrame(
        {
            "序号 No.": selected["draw_rank"].astype("int64"),
            "机构编码 Institution code": selected["institution_code"],
            "机构名称 Name": selected["name"],
            "区县 County": selected["region_code"],
            "分层（信用等级） Stratum": selected["stratum"],
            "入选概率 Inclusion probability": selected["inclusion_probability"].round(6),
            "检查组长 Lead inspector": _people(lead, inspectors),
            "检查人员 Inspectors": _people(members, inspectors),
            "抽签号 Ticket (SHA-256)": selected["ticket"],
        }
    )
    cover = _cover_rows(draw, stage="draw")
    files = _draw_files(folder, draw)
    files["csv"] = _write_csv(folder / f"draw-{draw_id}.csv", draw_list)
    files["xlsx"] = _write_xlsx(
        folder / f"draw-{draw_id}.xlsx",
        {"说明 About": cover, "抽查名单 Draw list": draw_list, "分层 Strata": _strata_table(draw)},
    )
    files["readme"] = _write_readme(folder / "README.txt", cover, _verify_instructions(draw))
    logger.info("draw %s exported to %s", draw_id, folder)
    return PublishedFiles(folder, files)


def export_results(engine: Engine, draw_id: str, out_dir: str | Path) -> PublishedFiles:
    """Each drawn institution's result, with the draw's cover, document and verifier."""
    draw = _drawn(engine, draw_id)
    folder = _folder(out_dir)
    results = draw_results(engine, draw_id)
    inspectors = _inspector_names(engine)
    table = pd.DataFrame(
        {
            "序号 No.": results["draw_rank"].astype("int64"),
            "机构编码 Institution code": results["institution_code"],
            "机构名称 Name": results["name"],
            "区县 County": results["region_code"],
            "检查日期 Inspection date": _dates(results["start_date"]),
            "检查人员 Inspectors": _people(results["inspector_codes"], inspectors),
            "是否发现问题 Violation found": results["found_violation"].map(_found_text).fillna("未录入 not recorded"),
            "问题金额（元） Amount found (yuan)": results["amount_found"].round(2),
            "违规类型 Violation types": _labels(results["categories"], "violation_category"),
            "处理方式 Dispositions": _labels(results["dispositions"], "disposition"),
            "结果公开日期 Published on": _dates(results["result_published"]),
        }
    )
    inspected = results["inspection_id"].notna()
    found = results["found_violation"].fillna(False).astype(bool)
    summary = [
        ("已检查 / inspected", f"{int(inspected.sum())} / {len(results)}"),
        ("发现问题 / with violations", str(int(found.sum()))),
        ("问题金额合计（元） / amount found (yuan)", f"{results['amount_found'].fillna(0).sum():,.2f}"),
        ("未录入结果 / not yet recorded", str(int((~inspected).sum()))),
    ]
    cover = pd.concat([_cover_rows(draw, stage="results"), pd.DataFrame(summary, columns=_COVER_COLUMNS)])
    files = _draw_files(folder, draw)
    files["csv"] = _write_csv(folder / f"results-{draw_id}.csv", table)
    files["xlsx"] = _write_xlsx(folder / f"results-{draw_id}.xlsx", {"说明 About": cover, "检查结果 Results": table})
    files["readme"] = _write_readme(folder / "README.txt", cover, _verify_instructions(draw))
    logger.info("results of draw %s exported to %s", draw_id, folder)
    return PublishedFiles(folder, files)


# --------------------------------------------------------------------------- cover and instructions

_COVER_COLUMNS = ["项目 Item", "内容 Value"]


def _cover_rows(draw: StoredDraw, *, stage: str) -> pd.DataFrame:
    title = {
        "pool": "双随机抽查对象库公示（抽签前） / Random-inspection pool, published before the seed",
        "draw": "双随机抽查结果公示 / Random-inspection draw",
        "results": "双随机抽查检查结果公示 / Results of the random inspections",
    }[stage]
    rows: list[tuple[str, str]] = [
        ("公示 / Notice", title),
        ("抽查批次 / Draw", draw.draw_id),
        ("抽查基准日 / Draw date (as of)", f"{draw.as_of:%Y-%m-%d}"),
        ("辖区 / Regions", "、".join(draw.regions)),
        ("检查事项 / Check item", draw.item or "（不限）/ (any)"),
        ("抽取方法 / Method", _method_text(draw)),
        ("对象库机构数 / Institutions in the pool", str(draw.pool_size)),
        ("未入库机构数 / Institutions left out", str(draw.exclusions["institution_code"].nunique())),
        ("对象库哈希 / Pool hash (SHA-256)", draw.pool_hash),
        ("对象库封存时间 / Pool frozen at", _beijing(draw.frozen_at)),
    ]
    if stage != "pool" and draw.seed is not None:
        rows += [
            ("随机种子 / Seed", f"{draw.seed.value}"),
            (
                "种子来源 / Seed source",
                {"dice": "公开掷骰 / dice rolled in public", "beacon": "公共随机信标 / public randomness beacon"}[
                    draw.seed.source
                ],
            ),
            ("种子出处 / Seed reference", draw.seed.reference or ""),
            ("抽取时间 / Drawn at", _beijing(draw.drawn_at)),
            ("抽中机构数 / Institutions drawn", str(draw.selected_count)),
            ("验证 / Verify", f"python verify_draw.py draw-{draw.draw_id}.json"),
        ]
    return pd.DataFrame(rows, columns=_COVER_COLUMNS)


def _method_text(draw: StoredDraw) -> str:
    design = draw.pool_document["design"]
    if design["method"] == "stratified":
        ratios = "，".join(f"{stratum} {ratio}" for stratum, ratio in design["ratios"].items())
        return (
            f"按信用等级分层抽取，比例 {ratios}（向上取整）/ stratified by credit grade, ratios {ratios} (rounded up)"
        )
    return (
        f"按风险加权系统抽样，样本量 {design['sample_size']}，最低入选概率 {design['min_inclusion_probability']} / "
        f"risk-weighted systematic PPS, sample size {design['sample_size']}, "
        f"minimum inclusion probability {design['min_inclusion_probability']}"
    )


def _pool_instructions(draw: StoredDraw) -> str:
    command = (
        'python -c "import json, verify_draw; '
        f"print(verify_draw.compute_pool_hash(json.load(open('pool-{draw.draw_id}.json', encoding='utf-8'))))\""
    )
    return f"""\
说明 / What this is
本文件夹公示抽查对象库。对象库文件 pool-{draw.draw_id}.json 的 SHA-256 哈希为：
  {draw.pool_hash}
随机种子将在公示之后通过公开掷骰或公共随机信标产生。抽取完成后，任何人都可以用公布的种子和本对象库复现抽查结果。
This folder publishes the pool of the draw before its seed exists. The SHA-256 of the canonical pool document
(pool-{draw.draw_id}.json) is the hash above. The seed will come afterwards from dice rolled in public or a public
randomness beacon; anyone can then replay the draw from this pool and that seed.

自行计算哈希（Python 3.11 及以上，在本文件夹中运行）/ Compute the hash yourself (Python 3.11+, in this folder):
  {command}
"""


def _verify_instructions(draw: StoredDraw) -> str:
    seed = draw.seed.value if draw.seed else "<seed>"
    if draw.method == "stratified":
        rule = "每个分层中抽签号最小的机构入选 / in each stratum the institutions with the lowest tickets are drawn."
    else:
        rule = (
            "按抽签号排序后系统抽样，入选概率与风险权重成正比 / institutions ordered by ticket are drawn by "
            "systematic sampling with probabilities proportional to risk."
        )
    return f"""\
如何验证 / How to verify
1. 核对对象库哈希 {draw.pool_hash}
   与抽签前公布的值一致：这证明对象库在种子产生之前已经固定。
   Check that the pool hash above is the one published before the seed: that proves the pool was fixed first.
2. 安装 Python 3.11 或更高版本（不需要其他软件包），在本文件夹中运行：
   Install Python 3.11 or later (nothing else is needed) and run, in this folder:
     python verify_draw.py draw-{draw.draw_id}.json
   显示“验证通过 / VERIFIED”表示抽中的机构、入选概率和检查组都能由对象库和种子完全复现；
   否则程序会指出第一处不一致。
   "验证通过 / VERIFIED" means the drawn institutions, their inclusion probabilities and the inspection teams
   follow exactly from the pool and the seed; otherwise the program names the first discrepancy.
3. 也可以手工核对任一机构的抽签号（SHA-256）/ Any ticket can also be checked by hand:
     printf '%s|%s|%s' {seed} {draw.pool_hash} <机构编码 institution code> | sha256sum
   {rule}
"""


def _write_readme(path: Path, cover: pd.DataFrame, instructions: str) -> Path:
    lines = [f"{item}: {value}" for item, value in cover.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n\n" + instructions, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- tables


def _strata_table(draw: StoredDraw) -> pd.DataFrame:
    strata = pd.DataFrame(draw.draw_document["strata"])
    columns = {
        "stratum": "分层 Stratum",
        "ratio": "比例 Ratio",
        "population": "入库机构 In pool",
        "drawn": "抽中 Drawn",
        "inclusion_probability": "入选概率 Inclusion probability",
    }
    return strata[[c for c in columns if c in strata.columns]].rename(columns=columns)


def _exclusions_table(draw: StoredDraw, names: pd.DataFrame) -> pd.DataFrame:
    excluded = draw.exclusions.merge(names, on="institution_code", how="left")
    return pd.DataFrame(
        {
            "机构编码 Institution code": excluded["institution_code"],
            "机构名称 Name": excluded["name"],
            "未入库原因 Reason": excluded["reason_zh"],
            "Reason (English)": excluded["reason_en"],
        }
    )


def _people(codes: pd.Series | None, names: dict[str, str]) -> pd.Series | str:
    """``;``-joined inspector codes as "code name" pairs (names from the roster)."""
    if codes is None:
        return ""

    def spell(value: Any) -> str:
        if not isinstance(value, str) or not value:
            return ""
        return "；".join(f"{code} {names.get(code, '')}".strip() for code in value.split(";"))

    return codes.map(spell)


def _labels(codes: pd.Series, code_list: str) -> pd.Series:
    labels = CODE_LISTS[code_list]

    def spell(value: Any) -> str:
        if not isinstance(value, str) or not value:
            return ""
        return "；".join(f"{labels.get(code, code)} {code}" for code in value.split(";"))

    return codes.map(spell)


def _found_text(value: Any) -> str | None:
    if value is None or value is pd.NA:
        return None
    return "是 yes" if bool(value) else "否 no"


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna("")


def _beijing(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return f"{moment.replace(tzinfo=UTC).astimezone(BEIJING):%Y-%m-%d %H:%M:%S} 北京时间 (UTC+8)"


# --------------------------------------------------------------------------- files


def _drawn(engine: Engine, draw_id: str) -> StoredDraw:
    draw = get_draw(engine, draw_id)
    if draw.status != "drawn" or draw.draw_document is None:
        raise DrawStateError(
            f"抽查批次 {draw_id} 尚未抽取（{draw.status_zh}），只能公示对象库 / draw {draw_id} is {draw.status}: "
            "only its pool can be published (export_pool)"
        )
    return draw


def _draw_files(folder: Path, draw: StoredDraw) -> dict[str, Path]:
    """The draw document, the pool document and the standalone verifier."""
    return {
        "json": _write_json(folder / f"draw-{draw.draw_id}.json", draw.draw_document),
        "pool": _write_json(folder / f"pool-{draw.draw_id}.json", draw.pool_document),
        "verifier": _copy_verifier(folder),
    }


def _copy_verifier(folder: Path) -> Path:
    verifier = folder / "verify_draw.py"
    shutil.copyfile(VERIFIER, verifier)
    return verifier


def _folder(out_dir: str | Path) -> Path:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _write_csv(path: Path, table: pd.DataFrame) -> Path:
    table.to_csv(path, index=False, encoding="utf-8-sig")  # the BOM lets Chinese Excel detect UTF-8
    return path


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in sheets.items():
            table.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for column_cells in sheet.columns:
                longest = max(len(str(cell.value or "")) for cell in column_cells)
                sheet.column_dimensions[column_cells[0].column_letter].width = min(80, max(10, longest + 4))
    return path


def _institution_names(engine: Engine) -> pd.DataFrame:
    return load_table(engine, "institutions", columns=["institution_code", "name"])


def _inspector_names(engine: Engine) -> dict[str, str]:
    roster = load_table(engine, "inspectors", columns=["inspector_code", "name"])
    return dict(zip(roster["inspector_code"].astype(str), roster["name"].astype(str), strict=True))
