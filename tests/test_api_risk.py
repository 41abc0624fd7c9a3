"""Stored risk scores through the API and dashboard (list filter and columns, detail with reasons,
the risk endpoint), and the lists of stored targeted selections and plans."""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import pytest

from api.audit import list_entries
from scoring import risk_store
from tests.api_fixtures import (  # noqa: F401 (pytest fixtures are used by name)
    COUNTY,
    OTHER_INSTITUTION,
    OWN_INSTITUTION,
    Tokens,
    _factory_rows,
    app,
    client,
    module_store,
    shared_app,
    shared_client,
    shared_tokens,
    tokens,
)
from tests.risk_fixtures import train_small_model
from tests.test_dashboard import login

H = Tokens.header
AS_OF, EARLIER = "2025-01-01", "2024-06-30"


@pytest.fixture(scope="module")
def scored(shared_app):
    """The shared app's store scored twice by a small registered model; yields the latest scores."""
    engine = shared_app.extensions["medcredit.engine"]
    _, record = train_small_model(engine)
    risk_store.score_and_store(engine, as_of=EARLIER, actor="tests")
    risk_store.score_and_store(engine, as_of=AS_OF, actor="tests")
    latest = risk_store.latest_scores(engine).set_index("institution_code")
    assert latest["risk_level"].nunique() > 1, "the fixture should give more than one risk level"
    return latest, record


# -- API -------------------------------------------------------------------------------------


def test_institution_list_carries_risk_columns(shared_client, shared_tokens, scored):
    latest, _ = scored
    items = shared_client.get("/api/v1/institutions", headers=H(shared_tokens.admin)).get_json()["items"]
    assert len(items) == 4
    for item in items:
        row = latest.loc[item["institution_code"]]
        assert item["risk_level"] == row["risk_level"]
        assert item["risk_probability"] == pytest.approx(row["probability"])
        assert item["risk_priority"] == pytest.approx(row["priority"])


def test_risk_level_filter_keeps_region_scope(shared_client, shared_tokens, scored):
    latest, _ = scored
    for level in risk_store.RISK_LEVELS:
        expected = set(latest.index[latest["risk_level"] == level])
        got = shared_client.get(f"/api/v1/institutions?risk_level={level}", headers=H(shared_tokens.admin))
        assert {i["institution_code"] for i in got.get_json()["items"]} == expected
        county = shared_client.get(
            f"/api/v1/institutions?risk_level={level}", headers=H(shared_tokens.scheduler_county)
        ).get_json()["items"]
        assert {i["institution_code"] for i in county} == {c for c in expected if c != OTHER_INSTITUTION}
    bad = shared_client.get("/api/v1/institutions?risk_level=severe", headers=H(shared_tokens.admin))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "risk_level"


def test_institution_detail_has_the_latest_risk_with_reasons_and_is_audited(
    shared_app, shared_client, shared_tokens, scored
):
    latest, record = scored
    detail = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}", headers=H(shared_tokens.auditor))
    risk = detail.get_json()["risk"]
    row = latest.loc[OWN_INSTITUTION]
    assert risk["as_of"] == AS_OF and risk["model_version"] == record.version
    assert risk["risk_level"] == row["risk_level"] and risk["risk_level_zh"] == row["risk_level_zh"]
    assert risk["reasons"] == row["reasons"] and risk["reasons"]
    assert "推高了违规风险" in risk["reasons"][0]["zh"] and "raises the risk" in risk["reasons"][0]["en"]
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="institution.read")[-1]
    assert entry["resource"] == f"/api/v1/institutions/{OWN_INSTITUTION}" and entry["actor"] == "审计员"


def test_risk_endpoint_gives_current_and_history_and_is_audited(shared_app, shared_client, shared_tokens, scored):
    response = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/risk", headers=H(shared_tokens.admin))
    body = response.get_json()
    assert response.status_code == 200 and body["institution_code"] == OWN_INSTITUTION
    assert [h["as_of"] for h in body["history"]] == [AS_OF, EARLIER]
    assert body["current"] == body["history"][0]
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="institution.risk.read")[-1]
    assert entry["resource"].endswith(f"{OWN_INSTITUTION}/risk") and entry["payload"]["status"] == 200


def test_risk_of_another_county_is_forbidden_and_unknown_is_404(shared_app, shared_client, shared_tokens, scored):
    refused = shared_client.get(
        f"/api/v1/institutions/{OTHER_INSTITUTION}/risk", headers=H(shared_tokens.scheduler_county)
    )
    assert refused.status_code == 403 and "441521" in refused.get_json()["detail"]
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="institution.risk.read")[-1]
    assert entry["payload"]["status"] == 403  # refused reads are audited too
    assert (
        shared_client.get("/api/v1/institutions/H99999999999/risk", headers=H(shared_tokens.admin)).status_code == 404
    )


def test_without_stored_scores_risk_is_null(client, tokens):
    body = client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/risk", headers=H(tokens.admin)).get_json()
    assert body == {"institution_code": OWN_INSTITUTION, "current": None, "history": []}
    assert client.get(f"/api/v1/institutions/{OWN_INSTITUTION}", headers=H(tokens.admin)).get_json()["risk"] is None
    items = client.get("/api/v1/institutions", headers=H(tokens.admin)).get_json()["items"]
    assert {i["risk_level"] for i in items} == {None}
    assert client.get("/api/v1/institutions?risk_level=low", headers=H(tokens.admin)).get_json()["items"] == []


def test_targeted_selections_and_plans_are_listed(client, tokens):
    assert client.get("/api/v1/selections/targeted", headers=H(tokens.admin)).get_json() == []
    assert client.get("/api/v1/plans", headers=H(tokens.admin)).get_json() == []
    first = client.post("/api/v1/selections", json={"as_of": "2024-12-31", "budget": 2}, headers=H(tokens.admin))
    second = client.post("/api/v1/selections", json={"as_of": "2024-12-31", "budget": 3}, headers=H(tokens.admin))
    selections = client.get("/api/v1/selections/targeted", headers=H(tokens.auditor)).get_json()
    assert [s["selection_id"] for s in selections] == [
        second.get_json()["selection_id"],
        first.get_json()["selection_id"],
    ]
    assert selections[0]["budget"] == 3 and selections[0]["as_of"] == "2024-12-31"
    assert selections[0]["selected_count"] == len(second.get_json()["selected"])
    ids = [first.get_json()["selection_id"]]
    plan = client.post("/api/v1/plans", json={"year": 2024, "selection_ids": ids}, headers=H(tokens.admin))
    assert plan.status_code == 201, plan.get_data(as_text=True)
    plans = client.get("/api/v1/plans", headers=H(tokens.auditor)).get_json()
    assert len(plans) == 1 and plans[0]["plan_id"] == plan.get_json()["plan_id"]
    assert plans[0]["regions"] is None and plans[0]["selection_ids"] == ids and plans[0]["draw_ids"] == []
    assert plans[0]["visits"] == len(plan.get_json()["visits"]) and plans[0]["year"] == 2024


def test_lists_of_selections_and_plans_keep_scope_and_permissions(shared_client, shared_tokens):
    county = H(shared_tokens.planner_other_county)
    for path in ("/api/v1/selections/targeted", "/api/v1/plans"):
        refused = shared_client.get(path, headers=county)
        assert refused.status_code == 403 and "all regions" in refused.get_json()["detail"]
    assert shared_client.get("/api/v1/selections/targeted", headers=H(shared_tokens.credit_staff)).status_code == 403
    assert shared_client.get("/api/v1/plans", headers=H(shared_tokens.credit_staff)).status_code == 200
    assert shared_client.get("/api/v1/plans").status_code == 401


def test_openapi_describes_the_new_operations(shared_client):
    spec = shared_client.get("/api/v1/openapi.json").get_json()
    assert "get" in spec["paths"]["/api/v1/institutions/{code}/risk"]
    assert "get" in spec["paths"]["/api/v1/plans"] and "post" in spec["paths"]["/api/v1/plans"]
    assert "get" in spec["paths"]["/api/v1/selections/targeted"]
    schemas = spec["components"]["schemas"]
    assert {"feature", "zh", "en", "contribution"} <= set(schemas["RiskReason"]["properties"])
    assert "risk" in schemas["InstitutionDetail"]["properties"]


# -- dashboard -------------------------------------------------------------------------------


def test_dashboard_list_filters_and_shows_risk_levels(shared_app, shared_tokens, scored):
    latest, _ = scored
    client = shared_app.test_client()
    login(client, shared_tokens.admin)
    level = latest.loc[OWN_INSTITUTION, "risk_level"]
    page = client.get(f"/institutions?risk_level={level}").get_data(as_text=True)
    expected = set(latest.index[latest["risk_level"] == level])
    for code in latest.index:
        assert (f"<code>{code}</code>" in page) == (code in expected)
    assert f'class="pill risk-{level}">{risk_store.RISK_LEVEL_ZH[level]}<' in page
    english = client.get(f"/institutions?risk_level={level}&lang=en").get_data(as_text=True)
    assert f">{risk_store.RISK_LEVEL_EN[level]}</span>" in english


def test_dashboard_detail_shows_risk_reasons_in_both_languages(shared_app, shared_tokens, scored):
    latest, record = scored
    client = shared_app.test_client()
    login(client, shared_tokens.admin)
    reasons = latest.loc[OWN_INSTITUTION, "reasons"]
    zh = client.get(f"/institutions/{OWN_INSTITUTION}").get_data(as_text=True)
    assert "风险原因" in zh and reasons[0]["zh"] in zh and record.version in zh
    assert 'data-testid="risk-level"' in zh and "风险评分历史" in zh  # two batches → a history chart
    en = client.get(f"/institutions/{OWN_INSTITUTION}?lang=en").get_data(as_text=True)
    assert "Risk reasons" in en and reasons[0]["en"].replace("'", "&#39;") in en


def test_dashboard_overview_charts_risk_by_county_and_kind(shared_app, shared_tokens, scored):
    client = shared_app.test_client()
    login(client, shared_tokens.admin)
    page = client.get("/").get_data(as_text=True)
    assert "风险等级分布（按区县）" in page and "风险等级分布（按机构类型）" in page
    county = shared_app.test_client()
    login(county, shared_tokens.scheduler_county)
    scoped = county.get("/").get_data(as_text=True)
    assert "风险等级分布（按区县）" in scoped and "441521 · " not in scoped  # bars only for the caller's county


def test_dashboard_detail_without_scores_says_how_to_score(app, tokens):
    client = app.test_client()
    login(client, tokens.admin)
    page = client.get(f"/institutions/{OWN_INSTITUTION}").get_data(as_text=True)
    assert "尚未评分" in page and 'data-testid="risk-level"' not in page
