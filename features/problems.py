"""Problems found while reading and validating bureau files, and the error that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

REASONS_ZH: dict[str, str] = {
    "encoding": "文件编码无法识别（应为 UTF-8、带 BOM 的 UTF-8 或 GB18030）",
    "empty_file": "文件为空或没有数据行",
    "not_a_table": "无法确定文件对应的数据表",
    "unreadable": "文件无法读取",
    "missing_column": "缺少必填列",
    "duplicate_column": "同一列出现多次",
    "required": "必填字段为空",
    "bad_code": "代码不在代码表中",
    "bad_date": "日期无法解析",
    "bad_number": "数值无法解析",
    "bad_integer": "应为整数",
    "bad_bool": "布尔值无法解析",
    "negative": "金额或数量不能为负",
    "too_many_decimals": "金额最多两位小数",
    "out_of_range": "数值超出允许范围",
    "bad_format": "格式不符合规范",
    "too_few_items": "列表项数量不足",
    "discharge_before_admit": "出院日期早于入院日期",
    "discharge_missing": "住院记录缺少出院日期",
    "fund_exceeds_total": "统筹基金支付超过医疗总费用",
    "parts_exceed_total": "分项费用之和超过医疗总费用",
    "decision_before_found": "处理决定日期早于发现日期",
    "period_end_before_start": "自查截止日期早于起始日期",
    "verified_before_submitted": "复核日期早于提交日期",
    "duplicate_key": "主键重复",
    "conflict": "主键已存在但内容不同",
    "unknown_institution": "机构编码不存在",
    "unknown_inspection": "检查编号不存在",
    "unknown_claim": "结算流水号不存在",
    "unknown_staff": "人员代码不存在",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``row`` is the row number a person sees: for CSV and XLSX the header is row 1 and the first
    data row is row 2; for Parquet the first record is row 1. ``None`` for whole-file problems.
    """

    table: str
    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str
    detail: str = ""

    @property
    def reason_zh(self) -> str:
        return REASONS_ZH.get(self.reason, self.reason)

    def describe(self, lang: str = "en") -> str:
        where = f"{self.file}"
        if self.row is not None:
            where += f" row {self.row}" if lang == "en" else f" 第{self.row}行"
        if self.column:
            where += f" [{self.column}]"
        value = "" if self.value is None else (f" value {self.value!r}" if lang == "en" else f" 值 {self.value!r}")
        reason = self.reason if lang == "en" else self.reason_zh
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.table}: {where}{value}: {reason}{detail}"

    def as_dict(self) -> dict:
        return asdict(self) | {"reason_zh": self.reason_zh}


class ImportRejected(ValueError):
    """Raised when files are rejected; nothing was written. Carries every problem found."""

    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = list(problems)
        n = len(self.problems)
        head = "; ".join(p.describe() for p in self.problems[:5])
        more = f" (and {n - 5} more)" if n > 5 else ""
        super().__init__(message or f"import rejected, nothing written: {n} problem(s): {head}{more}")
