"""The API: OpenAPI description, problem+json errors, tokens, roles, region scope, resources."""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import io
import time

import pytest
import sqlalchemy as sa

from api.audit import list_entries
from api.auth import create_token, revoke_token
from api.store import api_tokens
from tests.api_fixtures import (  # noqa: F401 (pytest fixtures are used by name)
    COUNTY,
    OTHER_COUNTY,
    OTHER_INSTITUTION,
    OWN_INSTITUTION,
    Tokens,
    _factory_rows,
    app,
    build_app,
    client,
    module_store,
    shared_app,
    shared_client,
    shared_tokens,
    tokens,
)
from tests.factories import INSTITUTIONS

H = Tokens.header
PROBLEM = "application/problem+json"


def engine_of(app):
    return app.extensions["medcredit.engine"]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["type"]
    return body


def test_openapi_description_lists_every_resource_and_documents_problems(shared_client):
    spec = shared_client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/institutions", "/api/v1/institutions/{code}", "/api/v1/imports", "/api/v1/audit/entries"):
        assert path in spec["paths"]
    default = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(default) == [PROBLEM]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_its_assets_from_this_server_only(shared_client):
    page = shared_client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page
    assert "http://" not in page and "https://" not in page
    with shared_client.get("/static/swagger-ui/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200


def test_request_without_token_gets_401_problem_with_challenge(shared_client):
    response = shared_client.get("/api/v1/institutions")
    body = assert_problem(response, 401)
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert "Authorization" in body["detail"]


@pytest.mark.parametrize("header", ["Bearer mc_not-a-real-token", "Basic dXNlcjpwdw==", "Bearer "])
def test_wrong_token_gets_401(shared_client, shared_tokens, header):
    assert_problem(shared_client.get("/api/v1/institutions", headers={"Authorization": header}), 401)


def test_revoked_token_stops_working_within_the_cache_time(store, _factory_rows):
    quick = build_app(store, _factory_rows, TOKEN_CACHE_SECONDS=0.2)
    client, engine = quick.test_client(), engine_of(quick)
    secret = create_token(engine, name="临时", role="auditor", regions="all").secret
    token_id = client.get("/api/v1/me", headers=H(secret)).get_json()["token_id"]
    assert revoke_token(engine, token_id)
    time.sleep(0.25)
    assert_problem(client.get("/api/v1/me", headers=H(secret)), 401)
    engine.dispose()


def test_tokens_are_stored_only_as_sha256(shared_app, shared_tokens):
    with engine_of(shared_app).connect() as connection:
        stored = [tuple(row) for row in connection.execute(sa.select(api_tokens))]
    flat = " ".join(str(value) for row in stored for value in row)
    assert shared_tokens.admin not in flat and shared_tokens.scheduler_county not in flat


def test_role_without_permission_gets_403(shared_client, shared_tokens):
    body = assert_problem(shared_client.get("/api/v1/audit/entries", headers=H(shared_tokens.scheduler_all)), 403)
    assert "audit:read" in body["detail"]
    assert shared_client.get("/api/v1/audit/entries", headers=H(shared_tokens.auditor)).status_code == 200


def test_county_user_lists_only_its_own_county(shared_client, shared_tokens):
    items = shared_client.get("/api/v1/institutions", headers=H(shared_tokens.scheduler_county)).get_json()["items"]
    assert {i["region_code"] for i in items} == {COUNTY}
    everything = shared_client.get("/api/v1/institutions", headers=H(shared_tokens.admin)).get_json()
    assert everything["total"] == len(INSTITUTIONS)


def test_county_user_cannot_read_another_countys_institution(shared_client, shared_tokens):
    body = assert_problem(
        shared_client.get(f"/api/v1/institutions/{OTHER_INSTITUTION}", headers=H(shared_tokens.scheduler_county)), 403
    )
    assert OTHER_COUNTY in body["detail"] and "属地" in body["detail"]
    own = shared_client.get(f"/api/v1/institutions/{OTHER_INSTITUTION}", headers=H(shared_tokens.planner_other_county))
    assert own.status_code == 200


def test_county_filter_outside_scope_returns_nothing(shared_client, shared_tokens):
    page = shared_client.get(
        f"/api/v1/institutions?county={OTHER_COUNTY}", headers=H(shared_tokens.scheduler_county)
    ).get_json()
    assert page["total"] == 0 and page["items"] == []


def test_unknown_institution_is_404_problem(shared_client, shared_tokens):
    body = assert_problem(shared_client.get("/api/v1/institutions/H99999999999", headers=H(shared_tokens.admin)), 404)
    assert "H99999999999" in body["detail"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=pharmacy", {"P44150200003", "P44152100004"}),
        (f"county={COUNTY}&kind=hospital", {"H44150200001"}),
        ("q=卫生院", {"H44150200002"}),
        ("q=P4415", {"P44150200003", "P44152100004"}),
        ("status=terminated", set()),
    ],
)
def test_institution_list_filters(shared_client, shared_tokens, query, expected):
    page = shared_client.get(f"/api/v1/institutions?{query}", headers=H(shared_tokens.admin)).get_json()
    assert {i["institution_code"] for i in page["items"]} == expected
    assert page["total"] == len(expected)


def test_institution_list_pages(shared_client, shared_tokens):
    first = shared_client.get("/api/v1/institutions?per_page=3&page=1", headers=H(shared_tokens.admin)).get_json()
    second = shared_client.get("/api/v1/institutions?per_page=3&page=2", headers=H(shared_tokens.admin)).get_json()
    assert first["total"] == second["total"] == 4
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert not {i["institution_code"] for i in first["items"]} & {i["institution_code"] for i in second["items"]}


def test_invalid_query_gets_field_level_422(shared_client, shared_tokens):
    body = assert_problem(
        shared_client.get("/api/v1/institutions?page=0&kind=castle&county=44", headers=H(shared_tokens.admin)), 422
    )
    fields = {(e["location"], e["field"]) for e in body["errors"]}
    assert fields == {("query", "page"), ("query", "kind"), ("query", "county")}
    assert all(e["detail"] for e in body["errors"])


def test_institution_detail_counts_related_records_and_is_audited(shared_app, shared_client, shared_tokens):
    response = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}", headers=H(shared_tokens.scheduler_county))
    assert response.status_code == 200
    detail = response.get_json()
    assert detail["name"] == "市第一医院"
    assert detail["counts"]["violations"] == 1 and detail["counts"]["inspections"] == 1
    assert detail["recent_violations"][0]["violation_id"] == "V1"
    reads = list_entries(engine_of(shared_app), action="institution.read")
    assert reads[-1]["resource"] == f"/api/v1/institutions/{OWN_INSTITUTION}"
    assert reads[-1]["region"] == COUNTY and reads[-1]["actor"] == "城区调度"
    assert reads[-1]["payload"]["status"] == 200


def test_refused_detail_read_is_audited_too(shared_app, shared_client, shared_tokens):
    shared_client.get(f"/api/v1/institutions/{OTHER_INSTITUTION}", headers=H(shared_tokens.scheduler_county))
    last = list_entries(engine_of(shared_app), action="institution.read")[-1]
    assert last["payload"]["status"] == 403 and last["region"] == OTHER_COUNTY


def test_list_reads_are_not_audited(shared_app, shared_client, shared_tokens):
    before = list_entries(engine_of(shared_app), limit=1000)
    shared_client.get("/api/v1/institutions", headers=H(shared_tokens.admin))
    assert list_entries(engine_of(shared_app), limit=1000) == before


def test_method_not_allowed_is_a_problem_with_allow_header(shared_client, shared_tokens):
    response = shared_client.delete("/api/v1/institutions", headers=H(shared_tokens.admin))
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_unknown_path_is_a_problem(shared_client, shared_tokens):
    assert_problem(shared_client.get("/api/v1/no-such-thing", headers=H(shared_tokens.admin)), 404)


def test_unexpected_error_is_500_problem_without_internals(shared_client, shared_tokens):
    body = assert_problem(shared_client.get("/api/v1/_boom", headers=H(shared_tokens.admin)), 500)
    assert "secret" not in str(body)


@pytest.mark.parametrize(
    "url", ["/api/v1/institutions?q=a%00b", "/api/v1/institutions/H%0044150200001", "/api/v1/audit/entries?action=%00"]
)
def test_nul_characters_are_refused_before_reaching_the_database(shared_client, shared_tokens, url):
    body = assert_problem(shared_client.get(url, headers=H(shared_tokens.admin)), 400)
    assert "NUL" in body["detail"]


def test_health_needs_no_token(shared_client):
    assert shared_client.get("/api/v1/health").get_json()["status"] == "ok"


def test_me_describes_role_and_scope(shared_client, shared_tokens):
    me = shared_client.get("/api/v1/me", headers=H(shared_tokens.scheduler_county)).get_json()
    assert me["role"] == "scheduler" and me["regions"] == [COUNTY]
    assert "draws:write" in me["permissions"] and "audit:read" not in me["permissions"]


# -- imports ---------------------------------------------------------------------------------

INSPECTION_CSV = (
    "inspection_id,institution_code,start_date,kind,level,inspector_codes,found_violation\n"
    "I9,H44150200002,2024-08-01,routine,county,E1;E2,false\n"
)


def upload(client, token: str, files: dict[str, bytes], query: str = ""):
    data = {"files": [(io.BytesIO(content), name) for name, content in files.items()]}
    return client.post(f"/api/v1/imports{query}", data=data, headers=H(token), content_type="multipart/form-data")


def test_upload_imports_files_and_is_audited(app, client, tokens):
    response = upload(client, tokens.credit_staff, {"inspections.csv": INSPECTION_CSV.encode()})
    assert response.status_code == 201, response.get_data(as_text=True)
    report = response.get_json()
    assert report["rows_written"] == 1 and report["files"][0]["table"] == "inspections"
    entry = list_entries(engine_of(app))[-1]
    assert entry["action"] == "imports.create_import:post" and entry["payload"]["import_id"] == report["import_id"]
    assert entry["payload"]["files"][0]["file"] == "inspections.csv"
    history = client.get("/api/v1/imports", headers=H(tokens.credit_staff)).get_json()
    assert history[0]["import_id"] == report["import_id"] and history[0]["actor"] == "api:信用科"


def test_upload_with_chinese_file_name_finds_its_table(client, tokens):
    response = upload(client, tokens.admin, {"检查记录.csv": INSPECTION_CSV.encode()})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_bad_upload_is_rejected_with_every_problem_listed(shared_client, shared_tokens):
    bad = INSPECTION_CSV.replace("routine", "picnic") + "I11,H44150299999,2024-08-01,routine,county,E1;E2,false\n"
    body = assert_problem(upload(shared_client, shared_tokens.admin, {"inspections.csv": bad.encode()}), 422)
    assert body["type"].endswith("import-rejected")
    reasons = {(p["column"], p["reason"]) for p in body["problems"]}
    assert ("kind", "bad_code") in reasons and ("institution_code", "unknown_institution") in reasons
    assert body["problems_total"] == len(body["problems"])


def test_skip_bad_rows_writes_the_good_ones(client, tokens):
    rows = INSPECTION_CSV + "I10,H44150200002,2024-08-02,picnic,county,E1;E2,false\n"
    response = upload(client, tokens.admin, {"inspections.csv": rows.encode()}, "?skip_bad_rows=true")
    assert response.status_code == 201
    report = response.get_json()
    assert report["rows_written"] == 1 and report["skipped"][0]["reason"] == "bad_code"


def test_upload_without_files_is_422(shared_client, shared_tokens):
    body = assert_problem(
        shared_client.post(
            "/api/v1/imports", data={}, headers=H(shared_tokens.admin), content_type="multipart/form-data"
        ),
        422,
    )
    assert body["errors"][0]["field"] == "files"


def test_oversized_upload_is_413(store, _factory_rows):
    small = build_app(store, _factory_rows, MAX_CONTENT_LENGTH=10_000)
    secret = create_token(small.extensions["medcredit.engine"], name="a", role="admin", regions="all").secret
    response = upload(small.test_client(), secret, {"inspections.csv": INSPECTION_CSV.encode() * 200})
    body = assert_problem(response, 413)
    assert body["title_zh"] == "上传内容过大"
    small.extensions["medcredit.engine"].dispose()


def test_county_token_cannot_import(shared_client, shared_tokens):
    engine_free = assert_problem(upload(shared_client, shared_tokens.scheduler_county, {"inspections.csv": b"x"}), 403)
    assert "imports:write" in engine_free["detail"]


def test_inspections_list_respects_scope_and_filters(shared_client, shared_tokens):
    mine = shared_client.get("/api/v1/inspections", headers=H(shared_tokens.scheduler_county)).get_json()
    assert {i["institution_code"] for i in mine["items"]} == {"H44150200001", "P44150200003"}
    random_only = shared_client.get("/api/v1/inspections?kind=random", headers=H(shared_tokens.admin)).get_json()
    assert [i["inspection_id"] for i in random_only["items"]] == ["I1"]
    assert shared_client.get("/api/v1/inspections?year=2023", headers=H(shared_tokens.admin)).get_json()["total"] == 0


def test_permission_table_in_the_docs_matches_the_code():
    from pathlib import Path

    from api.auth import PERMISSIONS

    roles = ["planner", "scheduler", "credit_staff", "auditor", "admin"]
    text = (Path(__file__).parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {}
    for line in text.splitlines():
        if line.startswith("| `") and line.count("|") == len(roles) + 2 and ":" in line.split("|")[1]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            documented[cells[0].strip("`")] = {r for r, c in zip(roles, cells[1:], strict=True) if c == "✓"}
    expected = {p: {r for r in roles if p in PERMISSIONS[r]} for p in set().union(*PERMISSIONS.values())}
    assert documented == expected
