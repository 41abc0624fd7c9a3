"""The backtest written for people: a Markdown report with PNG plots and CSV tables in a run folder.

Text is bilingual (Chinese first); plot labels are English because the service cannot count on a
CJK font being installed where reports are rendered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are written without a display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from ._markdown import markdown_table
from .evaluation import BacktestResult, FoldResult
from .metrics import capture_at_budget

__all__ = ["plot_calibration", "plot_capture", "plot_rates", "plot_roc", "write_backtest_report"]

log = logging.getLogger(__name__)

_STRATEGY_NAMES = {
    "random": "随机抽取 random",
    "grade": "信用等级顺序 credit-grade order",
    "probability": "模型概率 model probability",
    "priority": "概率×金额 probability × amount",
    "baseline": "评分卡基线 scorecard baseline",
}


def _figure(width: float = 6.0, height: float = 4.2):
    figure, axis = plt.subplots(figsize=(width, height), dpi=110)
    axis.grid(alpha=0.3)
    return figure, axis


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_roc(result: BacktestResult, path: Path) -> Path:
    """Institution-level ROC curve of each test year (neutral score vs any violation in the year)."""
    figure, axis = _figure()
    for fold in result.folds:
        inspected = fold.scores[fold.scores["inspected"]]
        if inspected["violating"].nunique() < 2:
            continue
        fpr, tpr, _ = roc_curve(inspected["violating"], inspected["probability"])
        axis.plot(fpr, tpr, label=f"{fold.test_year} (AUC {fold.institution_metrics['roc_auc']:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC by test year (institutions)")
    axis.legend(loc="lower right")
    return _save(figure, path)


def plot_calibration(result: BacktestResult, path: Path) -> Path:
    """Predicted against observed violation rate per inspection, in deciles of the prediction."""
    figure, axis = _figure()
    for fold in result.folds:
        table = fold.calibration
        if table.empty:
            continue
        axis.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=str(fold.test_year))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(
        xlabel="Predicted probability",
        ylabel="Observed violation rate",
        title="Calibration (inspections)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper left")
    return _save(figure, path)


def plot_capture(fold: FoldResult, path: Path) -> Path:
    """Share of violating institutions and of amount found against the budget, per strategy."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    scored = fold.scores
    budgets = np.linspace(0.01, 1.0, 100)
    columns = {"random": None, "grade": "grade_score", "probability": "probability", "priority": "priority"}
    for strategy, column in columns.items():
        if column is not None and (column not in scored.columns or scored[column].isna().all()):
            continue
        score = np.zeros(len(scored)) if column is None else scored[column].fillna(scored[column].median())
        order_found, order_amount = [], []
        for budget in budgets:
            capture = capture_at_budget(
                score, scored["violating"], budget_fraction=float(budget), amount=scored["amount"]
            )
            order_found.append(capture.violations_share)
            order_amount.append(capture.amount_share)
        axes[0].plot(budgets, order_found, label=strategy)
        axes[1].plot(budgets, order_amount, label=strategy)
    for axis, title in zip(axes, ("Violating institutions found", "Violation amount found"), strict=True):
        axis.grid(alpha=0.3)
        for budget in (0.05, 0.10, 0.20):
            axis.axvline(budget, color="grey", linewidth=0.8, linestyle=":")
        axis.set(
            xlabel="Budget (share of institutions inspected)",
            ylabel="Share found",
            title=title,
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        axis.legend(loc="lower right")
    figure.suptitle(f"Test year {fold.test_year}")
    return _save(figure, path)


def plot_rates(fold: FoldResult, path: Path) -> Path:
    """Observed violation rate by credit grade and by model risk level."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.0), dpi=110)
    level_names = {"低": "low", "中": "medium", "高": "high", "极高": "very high"}
    for axis, table, column, title in (
        (axes[0], fold.by_grade, "grade", "By credit grade"),
        (axes[1], fold.by_level, "risk_level", "By model risk level"),
    ):
        axis.grid(alpha=0.3, axis="y")
        if table.empty:
            axis.text(0.5, 0.5, "not available", ha="center", va="center", transform=axis.transAxes)
        else:
            labels = [level_names.get(v, v) for v in table[column]]
            axis.bar(labels, table["violation_rate"].fillna(0.0), color="#4c72b0")
            axis.plot(labels, table["mean_probability"], color="#dd8452", marker="o", label="mean predicted")
            axis.legend(loc="upper left")
        axis.set(title=title, ylabel="Violation rate among inspected", ylim=(0, 1))
    figure.suptitle(f"Test year {fold.test_year}")
    return _save(figure, path)


_BUDGET_NOTE = (
    "按预算（机构数的 5/10/20 %）检查时发现的份额：违规机构（share_violating）、违规记录条数（share_records）、"
    "违规金额（share_amount）；随机抽取平均发现的份额等于预算。按违规机构计，任何排序最多发现 预算 ÷ 违规机构数"
    "（best_possible_share），提升倍数上限为 best_possible_lift_violating。 / "
    "Shares found when inspecting the top 5/10/20 % of institutions: of violating institutions, "
    "of violation records (count) and of violation amount; random choice finds, on average, the budget itself. "
    "By violating institutions no ranking can find more than budget / violating institutions "
    "(best_possible_share), a lift of at most best_possible_lift_violating."
)


def _budget_section(fold: FoldResult) -> str:
    table = fold.budgets.copy()
    table["strategy"] = table["strategy"].map(_STRATEGY_NAMES).fillna(table["strategy"])
    table["budget"] = table["budget"].map(lambda b: f"{b:.0%}")
    columns = [
        "strategy",
        "budget",
        "inspected",
        "share_violating",
        "lift_violating",
        "share_records",
        "lift_records",
        "share_amount",
        "lift_amount",
        "best_possible_share",
        "best_possible_lift_violating",
    ]
    if "share_true_amount" in table.columns:
        columns.append("share_true_amount")
    return markdown_table(table[columns])


def _pooled_section(result: BacktestResult) -> list[str]:
    """Violation rates by credit grade and risk level over all test years, with 95 % intervals."""
    lines = [
        "## 各测试年合并 All test years pooled",
        "",
        "每家机构每个测试年计一次；区间为 95 % Wilson 区间。单一年份的 C、D 级各只有几十家机构，相邻等级难以区分。 / "
        "Each institution counts once per test year; intervals are 95 % Wilson intervals. In a single year the C "
        "and D groups hold a few dozen institutions each, too few to order neighbouring grades.",
        "",
    ]
    by_grade = result.pooled("grade")
    if by_grade.empty:
        lines += ["未提供信用等级 no grades supplied", ""]
    else:
        rising = result.pooled_grade_rates_increasing()
        verdict = "是 yes" if rising else "否 no"
        lines += [
            "### 按信用等级 By credit grade",
            "",
            markdown_table(by_grade),
            "",
            f"违规率随等级严格上升 violation rate rises strictly from grade to grade: {verdict}",
            "",
        ]
    lines += ["### 按风险等级 By risk level", "", markdown_table(result.pooled("risk_level")), ""]
    return lines


def write_backtest_report(
    result: BacktestResult,
    out_dir: Path,
    *,
    title: str = "风险模型回测 Risk-model backtest",
    context: dict[str, str] | None = None,
) -> Path:
    """Write ``report.md``, the plots and CSV tables into ``out_dir``; returns the report's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not result.folds:
        raise ValueError("result has no folds to report")
    last = result.folds[-1]
    plot_roc(result, out_dir / "roc.png")
    plot_calibration(result, out_dir / "calibration.png")
    plot_capture(last, out_dir / "capture.png")
    plot_rates(last, out_dir / "rates.png")
    summary = result.summary()
    summary.to_csv(out_dir / "summary.csv", index=False)
    pd.concat([f.budgets.assign(test_year=f.test_year) for f in result.folds]).to_csv(
        out_dir / "budgets.csv", index=False
    )
    last.scores.to_csv(out_dir / f"scores_{last.test_year}.csv", index=False)

    lines = [f"# {title}", ""]
    for key, value in (context or {}).items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- 测试年份 test years: {', '.join(str(f.test_year) for f in result.folds)}",
        "- 方法 method: 以 t 年及以前的检查训练，以 t+1 年 1 月 1 日的特征对每家机构评分（按随机检查、平均检查人员），"
        "与 t+1 年的检查结果比较 / train on inspections up to year t, score every institution on 1 January of t+1 "
        "as for a random inspection by an average inspector, compare with what t+1's inspections found.",
        "- 注意 caveat: 未被检查的机构按未违规计；重点检查因其有针对性而发现更多，"
        "只有随机抽查按入样概率加权后能无偏估计违规率 / "
        "uninspected institutions count as not violating; targeted inspections find more because they are targeted, "
        "only random draws weighted by inclusion probability estimate prevalence without bias.",
        "",
        "## 总览 Summary",
        "",
        markdown_table(summary),
        "",
        "![ROC](roc.png)",
        "",
        "![Calibration](calibration.png)",
        "",
    ]
    lines += _pooled_section(result)
    for fold in result.folds:
        lines += [
            f"## {fold.test_year}",
            "",
            f"训练窗口 training window: {fold.train_window[0]} … {fold.train_window[1]} "
            f"({fold.train_rows} inspections)",
            "",
            "### 检查层面 Per inspection (actual kind and inspectors)",
            "",
            markdown_table(pd.DataFrame([fold.inspection_metrics])),
            "",
            "### 机构层面 Per institution (neutral score vs any violation in the year)",
            "",
            markdown_table(pd.DataFrame([fold.institution_metrics])),
            "",
            "### 违规率 Prevalence",
            "",
            markdown_table(pd.DataFrame([fold.prevalence])),
            "",
            "### 预算 Budgets (lift over random)",
            "",
            _BUDGET_NOTE,
            "",
            _budget_section(fold),
            "",
            "### 按信用等级 By credit grade",
            "",
            markdown_table(fold.by_grade) if not fold.by_grade.empty else "未提供信用等级 no grades supplied",
            "",
            "### 按风险等级 By risk level",
            "",
            markdown_table(fold.by_level),
            "",
        ]
    lines += [f"## {last.test_year}: 图 plots", "", "![Capture](capture.png)", "", "![Rates](rates.png)", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    log.info("wrote backtest report %s", path)
    return path
