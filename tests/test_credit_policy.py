"""Credit policies as data files: the built-ins load, bad files name the key, the value and what is allowed."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from scoring.policy import BUILTIN_POLICIES, POLICY_DIR, CreditPolicy, PolicyError, load_policy

DOCS = Path(__file__).resolve().parents[1] / "docs" / "credit-policy.md"


def national() -> dict:
    return yaml.safe_load((POLICY_DIR / "national-100.yaml").read_text(encoding="utf-8"))


def problems(data: dict) -> list[str]:
    with pytest.raises(PolicyError) as error:
        CreditPolicy.from_mapping(data, source="test.yaml")
    return error.value.problems


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtin_policies_load_and_round_trip_through_their_canonical_form(name):
    policy = load_policy(name)
    again = CreditPolicy.from_json(policy.canonical_json())
    assert again == policy
    assert again.sha256 == policy.sha256 and len(policy.sha256) == 64


def test_national_policy_has_the_inner_mongolia_bands():
    policy = load_policy("national-100")
    assert (policy.scale, policy.base) == (100, 100)
    assert [(g.grade, g.min) for g in policy.grades] == [("A", 90), ("B", 80), ("C", 65), ("D", None)]
    assert {v.grade for v in policy.vetoes} == {"D"}


def test_guangdong_policy_is_a_thousand_points_from_850_with_five_grades():
    policy = load_policy("guangdong-1000")
    assert (policy.scale, policy.base) == (1000, 850)
    assert policy.grade_names == ("A", "B", "C", "D", "E")
    assert {v.grade for v in policy.vetoes} == {"E"}
    assert {"sdl_fraud_large", "sdl_criminal"} <= {v.id for v in policy.vetoes}


def test_hash_ignores_key_order_and_yaml_spelling_but_not_numbers():
    data = national()
    reordered = dict(reversed(list(data.items())))
    assert CreditPolicy.from_mapping(reordered).sha256 == load_policy("national-100").sha256
    changed = copy.deepcopy(data)
    changed["indicators"][0]["points"] = 2
    assert CreditPolicy.from_mapping(changed).sha256 != load_policy("national-100").sha256


def test_policy_loads_from_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text((POLICY_DIR / "national-100.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_policy(path).sha256 == load_policy("national-100").sha256


def test_unknown_policy_name_lists_the_builtins():
    with pytest.raises(ValueError, match=r"built-in name \['national-100', 'guangdong-1000'\].*'national-99'"):
        load_policy("national-99")


def test_invalid_yaml_is_a_policy_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)


def test_bad_disposition_names_key_value_and_allowed_codes():
    data = national()
    data["indicators"][0]["filters"]["disposition"] = "fine"
    (problem,) = problems(data)
    assert problem.startswith("indicators[0].filters.disposition: got 'fine'; allowed: ['interview',")
    assert "'police_referral'" in problem


def test_every_problem_is_reported_together():
    data = national()
    data["scale"] = -5
    data["grades"][1]["min"] = 95
    data["indicators"][2]["points"] = 0
    data["indicators"][3]["kind"] = "penalty"
    found = problems(data)
    assert any(p.startswith("scale: got -5; expected a number > 0") for p in found)
    assert any(p.startswith("grades: got [90.0, 95.0, 65.0]") for p in found)
    assert any(p.startswith("indicators[2].points: got 0; expected a number > 0") for p in found)
    assert any(p.startswith("indicators[3].kind: got 'penalty'; allowed: ['deduction', 'bonus']") for p in found)


def test_unknown_key_lists_allowed_keys():
    data = national()
    data["indicators"][0]["pionts"] = 3
    (problem,) = problems(data)
    assert problem.startswith("indicators[0].pionts: got 'pionts'; unknown key; allowed keys: ['id', 'kind'")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["indicators"][0]["filters"].update(status=["confirmed", "overturned"]),
            "indicators[0].filters.status: got 'overturned'; allowed: ['confirmed', 'under_appeal']",
        ),
        (
            lambda d: d["indicators"][0]["filters"].update(kind="hospital"),
            "indicators[0].filters.kind: got 'kind'; columns of violations a filter may test",
        ),
        (
            lambda d: d["indicators"][0]["filters"].update(fraud="yes"),
            "indicators[0].filters.fraud: got 'yes'; expected true or false",
        ),
        (
            lambda d: d["indicators"][0].update(table="claims"),
            "indicators[0].table: got 'claims'; allowed: ['violations', 'complaints'",
        ),
        (
            lambda d: d["indicators"][0].update(amount_bands=[{"min": 100, "multiplier": 1}]),
            "indicators[0].amount_bands: got [100.0]; band mins must start at 0 and rise strictly",
        ),
        (
            lambda d: d["indicators"][0].update(source_multipliers={"rumour": 2}),
            "indicators[0].source_multipliers.rumour: got 'rumour'; allowed: ['routine_inspection'",
        ),
        (
            lambda d: d["indicators"][0].update(window_months=0),
            "indicators[0].window_months: got 0; expected an integer >= 1",
        ),
        (
            lambda d: d["indicators"][0].update(lenient_factor=1.5),
            "indicators[0].lenient_factor: got 1.5; expected a number >= 0 and <= 1",
        ),
        (
            lambda d: d["indicators"][14].update(lenient_factor=0.5),
            "indicators[14].lenient_factor: got 0.5; table complaints has no lenient column",
        ),
        (
            lambda d: d["indicators"][0].update(date="closed_date"),
            "indicators[0].date: got 'closed_date'; date columns of violations: ['found_date', 'decision_date']",
        ),
        (lambda d: d["vetoes"][0].update(grade="F"), "vetoes[0].grade: got 'F'; allowed: ['A', 'B', 'C', 'D']"),
        (
            lambda d: d["vetoes"][3]["filters"].update(ownership="private"),
            "vetoes[3].filters.ownership: got 'ownership'; columns of institutions a filter may test: ['status']",
        ),
        (
            lambda d: d["repair"][0]["indicators"].append("proactive_refund"),
            "repair[0].indicators: got 'proactive_refund'; repairable rules are deduction indicators",
        ),
        (
            lambda d: d["repair"][0]["indicators"].append("veto_fraud"),
            "repair[0].indicators: got 'veto_fraud'; repairable rules are deduction indicators",
        ),
        (
            lambda d: d["repair"][1]["indicators"].append("v_interview"),
            "repair[1].indicators: got 'v_interview'; an indicator may appear in one repair rule only",
        ),
        (lambda d: d["repair"][0].update(restore=0), "repair[0].restore: got 0; expected a number > 0 and <= 1"),
        (lambda d: d["grades"][3].update(min=0), "grades[3].min: got 0; the last grade takes every lower score"),
        (lambda d: d["grades"][0].update(top_share=0.1), "grades[0].top_share: got 0.1; top_share needs peer_groups"),
        (
            lambda d: d.update(peer_groups={"by": ["ownership"]}),
            "peer_groups.by: got ['ownership']; institution columns allowed: ['kind', 'level']",
        ),
        (lambda d: d.update(base=120), "base: got 120; expected a number >= 0 and <= 100"),
        (lambda d: d.update(subject="county"), "subject: got 'county'; allowed: ['institution', 'credit_code']"),
        (lambda d: d.update(objection_window_days=0), "objection_window_days: got 0; expected an integer >= 1"),
        (
            lambda d: d["indicators"].append(dict(d["indicators"][0])),
            "indicators/vetoes: got 'v_interview'; rule ids must be unique",
        ),
        (
            lambda d: d["indicators"][0].update(id="v:interview"),
            "indicators[0].id: got 'v:interview'; expected an id of lower-case letters",
        ),
    ],
)
def test_bad_policy_value_is_named_with_what_is_allowed(edit, expected):
    data = national()
    edit(data)
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_error_message_lists_the_file_and_each_problem():
    data = national()
    data["decimals"] = 9
    with pytest.raises(PolicyError) as error:
        CreditPolicy.from_mapping(data, source="bureau.yaml")
    assert str(error.value).startswith("invalid credit policy bureau.yaml (1 problem(s)):\n  - decimals: got 9;")


def test_a_policy_with_a_plus_and_peer_groups_is_accepted():
    data = national()
    data["peer_groups"] = {"by": ["kind", "level"], "min_group_size": 3}
    data["grades"] = [
        {"grade": "A+", "min": 95, "top_share": 0.1},
        {"grade": "A", "min": 90},
        {"grade": "B", "min": 80},
        {"grade": "C", "min": 65},
        {"grade": "D"},
    ]
    policy = CreditPolicy.from_mapping(data)
    assert policy.grade_names == ("A+", "A", "B", "C", "D")
    assert policy.grades[0].top_share == 0.1
    assert policy.peer_groups.by == ("kind", "level")


def test_repair_rule_lookup():
    policy = load_policy("national-100")
    assert policy.repair_rule("v_interview").waiting_months == 3
    assert policy.repair_rule("v_penalty_art39").restore == 0.5
    assert policy.repair_rule("v_fraud") is None


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_every_rule_and_number_of_the_builtins_is_in_the_docs(name):
    docs = DOCS.read_text(encoding="utf-8")
    policy = load_policy(name)
    section = docs[docs.index(f"## `{name}`") :]
    for rule in (*policy.indicators, *policy.vetoes):
        row = re.search(rf"^\| `{rule.id}` \|.*$", section, flags=re.MULTILINE)
        assert row is not None, f"{rule.id} is not documented for {name}"
        if hasattr(rule, "points"):
            assert f"| {rule.points:g} |" in row.group(0), f"{rule.id}: points {rule.points:g} not in {row.group(0)}"
            assert f"| {rule.window_months} |" in row.group(0)
