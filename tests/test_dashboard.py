"""The dashboard: login with CSRF, Chinese by default with English on request, region scope."""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import re

import pytest

from api.audit import list_entries
from tests.api_fixtures import (  # noqa: F401 (pytest fixtures are used by name)
    COUNTY,
    OTHER_INSTITUTION,
    OWN_INSTITUTION,
    _factory_rows,
    module_store,
    shared_app,
    shared_client,
    shared_tokens,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/login") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def login(client, token: str, next_path: str = ""):
    return client.post("/login", data={"token": token, "csrf_token": csrf_of(client), "next": next_path})


def test_pages_redirect_to_login_without_a_session(shared_client):
    response = shared_client.get("/institutions?kind=pharmacy")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=/institutions")


def test_login_sets_a_strict_httponly_session_holding_no_token(shared_client, shared_tokens):
    response = login(shared_client, shared_tokens.scheduler_county)
    assert response.status_code == 302 and response.location == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert shared_tokens.scheduler_county not in cookie


def test_login_with_a_wrong_token_is_refused(shared_client, shared_tokens):
    response = login(shared_client, "mc_wrong")
    assert response.status_code == 401
    assert "令牌无效" in response.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused(shared_client, shared_tokens):
    response = shared_client.post("/login", data={"token": shared_tokens.admin})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_login_never_redirects_off_site(shared_client, shared_tokens):
    assert login(shared_client, shared_tokens.admin, "//evil.example/x").location == "/"
    assert login(shared_client, shared_tokens.admin, "https://evil.example/").location == "/"
    assert login(shared_client, shared_tokens.admin, "/institutions").location == "/institutions"


def test_overview_is_in_chinese_and_counts_only_the_users_county(shared_client, shared_tokens):
    login(shared_client, shared_tokens.scheduler_county)
    page = shared_client.get("/").get_data(as_text=True)
    assert "总览" in page and "机构分布" in page
    assert re.search(r'data-testid="kpi-institutions">3<', page)
    assert "<svg" in page


def test_english_on_request_and_remembered(shared_client, shared_tokens):
    login(shared_client, shared_tokens.admin)
    response = shared_client.get("/?lang=en")
    assert "Overview" in response.get_data(as_text=True)
    assert "lang=en" in response.headers["Set-Cookie"]
    assert "Institutions by county and kind" in shared_client.get("/").get_data(as_text=True)


def test_institution_list_filters_and_links_to_detail(shared_client, shared_tokens):
    login(shared_client, shared_tokens.admin)
    page = shared_client.get("/institutions?kind=pharmacy").get_data(as_text=True)
    assert "好药房" in page and "乡镇药店" in page and "市第一医院" not in page
    assert f'href="/institutions/{OTHER_INSTITUTION}"' in page


def test_institution_detail_page_is_audited(shared_app, shared_client, shared_tokens):
    login(shared_client, shared_tokens.scheduler_county)
    page = shared_client.get(f"/institutions/{OWN_INSTITUTION}").get_data(as_text=True)
    assert "市第一医院" in page and "分解住院" in page
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="institution.read")[-1]
    assert entry["resource"] == f"/institutions/{OWN_INSTITUTION}" and entry["region"] == COUNTY


def test_another_countys_institution_page_is_forbidden(shared_client, shared_tokens):
    login(shared_client, shared_tokens.scheduler_county)
    response = shared_client.get(f"/institutions/{OTHER_INSTITUTION}")
    assert response.status_code == 403
    assert "属地管辖" in response.get_data(as_text=True)


def test_logout_needs_csrf_and_ends_the_session(shared_client, shared_tokens):
    login(shared_client, shared_tokens.admin)
    assert shared_client.post("/logout").status_code == 400
    token = csrf_of(shared_client, "/")
    assert shared_client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert shared_client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/", "/institutions", f"/institutions/{OWN_INSTITUTION}", "/login"])
def test_pages_load_no_external_asset(shared_client, shared_tokens, path):
    login(shared_client, shared_tokens.admin)
    page = shared_client.get(path).get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets


def test_targeted_inspections_are_picked_and_their_leads_downloaded_from_the_page(
    shared_app, shared_client, shared_tokens
):
    login(shared_client, shared_tokens.admin)
    page = shared_client.get("/targeted").get_data(as_text=True)
    assert "重点检查选取" in page and 'id="new-targeted"' in page
    token = csrf_of(shared_client, "/targeted")
    refused = shared_client.post("/targeted", data={"as_of": "2024-12-31", "budget": "0", "csrf_token": token})
    assert refused.status_code == 302
    assert "可安排户数（预算）: 1–100000" in shared_client.get("/targeted").get_data(as_text=True)
    made = shared_client.post("/targeted", data={"as_of": "2024-12-31", "budget": "2", "csrf_token": token})
    assert made.status_code == 302 and "/targeted?selection_id=" in made.location
    selection_id = int(made.location.rsplit("=", 1)[1])
    shown = shared_client.get(made.location).get_data(as_text=True)
    assert "重点检查名单已生成" in shown and f"#{selection_id} · 2024-12-31" in shown
    assert f"/targeted/{selection_id}/leads.csv" in shown and "下载智能审核线索" in shown
    english = shared_client.get(made.location + "&lang=en").get_data(as_text=True)
    assert "Targeted inspections" in english and "Download flagged claims" in english
    leads = shared_client.get(f"/targeted/{selection_id}/leads.csv")
    assert leads.status_code == 200 and leads.mimetype == "text/csv"
    text = leads.get_data(as_text=True)
    assert text.startswith("\ufeffclaim_id,institution_code,rule,rule_zh,rule_en,event_month,known_from")
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="selection.leads.read")[-1]
    assert entry["resource"].endswith(f"/targeted/{selection_id}/leads.csv")
    assert shared_client.get("/targeted?selection_id=999999").status_code == 404
    login(shared_client, shared_tokens.scheduler_county)
    assert shared_client.get("/targeted").status_code == 403
