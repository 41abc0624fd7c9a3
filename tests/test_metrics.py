"""Inspection metrics, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.metrics import (
    capture_at_budget,
    days_earlier,
    hit_rate,
    lift,
    prevalence_hajek,
    prevalence_horvitz_thompson,
)


def test_hit_rate_is_the_share_with_findings_ignoring_missing_outcomes():
    assert hit_rate([True, False, True, True]) == 0.75
    assert hit_rate(pd.array([True, None, False], dtype="boolean")) == 0.5
    assert math.isnan(hit_rate([]))


def test_lift_over_the_random_arm():
    assert lift([1, 1, 0, 1], [1, 0, 0, 0]) == pytest.approx(3.0)  # 0.75 / 0.25


def test_lift_over_a_weighted_random_arm_uses_the_hajek_rate():
    # random arm: (1/0.5) / (2 + 10 + 10 + 10) = 0.0625; 0.75 / 0.0625 = 12
    assert lift([1, 1, 0, 1], [1, 0, 0, 0], [0.5, 0.1, 0.1, 0.1]) == pytest.approx(12.0)


def test_lift_is_nan_when_the_random_arm_found_nothing():
    assert math.isnan(lift([1, 0], [0, 0]))


def test_horvitz_thompson_prevalence():
    # (1/0.5 + 1/0.1) / 100 = 0.12
    assert prevalence_horvitz_thompson([1, 0, 1], [0.5, 0.25, 0.1], 100) == pytest.approx(0.12)


def test_hajek_prevalence():
    # (2 + 10) / (2 + 4 + 10) = 0.75
    assert prevalence_hajek([1, 0, 1], [0.5, 0.25, 0.1]) == pytest.approx(0.75)


def test_equal_probabilities_give_the_plain_hit_rate():
    found = [1, 0, 0, 1, 0]
    assert prevalence_hajek(found, [0.05] * 5) == pytest.approx(0.4)
    assert prevalence_horvitz_thompson(found, [0.05] * 5, 100) == pytest.approx(0.4)


def test_inclusion_probabilities_must_be_positive():
    with pytest.raises(ValueError, match="inclusion_probability must be in"):
        prevalence_hajek([1], [0])
    with pytest.raises(ValueError, match="population_size must be an integer >= 1; got 0"):
        prevalence_horvitz_thompson([1], [0.5], 0)


def test_capture_at_budget_counts_violations_and_amount_in_the_top_fraction():
    capture = capture_at_budget(
        [0.9, 0.1, 0.8, 0.3, 0.5], [1, 0, 0, 1, 1], budget_fraction=0.4, amount=[100, 50, 30, 200, 70]
    )
    assert capture.inspected == 2  # institutions 0 and 2
    assert capture.violations_share == pytest.approx(1 / 3)
    assert capture.amount_share == pytest.approx(100 / 370)  # amounts count only where a violation was found


def test_capture_budget_is_not_inflated_by_floating_point():
    capture = capture_at_budget(np.arange(30, dtype=float), [1] * 30, budget_fraction=0.1)
    assert capture.inspected == 3


def test_capture_with_nothing_to_find_is_nan():
    capture = capture_at_budget([0.2, 0.1], [0, 0], budget_fraction=0.5, amount=[1, 2])
    assert math.isnan(capture.violations_share) and math.isnan(capture.amount_share)


def test_capture_rejects_a_budget_outside_zero_and_one():
    with pytest.raises(ValueError, match="budget_fraction must be a number in"):
        capture_at_budget([1], [1], budget_fraction=1.5)


def test_days_earlier_moves_the_violation_to_the_first_slot():
    dates = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
    result = days_earlier(dates, [0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])
    assert (result.violations, result.total_days, result.mean_days) == (1, 3, 3.0)


def test_days_earlier_can_be_negative_when_the_score_is_worse():
    dates = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
    # score order: 3, 2, 1, 0 -> institution 0 moves from Jan 1 to Jan 4 (-3), institution 3 from Jan 4 to Jan 1 (+3)
    result = days_earlier(dates, [1, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])
    assert (result.total_days, result.mean_days) == (0, 0.0)
    result = days_earlier(dates, [1, 0, 0, 0], [0.1, 0.2, 0.3, 0.9])
    assert result.total_days == -3


def test_days_earlier_keeps_date_order_for_tied_scores():
    dates = pd.to_datetime(["2025-03-05", "2025-03-01", "2025-03-03"])
    result = days_earlier(dates, [1, 1, 1], [0.5, 0.5, 0.5])
    assert result.total_days == 0


def test_days_earlier_with_unsorted_dates_and_duplicate_slots():
    # slots sorted: 1, 1, 10; score order: c (10 -> 1: +9), a (1 -> 1), b (1 -> 10: -9)
    result = days_earlier(["2025-01-01", "2025-01-01", "2025-01-10"], [0, 0, 1], [0.5, 0.1, 0.9])
    assert (result.violations, result.total_days) == (1, 9)
