"""Credit grades, runs, objections, draws, plans and outcomes through the API (thin views over
scoring): the round trips, the region scope and the problem answers."""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import io

import openpyxl
import pytest

from api.audit import list_entries
from tests.api_fixtures import (  # noqa: F401 (pytest fixtures are used by name)
    COUNTY,
    GRADED_AS_OF,
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

H = Tokens.header
DRAW_DATE = "2026-06-01"
DICE = "6" * 5 + "1234512345123451"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()


# -- grades ----------------------------------------------------------------------------------


def test_current_grade_comes_from_the_newest_run(shared_client, shared_tokens):
    grade = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(shared_tokens.admin))
    assert grade.status_code == 200
    body = grade.get_json()
    assert body["grade"] in "ABCD" and body["as_of"] == GRADED_AS_OF and body["policy_name"] == "national-100"
    assert body["score"] < 100  # the factories give this hospital a confirmed recovery in 2024


def test_grade_of_another_county_is_forbidden(shared_client, shared_tokens):
    problem(
        shared_client.get(f"/api/v1/institutions/{OTHER_INSTITUTION}/grade", headers=H(shared_tokens.scheduler_county)),
        403,
    )


def test_grade_lines_explain_the_score_and_their_read_is_audited(shared_app, shared_client, shared_tokens):
    lines = shared_client.get(
        f"/api/v1/institutions/{OWN_INSTITUTION}/grade/lines", headers=H(shared_tokens.auditor)
    ).get_json()
    grade = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(shared_tokens.auditor))
    assert sum(line["points"] for line in lines) == pytest.approx(grade.get_json()["score"] - 100)
    assert any("V1" in line["line_id"] for line in lines)
    entry = list_entries(shared_app.extensions["medcredit.engine"], action="institution.credit_lines")[-1]
    assert entry["resource"].endswith("/grade/lines") and entry["actor"] == "审计员"


@pytest.mark.parametrize(("lang", "word"), [("zh", "信用评价"), ("en", "Credit evaluation")])
def test_grade_reasons_in_both_languages(shared_client, shared_tokens, lang, word):
    body = shared_client.get(
        f"/api/v1/institutions/{OWN_INSTITUTION}/grade/reasons?lang={lang}", headers=H(shared_tokens.admin)
    ).get_json()
    assert word in body["text"] and OWN_INSTITUTION in body["text"]


def test_grade_history_lists_every_run(shared_client, shared_tokens):
    history = shared_client.get(
        f"/api/v1/institutions/{OWN_INSTITUTION}/grade/history", headers=H(shared_tokens.admin)
    ).get_json()
    assert [h["run_id"] for h in history] == sorted(h["run_id"] for h in history) and len(history) >= 1


def test_grade_filter_on_the_institution_list(shared_client, shared_tokens):
    grade = shared_client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(shared_tokens.admin))
    wanted = grade.get_json()["grade"]
    page = shared_client.get(f"/api/v1/institutions?grade={wanted}", headers=H(shared_tokens.admin)).get_json()
    assert OWN_INSTITUTION in {i["institution_code"] for i in page["items"]}
    assert all(i["grade"] == wanted for i in page["items"])


def test_run_results_are_limited_to_the_callers_regions(shared_client, shared_tokens):
    run_id = shared_client.get("/api/v1/credit/runs", headers=H(shared_tokens.admin)).get_json()[0]["run_id"]
    everyone = shared_client.get(f"/api/v1/credit/runs/{run_id}/results", headers=H(shared_tokens.admin)).get_json()
    county = shared_client.get(
        f"/api/v1/credit/runs/{run_id}/results", headers=H(shared_tokens.scheduler_county)
    ).get_json()
    assert everyone["total"] == 4 and county["total"] == 3
    assert OTHER_INSTITUTION not in {r["institution_code"] for r in county["items"]}


def test_migration_matrix_needs_an_all_region_token(shared_client, shared_tokens):
    run_id = shared_client.get("/api/v1/credit/runs", headers=H(shared_tokens.admin)).get_json()[0]["run_id"]
    query = f"/api/v1/grades/migration?run_a={run_id}&run_b={run_id}"
    matrix = shared_client.get(query, headers=H(shared_tokens.admin)).get_json()
    assert sum(map(sum, matrix["counts"])) == 4
    problem(shared_client.get(query, headers=H(shared_tokens.scheduler_county)), 403)


def test_unknown_run_is_404(shared_client, shared_tokens):
    problem(shared_client.get("/api/v1/credit/runs/999999", headers=H(shared_tokens.admin)), 404)


def test_starting_a_run_needs_credit_staff_and_a_known_policy(client, tokens):
    problem(client.post("/api/v1/credit/runs", json={"as_of": "2025-06-30"}, headers=H(tokens.scheduler_all)), 403)
    body = problem(
        client.post(
            "/api/v1/credit/runs", json={"as_of": "2025-06-30", "policy": "/etc/passwd"}, headers=H(tokens.credit_staff)
        ),
        422,
    )
    assert body["errors"][0]["field"] == "policy"
    run = client.post("/api/v1/credit/runs", json={"as_of": "2025-06-30"}, headers=H(tokens.credit_staff))
    assert run.status_code == 201 and run.get_json()["institutions"] == 4
    assert sum(run.get_json()["distribution"].values()) == 4
    grade = client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(tokens.admin)).get_json()
    assert grade["run_id"] == run.get_json()["run_id"]  # the new run is visible at once


# -- objections ------------------------------------------------------------------------------


def _deduction_line(client, token: str) -> str:
    lines = client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade/lines", headers=H(token)).get_json()
    return next(line["line_id"] for line in lines if line["kind"] == "deduction")


def test_upheld_objection_removes_the_line_and_regrades(client, tokens):
    line_id = _deduction_line(client, tokens.credit_staff)
    before = client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(tokens.admin)).get_json()
    filed = client.post(
        f"/api/v1/institutions/{OWN_INSTITUTION}/objections",
        json={"line_id": line_id, "reason": "处理决定已撤销", "attachments": ["撤销决定书.pdf"]},
        headers=H(tokens.credit_staff),
    )
    assert filed.status_code == 201, filed.get_data(as_text=True)
    objection = filed.get_json()
    assert objection["status"] == "pending" and objection["attachments"] == ["撤销决定书.pdf"]
    decided = client.post(
        f"/api/v1/objections/{objection['objection_id']}/decision",
        json={"upheld": True, "note": "核实属实"},
        headers=H(tokens.credit_staff),
    )
    assert decided.get_json()["status"] == "upheld" and decided.get_json()["regrade_run_id"]
    after = client.get(f"/api/v1/institutions/{OWN_INSTITUTION}/grade", headers=H(tokens.admin)).get_json()
    assert after["score"] > before["score"] and after["run_id"] == decided.get_json()["regrade_run_id"]


def test_objection_against_a_line_of_another_institution_is_404(client, tokens):
    body = problem(
        client.post(
            "/api/v1/institutions/H44150200002/objections",
            json={"line_id": _deduction_line(client, tokens.admin), "reason": "x"},
            headers=H(tokens.admin),
        ),
        404,
    )
    assert "not a credit line" in body["detail"]


def test_objection_in_another_county_is_forbidden(client, tokens):
    problem(
        client.post(
            f"/api/v1/institutions/{OTHER_INSTITUTION}/objections",
            json={"line_id": "x", "reason": "x"},
            headers=H(tokens.scheduler_county),
        ),
        403,
    )


def test_objection_body_is_validated_field_by_field(shared_client, shared_tokens):
    body = problem(
        shared_client.post(
            f"/api/v1/institutions/{OWN_INSTITUTION}/objections",
            json={"reason": "", "surprise": 1},
            headers=H(shared_tokens.credit_staff),
        ),
        422,
    )
    assert {e["field"] for e in body["errors"]} == {"line_id", "reason", "surprise"}


def test_malformed_json_is_a_clear_4xx(shared_client, shared_tokens):
    response = shared_client.post(
        f"/api/v1/institutions/{OWN_INSTITUTION}/objections",
        data="{not json",
        content_type="application/json",
        headers=H(shared_tokens.credit_staff),
    )
    assert 400 <= response.status_code < 500 and response.mimetype == "application/problem+json"


# -- draws -----------------------------------------------------------------------------------


def test_draw_lifecycle_freeze_seed_verify_export(app, client, tokens):
    frozen = client.post(
        "/api/v1/draws", json={"as_of": DRAW_DATE, "regions": [COUNTY]}, headers=H(tokens.scheduler_county)
    )
    assert frozen.status_code == 201, frozen.get_data(as_text=True)
    draw = frozen.get_json()
    assert draw["status"] == "frozen" and len(draw["pool_hash"]) == 64 and draw["pool_size"] == 3
    pool = client.get(f"/api/v1/draws/{draw['draw_id']}/pool", headers=H(tokens.scheduler_county)).get_json()
    assert {u["institution_code"] for u in pool["units"]} == {"H44150200001", "H44150200002", "P44150200003"}

    drawn = client.post(
        f"/api/v1/draws/{draw['draw_id']}/seed",
        json={"source": "dice", "value": DICE},
        headers=H(tokens.scheduler_county),
    )
    assert drawn.status_code == 200, drawn.get_data(as_text=True)
    result = drawn.get_json()
    assert result["status"] == "drawn" and result["seed"]["value"] == DICE and result["selected_count"] >= 1
    assert all(s["lead_inspector_code"] for s in result["selected"])

    verified = client.get(f"/api/v1/draws/{draw['draw_id']}/verify", headers=H(tokens.auditor)).get_json()
    assert verified["ok"] and verified["discrepancy"] is None

    again = client.post(
        f"/api/v1/draws/{draw['draw_id']}/seed",
        json={"source": "dice", "value": "1" * 20},
        headers=H(tokens.scheduler_county),
    )
    assert problem(again, 409)["status"] == 409

    with client.get(
        f"/api/v1/draws/{draw['draw_id']}/export?stage=draw&format=xlsx", headers=H(tokens.scheduler_county)
    ) as export:
        assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
        sheets = openpyxl.load_workbook(io.BytesIO(export.data)).sheetnames
    assert len(sheets) >= 2
    actions = [e["action"] for e in list_entries(app.extensions["medcredit.engine"])]
    assert "draws.create_draw:post" in actions and "draws.post_seed:post" in actions


def test_draw_of_another_county_is_forbidden(client, tokens):
    problem(
        client.post(
            "/api/v1/draws", json={"as_of": DRAW_DATE, "regions": ["441521"]}, headers=H(tokens.scheduler_county)
        ),
        403,
    )


def test_seed_is_validated(client, tokens):
    draw = client.post("/api/v1/draws", json={"as_of": DRAW_DATE, "regions": [COUNTY]}, headers=H(tokens.admin))
    draw_id = draw.get_json()["draw_id"]
    body = problem(
        client.post(f"/api/v1/draws/{draw_id}/seed", json={"source": "dice", "value": "12"}, headers=H(tokens.admin)),
        422,
    )
    assert "20" in body["detail"]
    assert client.get(f"/api/v1/draws/{draw_id}", headers=H(tokens.admin)).get_json()["status"] == "frozen"


def test_unknown_draw_is_404(shared_client, shared_tokens):
    problem(shared_client.get("/api/v1/draws/20260601-000000000000", headers=H(shared_tokens.admin)), 404)


# -- targeted selections, plans, outcomes ------------------------------------------------------


def test_targeted_selection_and_plan_round_trip(client, tokens):
    selection = client.post("/api/v1/selections", json={"as_of": "2024-12-31", "budget": 2}, headers=H(tokens.admin))
    assert selection.status_code == 201, selection.get_data(as_text=True)
    assert len(selection.get_json()["selected"]) <= 2
    plan = client.post("/api/v1/plans", json={"year": 2025}, headers=H(tokens.admin))
    assert plan.status_code == 201, plan.get_data(as_text=True)
    stored = client.get(f"/api/v1/plans/{plan.get_json()['plan_id']}", headers=H(tokens.planner_other_county))
    assert problem(stored, 403)["status"] == 403  # a county token cannot read a city-wide plan
    assert client.get(f"/api/v1/plans/{plan.get_json()['plan_id']}", headers=H(tokens.auditor)).status_code == 200


def test_a_targeted_selection_lists_the_leads_of_its_picks(app, client, tokens, monkeypatch):
    import pandas as pd

    import features.build

    selection = client.post("/api/v1/selections", json={"as_of": "2024-12-31", "budget": 2}, headers=H(tokens.admin))
    selection_id = selection.get_json()["selection_id"]
    picks = [s["institution_code"] for s in selection.get_json()["selected"]]
    empty = client.get(f"/api/v1/selections/{selection_id}/leads", headers=H(tokens.auditor))
    assert empty.status_code == 200, empty.get_data(as_text=True)
    assert empty.get_json() == {"selection_id": selection_id, "as_of": "2024-12-31", "counts": [], "leads": []}
    asked = []

    def leads(as_of, *, engine):
        asked.append(str(as_of))
        return pd.DataFrame(
            {
                "claim_id": ["C1", "C2", "C3"],
                "institution_code": [picks[0], picks[0], "H99999999999"],  # the last is not a pick
                "rule": ["long_supply", "split_admission", "long_supply"],
                "event_month": [2024 * 12 + 10, 2024 * 12 + 11, 2024 * 12 + 10],
                "known_from": pd.to_datetime(["2024-12-01", "2025-01-01", "2024-12-01"]),
            }
        )

    monkeypatch.setattr(features.build, "claim_leads", leads)
    body = client.get(f"/api/v1/selections/{selection_id}/leads", headers=H(tokens.admin)).get_json()
    assert asked == ["2024-12-31"]
    assert [lead["claim_id"] for lead in body["leads"]] == ["C1", "C2"]
    assert body["leads"][0] == {
        "claim_id": "C1",
        "institution_code": picks[0],
        "rule": "long_supply",
        "rule_zh": "单次超量开药",
        "rule_en": "prescriptions over the days' supply limit",
        "event_month": "2024-11",
        "known_from": "2024-12-01",
    }
    assert [(c["rule"], c["claims"]) for c in body["counts"]] == [("long_supply", 1), ("split_admission", 1)]
    assert len(list_entries(app.extensions["medcredit.engine"], action="selection.leads.read")) == 2
    one_rule = client.get(f"/api/v1/selections/{selection_id}/leads?rule=split_admission", headers=H(tokens.admin))
    assert [lead["claim_id"] for lead in one_rule.get_json()["leads"]] == ["C2"]
    url = f"/api/v1/selections/{selection_id}/leads"
    problem(client.get(f"{url}?institution_code=H99999999999", headers=H(tokens.admin)), 404)
    problem(client.get(f"{url}?rule=nonsense", headers=H(tokens.admin)), 422)
    problem(client.get("/api/v1/selections/999999/leads", headers=H(tokens.admin)), 404)
    problem(client.get(url, headers=H(tokens.planner_other_county)), 403)
    problem(client.get(url), 401)


def test_recording_an_outcome_writes_the_inspection(client, tokens):
    body = {
        "institution_code": "H44150200002",
        "start_date": "2025-03-03",
        "level": "county",
        "kind": "routine",
        "inspector_codes": ["E1", "E2"],
        "found_violation": False,
    }
    recorded = client.post("/api/v1/inspections", json=body, headers=H(tokens.scheduler_county))
    assert recorded.status_code == 201, recorded.get_data(as_text=True)
    listed = client.get("/api/v1/inspections?institution_code=H44150200002", headers=H(tokens.admin)).get_json()
    assert recorded.get_json()["inspection_id"] in {i["inspection_id"] for i in listed["items"]}
    problem(
        client.post(
            "/api/v1/inspections",
            json={**body, "institution_code": OTHER_INSTITUTION},
            headers=H(tokens.scheduler_county),
        ),
        403,
    )


def test_demo_tokens_cover_every_role_and_one_county_user(app):
    from api.commands.serve import demo_tokens

    tokens = demo_tokens(app.extensions["medcredit.engine"])
    assert {t.role for t in tokens} == {"admin", "credit_staff", "planner", "auditor", "scheduler"}
    county = [t for t in tokens if t.regions is not None]
    assert len(county) == 1 and county[0].regions == frozenset({COUNTY})
    me = app.test_client().get("/api/v1/me", headers=H(county[0].secret)).get_json()
    assert me["regions"] == [COUNTY]


def test_model_endpoints_say_clearly_when_no_model_is_registered(shared_client, shared_tokens):
    assert shared_client.get("/api/v1/model/versions", headers=H(shared_tokens.planner_other_county)).get_json() == []
    for path in ("/api/v1/model", "/api/v1/model/card", "/api/v1/model/metrics", "/api/v1/model/versions/v1"):
        body = problem(shared_client.get(path, headers=H(shared_tokens.planner_other_county)), 404)
        assert "model" in body["detail"]
