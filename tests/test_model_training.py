"""The risk model on a panel of known structure: conduct is learned, inspection conditions are not scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import metrics
from models.dataset import KIND_PREFIX, infer_spec, inspection_outcomes, inspector_history, nuisance_columns
from models.synthetic import synthetic_panel
from models.training import RiskBands, RiskModel, RiskModelConfig

SMALL = RiskModelConfig(n_estimators=60, amount_estimators=40, num_leaves=7, min_child_samples=20)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(3000, seed=3)


@pytest.fixture(scope="module")
def fitted(panel) -> RiskModel:
    return RiskModel(SMALL).fit(panel, infer_spec(panel, exclude=["conduct"]))


def test_spec_keeps_audit_attributes_and_nuisance_out_of_the_features(panel):
    spec = infer_spec(panel, exclude=["conduct"])
    assert {"kind", "ownership", "region_code"} & set(spec.features) == set()
    assert all(not c.startswith(("inspection_kind__", "inspector__")) for c in spec.features)
    assert KIND_PREFIX + "random" in spec.nuisance
    assert spec.groups == ("kind", "ownership", "region_code")


def test_score_ranks_institutions_by_their_conduct(panel, fitted):
    scored = fitted.score(panel)
    assert np.corrcoef(scored["probability"], panel["conduct"])[0, 1] > 0.5


def test_score_does_not_depend_on_the_inspection_kind_or_inspectors(panel, fitted):
    flying = panel.copy()
    for column in fitted.spec_.nuisance:
        flying[column] = 0.0
    flying[KIND_PREFIX + "flying"] = 1.0
    flying["inspector__detection"] = 3.0
    assert np.allclose(fitted.score(flying)["probability"], fitted.score(panel)["probability"])


def test_actual_conditions_change_the_inspection_probability(panel, fitted):
    routine = panel.copy()
    flying = panel.copy()
    for frame, kind in ((routine, "routine"), (flying, "flying")):
        for column in fitted.spec_.nuisance:
            if column.startswith(KIND_PREFIX):
                frame[column] = float(column == KIND_PREFIX + kind)
    assert fitted.predict_proba(flying, neutral=False).mean() > fitted.predict_proba(routine, neutral=False).mean()


def test_priority_is_probability_times_expected_amount(panel, fitted):
    scored = fitted.score(panel.head(50))
    assert np.allclose(scored["priority"], scored["probability"] * scored["expected_amount"])
    assert (scored["expected_amount"] > 0).all()


def test_risk_levels_follow_the_configured_bands():
    bands = RiskBands((0.1, 0.3, 0.5))
    zh, en = bands.levels(np.array([0.05, 0.1, 0.35, 0.9]))
    assert list(zh) == ["低", "中", "高", "极高"]
    assert list(en) == ["low", "medium", "high", "very high"]


def test_bands_must_increase():
    with pytest.raises(ValueError, match="three increasing probabilities"):
        RiskBands((0.5, 0.3, 0.6))


def test_config_from_mapping_refuses_unknown_settings():
    with pytest.raises(ValueError, match=r"unknown risk-model settings \['trees'\]"):
        RiskModelConfig.from_mapping({"trees": 10})
    assert RiskModelConfig.from_mapping({"bands": [0.1, 0.2, 0.3]}).bands.cuts == (0.1, 0.2, 0.3)


def test_config_names_a_bad_calibration_method():
    with pytest.raises(ValueError, match=r"calibration must be one of \['platt', 'isotonic'\]; got 'sigmoid'"):
        RiskModelConfig(calibration="sigmoid")


def test_isotonic_calibration_gives_honest_rates_on_later_data(panel):
    model = RiskModel(RiskModelConfig(**{**SMALL.to_dict(), "calibration": "isotonic"})).fit(
        panel, infer_spec(panel, exclude=["conduct"])
    )
    later = synthetic_panel(3000, seed=4)
    p = model.predict_proba(later, neutral=False)
    assert metrics.expected_calibration_error(later["found_violation"], p) < 0.08


def test_calibration_slice_is_later_than_the_fitting_rows(fitted, panel):
    assert fitted.calibration_start_ > panel["as_of"].min()
    assert fitted.n_rows_["calibration"] == pytest.approx(0.25 * len(panel), rel=0.05)


def test_baseline_scorecard_is_trained_beside_the_model(panel, fitted):
    auc = metrics.roc_auc(panel["found_violation"], fitted.baseline_proba(panel, neutral=False))
    assert auc > 0.65
    points = fitted.baseline_.points_table()
    assert {"feature", "bin", "weight", "points"} <= set(points.columns)
    # More past violations cost points.
    violations = points[points["feature"] == "violations_12m"].iloc[:-1]  # drop the missing bin
    assert violations["points"].iloc[0] > violations["points"].iloc[-1]


def test_metadata_records_features_window_and_group_metrics(fitted):
    meta = fitted.metadata
    assert {f["name"] for f in meta["features"]} == set(fitted.spec_.features)
    assert {f["dtype"] for f in meta["features"]} == {"float64", "category"}
    assert set(meta["metrics"]["by_group"]) == {"kind", "ownership", "region_code"}
    assert meta["metrics"]["overall"]["roc_auc"] > 0.65


def test_missing_feature_column_is_named(panel, fitted):
    with pytest.raises(ValueError, match="violations_12m"):
        fitted.score(panel.drop(columns=["violations_12m"]))


def test_training_needs_both_outcomes_in_the_calibration_slice(panel):
    spec = infer_spec(panel, exclude=["conduct"])
    late = panel["as_of"] >= panel["as_of"].quantile(0.7)
    one_sided = panel.assign(found_violation=np.where(late, True, panel["found_violation"]))
    with pytest.raises(ValueError, match="calibration slice must contain"):
        RiskModel(SMALL).fit(one_sided, spec)


def _inspections(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["inspection_id", "institution_code", "start_date", "kind", "inspector_codes", "found_violation"]
    )


def test_inspector_record_uses_only_earlier_inspections():
    rows = [(f"I{i}", "H1", f"2024-01-{i + 1:02d}", "routine", "A;B", True) for i in range(10)]
    rows += [("J0", "H2", "2024-01-01", "routine", "C;D", False), ("J1", "H2", "2024-01-20", "routine", "A;D", False)]
    outcomes = inspection_outcomes(_inspections(rows))
    history = inspector_history(outcomes).set_index("inspection_id")
    assert history.loc["I0", "inspector__detection"] == 0.0  # nothing known yet
    assert history.loc["I9", "inspector__detection"] > history.loc["I1", "inspector__detection"] > 0
    assert history.loc["J1", "inspector__experience"] > 0
    # Changing a later outcome does not change an earlier record.
    changed = outcomes.copy()
    changed.loc[changed["inspection_id"] == "I9", "found_violation"] = False
    again = inspector_history(changed).set_index("inspection_id")
    assert again.loc["I5"].equals(history.loc["I5"])


def test_nuisance_columns_refuse_an_unknown_kind():
    outcomes = inspection_outcomes(_inspections([("I0", "H1", "2024-01-01", "raid", "A;B", True)]))
    with pytest.raises(ValueError, match="inspection kind must be one of"):
        nuisance_columns(outcomes)
