"""Reasons: the model's own contributions, as sentences tied to the feature catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import feature_catalogue
from models.dataset import infer_spec
from models.reasons import CatalogueEntry, catalogue_entries, reason_sentences, top_reasons
from models.synthetic import synthetic_panel
from models.training import RiskModel, RiskModelConfig

CATALOGUE = pd.DataFrame(
    [
        {
            "name": "violations_12m",
            "label_zh": "近12个月违规次数",
            "label_en": "violations in the last 12 months",
            "unit": "count",
        },
        {
            "name": "amount_violations_12m",
            "label_zh": "近12个月违规金额",
            "label_en": "violation amount, 12 months",
            "unit": "yuan",
        },
    ]
)


@pytest.fixture(scope="module")
def model() -> RiskModel:
    panel = synthetic_panel(2500, seed=8)
    config = RiskModelConfig(n_estimators=60, amount_estimators=20, num_leaves=7, min_child_samples=20)
    return RiskModel(config).fit(panel, infer_spec(panel, exclude=["conduct"]), catalogue=CATALOGUE)


def test_contributions_add_up_to_the_raw_neutral_score(model):
    frame = synthetic_panel(50, seed=9)
    contributions = model.contributions(frame)
    raw = model.classifier_.predict(model._prepare(frame, neutral=True), raw_score=True)
    assert np.allclose(contributions.sum(axis=1), raw)


def test_worst_institution_is_told_about_its_violations_in_both_languages(model):
    frame = synthetic_panel(400, seed=10)
    worst = frame.loc[[frame["violations_12m"].idxmax()]]
    reasons = model.reasons(worst, top=3)
    assert len(reasons) >= 1
    first = reasons[reasons["feature"] == "violations_12m"].iloc[0]
    assert first["reason_zh"].startswith("「近12个月违规次数」为")
    assert "raises the risk" in first["reason_en"]
    assert (reasons["contribution"] > 0).all()
    assert list(reasons["rank"]) == list(range(1, len(reasons) + 1))


def test_feature_missing_from_the_catalogue_is_named_by_its_column(model):
    frame = synthetic_panel(300, seed=11)
    reasons = model.reasons(frame, top=5)
    uncatalogued = reasons[~reasons["feature"].isin(CATALOGUE["name"])]
    assert not uncatalogued.empty
    row = uncatalogued.iloc[0]
    assert f"「{row['feature']}」" in row["reason_zh"]


def test_inspection_conditions_are_never_a_reason(model):
    reasons = model.reasons(synthetic_panel(200, seed=12), top=10)
    assert not reasons["feature"].str.startswith(("inspection_kind__", "inspector__", "_")).any()


def test_sentences_format_money_shares_and_missing_values():
    money = CatalogueEntry("amount", "违规金额", "violation amount", "yuan")
    zh, en = reason_sentences(money, 12345.6, 2000.0, 0.4)
    assert zh == "「违规金额」为 12,346 元（一般机构为 2,000 元），推高了违规风险。"
    assert en == "Violation amount is ¥12,346 (typical: ¥2,000), which raises the risk of a violation."
    share = CatalogueEntry("share", "重复收费占比", "duplicate billing share", "share")
    zh, _ = reason_sentences(share, float("nan"), 0.02, -0.1)
    assert zh == "「重复收费占比」为 无记录（一般机构为 2.0%），降低了违规风险。"


def test_catalogue_accepts_a_mapping_with_chinese_and_english_fields():
    entries = catalogue_entries({"x": {"zh": "甲", "en": "alpha", "unit": "count"}})
    assert entries["x"] == CatalogueEntry("x", "甲", "alpha", "count")


def test_top_reasons_keeps_only_contributions_of_the_requested_sign():
    contributions = pd.DataFrame({"a": [0.5, -0.2], "b": [-0.1, -0.3], "_baseline": [1.0, 1.0]})
    values = pd.DataFrame({"a": [3.0, 0.0], "b": [1.0, 2.0]})
    raises = top_reasons(contributions, values, top=2)
    assert list(raises["feature"]) == ["a"]
    lowers = top_reasons(contributions, values, top=1, direction="lowers")
    assert list(lowers["feature"]) == ["b", "b"]
    with pytest.raises(ValueError, match="direction must be one of"):
        top_reasons(contributions, values, direction="up")


def test_peer_z_scores_are_told_as_distance_from_peers_under_the_base_features_name():
    entries = catalogue_entries(feature_catalogue())
    entry = entries["clm_long_supply_rate_12m_pz"]
    zh, en = reason_sentences(entry, 4.7, 0.0, 0.3)
    assert zh == "「近12个月单次超量开药占比」高于同类机构 4.7 个标准差，推高了违规风险。"
    assert en == (
        "Prescriptions over the days' supply limit, share of dispensings, last 12 months, is 4.7 SD above its "
        "peers, which raises the risk of a violation."
    )
    zh, en = reason_sentences(entry, -1.25, 0.0, -0.1)
    assert "低于同类机构 1.2 个标准差，降低了违规风险" in zh and "1.2 SD below its peers, which lowers" in en


def test_monthly_trends_are_told_in_percentage_points_a_month():
    entry = catalogue_entries(feature_catalogue())["clm_exam_heavy_stay_rate_trend"]
    zh, en = reason_sentences(entry, -0.00319, 0.0, 0.2)
    assert "每月 -0.32 个百分点" in zh
    assert en.startswith("Monthly trend in exam-heavy stays as a share of stays is -0.32 percentage points a month")


def test_every_catalogue_feature_has_a_short_english_label_without_parameter_names():
    catalogue = feature_catalogue()
    assert catalogue["en"].str.len().gt(0).all()
    parameters = ("group_min", "readmit_days", "supply_lookback", "exam_heavy_share", "low_value_yuan", "_")
    labels = catalogue.loc[catalogue["name"].str.startswith("clm_"), "en"]
    assert not labels.str.contains("|".join(parameters), regex=True).any(), labels[labels.str.contains("_")]
    assert labels.str.len().max() <= 100


def test_a_feature_and_its_peer_z_score_make_one_reason_with_their_contributions_summed():
    name = "clm_low_standard_stay_rate_12m"
    contributions = pd.DataFrame({name: [0.2], f"{name}_pz": [0.3], "viol_days_since_last": [0.4]})
    values = pd.DataFrame({name: [0.174], f"{name}_pz": [3.6], "viol_days_since_last": [28.0]})
    reasons = top_reasons(contributions, values, catalogue=feature_catalogue(), typical={name: 0.047}, top=3)
    assert list(reasons["feature"]) == [name, "viol_days_since_last"]
    assert reasons["contribution"].iloc[0] == pytest.approx(0.5)
    first = reasons.iloc[0]
    assert first["reason_zh"] == (
        "「近12个月低标准入院占比」为 17.4%（一般机构为 4.7%），高于同类机构 3.6 个标准差，推高了违规风险。"
    )
    assert first["reason_en"] == (
        "Low-standard admissions, share of stays, last 12 months, is 17.4% (typical: 4.7%), 3.6 SD above its "
        "peers, which raises the risk of a violation."
    )
    # a z-score whose feature is not among the inputs stays a reason of its own
    alone = top_reasons(contributions[[f"{name}_pz"]], values[[f"{name}_pz"]], catalogue=feature_catalogue())
    assert list(alone["feature"]) == [f"{name}_pz"] and "高于同类机构 3.6 个标准差" in alone["reason_zh"].iloc[0]
