"""Rolling temporal backtest: train on the years up to t, rate every institution on 1 January of t+1,
and compare with what the inspections of t+1 found.

The stages of one fold:

1. fit a :class:`~models.training.RiskModel` on the inspections dated before 1 January of t+1;
2. rate every institution in the feature snapshot of that day as for a random inspection by an
   average inspector (the institution-level score);
3. measure, on the inspections of t+1: ROC AUC, PR AUC, Brier score and calibration error, both per
   inspection (with its real kind and inspectors) and per institution (any violation in the year);
4. measure what inspectors care about: at budgets of 5, 10 and 20 % of institutions, the share of
   violating institutions, of violation records and of violation amount that (a) random choice, (b) credit-grade order,
   (c) model probability and (d) probability × amount would have found, and the lift over random;
5. estimate the year's prevalence from random inspections alone, weighted by inclusion probability.

Observed outcomes are selective: an institution not inspected in t+1 counts as not violating, and
targeted inspections find more because they are targeted. Where a simulation's ground truth is
given, the fold also reports the share of the true amount at stake each ranking would reach.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from . import metrics
from .dataset import PanelSpec, institution_outcomes
from .training import RISK_LEVELS_ZH, RiskModel, RiskModelConfig

__all__ = [
    "BUDGETS",
    "GRADE_ORDER",
    "BacktestResult",
    "FoldResult",
    "draw_inclusion_probabilities",
    "rolling_backtest",
]

log = logging.getLogger(__name__)

BUDGETS: tuple[float, ...] = (0.05, 0.10, 0.20)
# Best grade first; grade-driven targeting visits them in the reverse order.
GRADE_ORDER: tuple[str, ...] = ("A+", "A", "B", "C", "D", "E")
STRATEGIES = ("random", "grade", "probability", "priority", "baseline")

Snapshot = Callable[[pd.Timestamp], pd.DataFrame]
Grades = Callable[[pd.Timestamp], pd.Series]


@dataclass
class FoldResult:
    """Everything measured in one test year."""

    test_year: int
    train_rows: int
    train_window: tuple[str, str]
    inspection_metrics: dict[str, float]
    institution_metrics: dict[str, float]
    prevalence: dict[str, float]
    budgets: pd.DataFrame
    by_grade: pd.DataFrame
    by_level: pd.DataFrame
    calibration: pd.DataFrame
    scores: pd.DataFrame = field(repr=False)
    model: RiskModel | None = field(default=None, repr=False)


@dataclass
class BacktestResult:
    folds: list[FoldResult]
    config: dict[str, Any]

    def summary(self) -> pd.DataFrame:
        """One row per test year: the headline figures."""
        rows = []
        for fold in self.folds:
            budget = fold.budgets.set_index(["strategy", "budget"])
            row = {
                "test_year": fold.test_year,
                "train_rows": fold.train_rows,
                "inspection_roc_auc": fold.inspection_metrics["roc_auc"],
                "institution_roc_auc": fold.institution_metrics["roc_auc"],
                "institution_pr_auc": fold.institution_metrics["pr_auc"],
                "brier": fold.inspection_metrics["brier"],
                "calibration_error": fold.inspection_metrics["calibration_error"],
                "baseline_roc_auc": fold.institution_metrics["baseline_roc_auc"],
                "truth_inspection_roc_auc": fold.inspection_metrics.get("truth_roc_auc", np.nan),
                "prevalence_random_weighted": fold.prevalence["weighted_estimate"],
                "prevalence_predicted": fold.prevalence["mean_predicted"],
            }
            for strategy in ("probability", "priority"):
                if (strategy, 0.10) in budget.index:
                    row[f"lift10_{strategy}"] = budget.loc[(strategy, 0.10), "lift_violating"]
                    row[f"lift10_{strategy}_records"] = budget.loc[(strategy, 0.10), "lift_records"]
                    row[f"lift10_{strategy}_amount"] = budget.loc[(strategy, 0.10), "lift_amount"]
            if ("random", 0.10) in budget.index:
                row["lift10_best_possible_violating"] = budget.loc[("random", 0.10), "best_possible_lift_violating"]
            row["grade_rates_increasing"] = _strictly_increasing(fold.by_grade)
            rows.append(row)
        return pd.DataFrame(rows)

    def pooled(self, column: str = "grade") -> pd.DataFrame:
        """Violation rates by credit grade (``"grade"``) or risk level (``"risk_level"``) over every test year
        together: each institution counts once per year. A single year's C or D group holds a few dozen
        institutions, too few to order neighbouring grades; pooled, the intervals are narrower."""
        order = GRADE_ORDER if column == "grade" else RISK_LEVELS_ZH
        scores = [fold.scores for fold in self.folds if column in fold.scores.columns]
        if not scores:
            return _rate_table(pd.DataFrame(), column, order)
        return _rate_table(pd.concat(scores, ignore_index=True), column, order)

    def pooled_grade_rates_increasing(self) -> bool | None:
        """Whether, over all test years together, the violation rate rises strictly from grade to grade."""
        return _strictly_increasing(self.pooled("grade"))


def _strictly_increasing(by_grade: pd.DataFrame) -> bool | None:
    """Whether the violation rate rises strictly from the best grade to the worst (None without grades)."""
    if by_grade.empty:
        return None
    rates = by_grade.sort_values("order")["violation_rate"].dropna().to_numpy()
    return bool(len(rates) >= 2 and np.all(np.diff(rates) > 0))


def draw_inclusion_probabilities(outcomes: pd.DataFrame, active_counts: Callable[[pd.Timestamp], int]) -> pd.Series:
    """Inclusion probability of each random inspection, indexed like ``outcomes``.

    Uses an ``inclusion_probability`` column when the draw recorded one; otherwise assumes an
    equal-probability draw: institutions drawn in the draw over institutions active on its first
    inspection date. Non-random inspections get NaN.
    """
    random = outcomes["kind"] == "random"
    result = pd.Series(np.nan, index=outcomes.index, dtype="float64")
    if "inclusion_probability" in outcomes.columns:
        result[random] = outcomes.loc[random, "inclusion_probability"].astype("float64")
    missing = random & result.isna()
    if not missing.any():
        return result
    draws = outcomes.loc[missing].copy()
    draws["draw"] = (
        draws["draw_id"].astype(object).where(draws["draw_id"].notna(), "_undrawn")
        if ("draw_id" in draws.columns)
        else "_undrawn"
    )
    for _, members in draws.groupby("draw"):
        active = max(1, int(active_counts(members["start_date"].min())))
        result[members.index] = min(1.0, members["institution_code"].nunique() / active)
    return result


def _grade_scores(grades: pd.Series) -> pd.Series:
    """Grades as a ranking score: worst grade highest; unknown grades are NaN."""
    rank = {grade: float(i) for i, grade in enumerate(GRADE_ORDER)}
    return grades.map(lambda g: rank.get(str(g).strip().upper(), np.nan)).astype("float64")


def _budget_table(scored: pd.DataFrame, budgets: Sequence[float], truth_column: str | None) -> pd.DataFrame:
    rows = []
    for strategy in STRATEGIES:
        column = {
            "random": None,
            "grade": "grade_score",
            "probability": "probability",
            "priority": "priority",
            "baseline": "baseline_probability",
        }[strategy]
        if column is not None and (column not in scored.columns or scored[column].isna().all()):
            continue
        score = np.zeros(len(scored)) if column is None else scored[column].fillna(scored[column].median())
        records = scored["violation_records"] if "violation_records" in scored.columns else scored["violating"]
        for budget in budgets:
            capture = metrics.capture_at_budget(
                score, scored["violating"], budget_fraction=budget, amount=scored["amount"]
            )
            share_records = metrics.share_at_budget(score, records, budget_fraction=budget)
            # Random choice of the same number of institutions finds, on average, this share.
            random_share = capture.inspected / len(scored)
            best = metrics.best_share_at_budget(scored["violating"].astype("float64"), budget_fraction=budget)
            row = {
                "strategy": strategy,
                "budget": budget,
                "inspected": capture.inspected,
                "share_violating": capture.violations_share,
                "share_records": share_records,
                "share_amount": capture.amount_share,
                "lift_violating": metrics.capture_lift(capture.violations_share, random_share),
                "lift_records": metrics.capture_lift(share_records, random_share),
                "lift_amount": metrics.capture_lift(capture.amount_share, random_share),
                "best_possible_share": best,
                # The arithmetic bound on lift by violating institutions: budget / violating over budget / n.
                "best_possible_lift_violating": metrics.capture_lift(best, random_share) if random_share else np.nan,
            }
            if truth_column:
                true = metrics.capture_at_budget(
                    score, scored[truth_column] > 0, budget_fraction=budget, amount=scored[truth_column]
                )
                row["share_true_amount"] = true.amount_share
            rows.append(row)
    return pd.DataFrame(rows)


def _rate_table(scored: pd.DataFrame, column: str, order: Sequence[str]) -> pd.DataFrame:
    """Per value of ``column``: institutions, inspected, violating among the inspected, the violation rate
    with its 95 % Wilson interval, and the mean probability."""
    columns = [column, "order", "institutions", "inspected", "violating", "violation_rate", "rate_low", "rate_high"]
    if column not in scored.columns or scored[column].isna().all():
        return pd.DataFrame(columns=[*columns, "mean_probability"])
    inspected = scored["inspected"].astype(bool)
    groups = scored.assign(_found=scored["violating"].astype(bool) & inspected).groupby(scored[column].astype(str))
    table = pd.DataFrame(
        {
            "institutions": groups.size(),
            "inspected": groups["inspected"].sum().astype(int),
            "violating": groups["_found"].sum(),
            "mean_probability": groups["probability"].mean(),
        }
    ).reset_index(names=column)
    bounds = [_wilson(int(k), int(n)) for k, n in zip(table["violating"], table["inspected"], strict=True)]
    table["violation_rate"] = np.where(
        table["inspected"] > 0, table["violating"] / table["inspected"].clip(lower=1), np.nan
    )
    table["rate_low"] = [low for low, _ in bounds]
    table["rate_high"] = [high for _, high in bounds]
    rank = {value: i for i, value in enumerate(order)}
    table["order"] = table[column].map(rank)
    table = table[[*columns, "mean_probability"]]
    return table.sort_values("order", na_position="last").reset_index(drop=True)


def _wilson(successes: int, trials: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (NaN without trials)."""
    if trials == 0:
        return np.nan, np.nan
    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _fold(
    year: int,
    panel: pd.DataFrame,
    spec: PanelSpec,
    outcomes: pd.DataFrame,
    snapshot: Snapshot,
    config: RiskModelConfig,
    *,
    grades: Grades | None,
    truth: pd.DataFrame | None,
    budgets: Sequence[float],
    catalogue: Any,
    train_start: pd.Timestamp | None,
    inspection_truth: pd.DataFrame | None = None,
) -> FoldResult:
    start, end = pd.Timestamp(year=year, month=1, day=1), pd.Timestamp(year=year + 1, month=1, day=1)
    times = pd.to_datetime(panel[spec.time])
    train = panel[(times < start) & ((times >= train_start) if train_start is not None else True)]
    test = panel[(times >= start) & (times < end)]
    model = RiskModel(config).fit(train, spec, catalogue=catalogue)
    log.info("fold %d: trained on %d inspections, testing on %d", year, len(train), len(test))

    y_test = test[spec.label].astype("float64").to_numpy()
    p_inspection = model.predict_proba(test, neutral=False)
    inspection_metrics = {
        "inspections": len(test),
        "violation_rate": float(np.mean(y_test)) if len(test) else np.nan,
        "roc_auc": metrics.roc_auc(y_test, p_inspection),
        "pr_auc": metrics.pr_auc(y_test, p_inspection),
        "brier": metrics.brier_score(y_test, p_inspection),
        "calibration_error": metrics.expected_calibration_error(y_test, p_inspection),
        "baseline_roc_auc": metrics.roc_auc(y_test, model.baseline_proba(test, neutral=False)),
    }
    if inspection_truth is not None and "detection_probability" in inspection_truth.columns and len(test):
        # The simulation's own chance that each inspection finds something, from the undiscovered abuse and
        # the inspectors' real strength: the ceiling any model of observable data stays under.
        known = test["inspection_id"].map(inspection_truth.set_index("inspection_id")["detection_probability"])
        inspection_metrics["truth_roc_auc"] = metrics.roc_auc(y_test[known.notna()], known.dropna().to_numpy())

    features = snapshot(start)
    scored = model.score(features)
    for column in spec.groups:
        if column in features.columns:
            scored[column] = features[column].to_numpy()
    observed = institution_outcomes(outcomes, start, end)
    scored = scored.merge(observed, left_on=spec.entity, right_index=True, how="left")
    scored["inspected"] = scored["inspections"].notna()
    scored["violating"] = scored["violating"].astype("boolean").fillna(False).astype(bool)
    scored["amount"] = scored["amount"].fillna(0.0)
    scored["inspections"] = scored["inspections"].fillna(0).astype("int64")
    scored["violation_records"] = scored["violation_records"].fillna(0.0)
    if grades is not None:
        grade = grades(start)
        scored["grade"] = scored[spec.entity].map(grade)
        scored["grade_score"] = _grade_scores(scored["grade"])
    truth_column = None
    if truth is not None:
        year_truth = truth[truth["year"] == year].set_index("institution_code")
        scored["true_amount_at_stake"] = scored[spec.entity].map(year_truth["amount_at_stake"]).fillna(0.0)
        truth_column = "true_amount_at_stake"

    inspected = scored[scored["inspected"]]
    y_inst = inspected["violating"].astype("float64")
    institution_metrics = {
        "institutions": len(scored),
        "inspected": len(inspected),
        "violating": int(inspected["violating"].sum()),
        "roc_auc": metrics.roc_auc(y_inst, inspected["probability"]),
        "pr_auc": metrics.pr_auc(y_inst, inspected["probability"]),
        "priority_amount_spearman": float(inspected["priority"].corr(inspected["amount"], method="spearman")),
        "baseline_roc_auc": metrics.roc_auc(y_inst, inspected["baseline_probability"]),
    }
    if "grade_score" in scored.columns and inspected["grade_score"].notna().any():
        graded = inspected[inspected["grade_score"].notna()]
        institution_metrics["grade_roc_auc"] = metrics.roc_auc(graded["violating"], graded["grade_score"])
    prevalence = _prevalence(outcomes, start, end, scored, features, spec)
    return FoldResult(
        test_year=year,
        train_rows=len(train),
        train_window=(str(times[train.index].min().date()), str(times[train.index].max().date())),
        inspection_metrics=inspection_metrics,
        institution_metrics=institution_metrics,
        prevalence=prevalence,
        budgets=_budget_table(scored, budgets, truth_column),
        by_grade=_rate_table(scored, "grade", GRADE_ORDER),
        by_level=_rate_table(scored, "risk_level", RISK_LEVELS_ZH),
        calibration=metrics.calibration_table(y_test, p_inspection) if len(test) else pd.DataFrame(),
        scores=scored,
        model=model,
    )


def _prevalence(
    outcomes: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    scored: pd.DataFrame,
    features: pd.DataFrame,
    spec: PanelSpec,
) -> dict[str, float]:
    """The year's prevalence: from random inspections weighted by inclusion probability, and as predicted."""
    year = outcomes[(outcomes["start_date"] >= start) & (outcomes["start_date"] < end)]
    active = len(features)
    pi = draw_inclusion_probabilities(year, lambda _date: active)
    random = year[pi.notna()]
    return {
        "random_inspections": len(random),
        "weighted_estimate": metrics.prevalence_hajek(random["found_violation"], pi[random.index])
        if len(random)
        else np.nan,
        "random_hit_rate": metrics.hit_rate(random["found_violation"]) if len(random) else np.nan,
        "all_inspections_hit_rate": metrics.hit_rate(year["found_violation"]) if len(year) else np.nan,
        "mean_predicted": float(scored["probability"].mean()) if len(scored) else np.nan,
    }


def rolling_backtest(
    panel: pd.DataFrame,
    spec: PanelSpec,
    outcomes: pd.DataFrame,
    snapshot: Snapshot,
    *,
    test_years: Sequence[int],
    config: RiskModelConfig | None = None,
    grades: Grades | None = None,
    truth: pd.DataFrame | None = None,
    inspection_truth: pd.DataFrame | None = None,
    budgets: Sequence[float] = BUDGETS,
    catalogue: Any = None,
    window_years: int | None = None,
    keep_models: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BacktestResult:
    """Train on the years before each test year and evaluate on the test year.

    ``panel``: training rows (one per inspection); ``outcomes``: every inspection with its outcome
    (:func:`~models.dataset.inspection_outcomes`); ``snapshot(as_of)``: the feature rows of every
    institution as of a date; ``grades(as_of)``: credit grades by institution code (for the
    grade-order baseline, supplied by the caller so that models never depends on scoring);
    ``truth``: a simulation's ground truth per institution and year (evaluation only);
    ``inspection_truth``: its ground truth per inspection — with ``detection_probability`` the fold
    also reports ``truth_roc_auc``, how well the simulation's own chance of detection ranks the outcomes.
    ``window_years`` limits training to that many years before the test year (default: all).
    """
    if not test_years:
        raise ValueError("test_years must name at least one year")
    bad = [b for b in budgets if not 0 < b <= 1]
    if bad:
        raise ValueError(f"budgets must be in (0, 1]; got {bad}")
    config = config or RiskModelConfig()
    report = progress or (lambda stage, done, total: None)
    folds = []
    for index, year in enumerate(sorted(test_years)):
        report("backtest", index, len(test_years))
        train_start = pd.Timestamp(year=year - window_years, month=1, day=1) if window_years else None
        fold = _fold(
            year,
            panel,
            spec,
            outcomes,
            snapshot,
            config,
            grades=grades,
            truth=truth,
            budgets=budgets,
            catalogue=catalogue,
            train_start=train_start,
            inspection_truth=inspection_truth,
        )
        if not keep_models:
            fold.model = None
        folds.append(fold)
    report("backtest", len(test_years), len(test_years))
    return BacktestResult(
        folds=folds,
        config={
            "model": config.to_dict(),
            "budgets": list(budgets),
            "test_years": list(test_years),
            "window_years": window_years,
        },
    )
