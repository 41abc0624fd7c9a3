"""Metric functions: known values, ties, and refusals of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import metrics


def test_roc_auc_of_a_perfect_and_a_reversed_ranking():
    y = [0, 0, 1, 1]
    assert metrics.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0


def test_roc_auc_is_nan_with_one_class():
    assert math.isnan(metrics.roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))


def test_brier_score_of_certain_right_and_wrong_predictions():
    assert metrics.brier_score([1, 0], [1.0, 0.0]) == 0.0
    assert metrics.brier_score([1, 0], [0.0, 1.0]) == 1.0


def test_expected_calibration_error_is_zero_when_rates_match_predictions():
    y = np.array([1] * 20 + [0] * 80)
    assert metrics.expected_calibration_error(y, np.full(100, 0.2), bins=1) == pytest.approx(0.0)
    assert metrics.expected_calibration_error(y, np.full(100, 0.5), bins=1) == pytest.approx(0.3)


def test_prevalence_weights_each_unit_by_inverse_inclusion_probability():
    # One violating unit drawn with probability 0.1 stands for ten institutions.
    assert metrics.prevalence_hajek([1, 0], [0.1, 0.5]) == pytest.approx(10 / 12)
    assert metrics.prevalence_horvitz_thompson([1, 0], [0.1, 0.5], population_size=20) == pytest.approx(0.5)


def test_prevalence_refuses_an_inclusion_probability_outside_zero_one():
    with pytest.raises(ValueError, match="inclusion_probability must be in"):
        metrics.prevalence_hajek([1], [0.0])


def test_constant_score_finds_what_random_choice_finds_on_average():
    violating = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    capture = metrics.capture_at_budget(np.zeros(10), violating, budget_fraction=0.2)
    assert capture.inspected == 2
    assert capture.violations_share == pytest.approx(0.2)


def test_order_ties_follow_input_order():
    capture = metrics.capture_at_budget(np.zeros(4), [1, 0, 0, 0], budget_fraction=0.25, ties="order")
    assert capture.violations_share == 1.0


def test_capture_counts_amount_only_where_a_violation_was_found():
    capture = metrics.capture_at_budget(
        [3, 2, 1, 0], [1, 0, 1, 0], budget_fraction=0.5, amount=[100.0, 999.0, 300.0, 0.0]
    )
    assert capture.violations_share == 0.5
    assert capture.amount_share == pytest.approx(0.25)


def test_budget_refuses_a_fraction_above_one():
    with pytest.raises(ValueError, match=r"budget_fraction must be a number in \[0, 1\]; got 1.5"):
        metrics.capture_at_budget([1, 2], [0, 1], budget_fraction=1.5)


def test_lift_is_selection_hit_rate_over_random_hit_rate():
    assert metrics.lift([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(2.0)
    assert metrics.capture_lift(0.3, 0.1) == pytest.approx(3.0)


def test_days_earlier_moves_the_violation_to_the_first_slot():
    result = metrics.days_earlier(["2024-01-01", "2024-01-02", "2024-01-04"], [0, 0, 1], [0.1, 0.2, 0.9])
    assert result.violations == 1
    assert result.mean_days == 3.0


def test_days_earlier_with_expected_ties_gives_a_constant_score_no_gain():
    dates = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    result = metrics.days_earlier(dates, [1, 0, 0, 1], [0.5] * 4, ties="expected")
    assert result.total_days == 0.0


def test_outcomes_must_be_zero_or_one():
    with pytest.raises(ValueError, match="y must be 0/1"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
