"""The standalone verifier: fixed test vectors, tamper detection, standard-library only.

The expected hashes, tickets and selections below were computed once and frozen: a change to the
byte layout, the canonical JSON, the rounding rule or the ranking makes these tests fail, and
every draw ever published would stop verifying. Change them only together with the format version.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from scoring import verify_draw as v

VERIFIER = Path(v.__file__)
SEED = "31415926535897932384"

FIXED_POOL = {
    "format": "medcredit.pool/1",
    "as_of": "2025-03-01",
    "jurisdiction": {"regions": ["441502", "441521"], "bureau_level": "city"},
    "item": "inpatient",
    "rules": {"routine_cap_per_year": 1},
    "design": {"method": "stratified", "ratios": {"A": "0.02", "B": "0.5", "D": "0.3", "E": "0.5"}, "rounding": "ceil"},
    "units": [
        {"institution_code": "H44150200001", "region_code": "441502", "stratum": "A"},
        {"institution_code": "H44150200002", "region_code": "441502", "stratum": "B"},
        {"institution_code": "H44150200003", "region_code": "441502", "stratum": "B"},
        {"institution_code": "H44152100004", "region_code": "441521", "stratum": "B"},
        {"institution_code": "H44152100005", "region_code": "441521", "stratum": "D"},
        {"institution_code": "P44150200006", "region_code": "441502", "stratum": "D"},
    ],
    "excluded": [{"institution_code": "H44150200009", "reason_code": "routine_cap_reached"}],
    "inspectors": {
        "team": {
            "team_size": 2,
            "min_certified": 1,
            "max_assignments_per_inspector": 2,
            "recent_inspection_months": 12,
            "include_higher_level_inspectors": False,
        },
        "available": [
            {"inspector_code": "I001", "region_code": "441502", "certified": True},
            {"inspector_code": "I002", "region_code": "441502", "certified": False},
            {"inspector_code": "I003", "region_code": "441502", "certified": True},
            {"inspector_code": "I004", "region_code": "441521", "certified": True},
            {"inspector_code": "I005", "region_code": "441521", "certified": False},
        ],
        "recusals": {"I003": ["H44150200001"]},
    },
}
FIXED_POOL_HASH = "5b413c21b54443d1f95e4debf19e830e5b1d7f7f983a87892d018bd8459a2adf"
FIXED_TICKETS = {
    "H44150200001": "8d5e84d19ef89a82486c1c84014648d5e054bd12a3ed29ce6d6cd2b16a7d68e4",
    "H44150200002": "b1e5c86ad752c0e7f6696fead29aadd735cfb8357667f64e8b744a9319ce71fd",
    "H44150200003": "e271f0d8cc1ab1140a80a9afa807691e7325a9df4b79b82bf9367148256cd7d9",
    "H44152100004": "6697b4240eebc65f539116ba9da8db1fad3011a2a0b672479a2e39bd857b4342",
    "H44152100005": "e79071bb359a7866dcb08aceafa19ef384ff6a320944f1a110a39ef3a14387eb",
    "P44150200006": "a743d32d8f2ce406ec0a10f11b10ee07f2bf3b104e35453bf48c45654a1ddf93",
}
FIXED_SELECTION = ["H44152100004", "H44150200001", "P44150200006", "H44150200002"]
FIXED_TEAMS = {
    "H44152100004": ["I004", "I005"],
    "H44150200001": ["I001", "I002"],
    "P44150200006": ["I003", "I002"],
    "H44150200002": ["I001", "I003"],
}

RISK_WEIGHTS = ["0.9", "0.1", "0", "0.25", "0.6", "0.05"]
FIXED_RISK_POOL_HASH = "a44f87c1784ee14f7cf5aaebecd9acba4f0170b3baffed69ad91d33cb502c59f"
FIXED_RISK_START = 2979441277
FIXED_RISK_SELECTION = ["H44152100005", "H44152100004", "H44150200001"]
# Hand check: weights sum 1.9, n = 3, m = 0.05. 0.9 and then 0.6 reach 1 and are certain; the other
# four share 1 - 4 x 0.05 = 0.8 by weight (0.1, 0, 0.25, 0.05 of 0.4): 0.25, 0.05, 0.55, 0.15.
FIXED_RISK_UNITS = {
    "H44150200001": 4294967296,
    "H44150200002": 1073741824,
    "H44150200003": 214748365,
    "H44152100004": 2362232013,
    "H44152100005": 4294967296,
    "P44150200006": 644245094,
}


def risk_pool() -> dict:
    pool = copy.deepcopy(FIXED_POOL)
    pool["design"] = {
        "method": "risk_weighted",
        "sample_size": 3,
        "min_inclusion_probability": "0.05",
        "probability_scale": 4294967296,
        "weight_decimals": 6,
    }
    for unit, weight in zip(pool["units"], RISK_WEIGHTS, strict=True):
        unit["weight"] = weight
    pool["inspectors"] = None
    return pool


def draw_document(pool: dict | None = None, seed: str = SEED) -> dict:
    """A draw document built from the verifier's own replay (as the library does)."""
    pool = copy.deepcopy(pool or FIXED_POOL)
    pool_hash = v.compute_pool_hash(pool)
    replay = v.replay_draw(pool, pool_hash, seed)
    replay.pop("tickets")
    document = {
        "format": v.DRAW_FORMAT,
        "algorithm": v.ALGORITHM,
        "draw_id": "20250301-test",
        "pool_hash": pool_hash,
        "seed": {"source": "dice", "value": seed, "reference": "rolled at the bureau, 2025-03-01"},
        "pool": pool,
        **replay,
    }
    return json.loads(json.dumps(document))


# --------------------------------------------------------------------------- fixed vectors


def test_pool_hash_of_the_fixed_pool_is_frozen():
    assert v.compute_pool_hash(FIXED_POOL) == FIXED_POOL_HASH


def test_pool_hash_is_sha256_of_sorted_compact_utf8_json():
    text = json.dumps(FIXED_POOL, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == FIXED_POOL_HASH


def test_pool_hash_does_not_depend_on_key_order():
    reordered = dict(reversed(list(FIXED_POOL.items())))
    assert v.compute_pool_hash(reordered) == FIXED_POOL_HASH


def test_institution_tickets_of_the_fixed_vector_are_frozen():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    assert replay["tickets"] == FIXED_TICKETS


def test_ticket_is_sha256_of_seed_pool_hash_and_code_joined_by_bars():
    message = f"{SEED}|{FIXED_POOL_HASH}|H44150200001".encode()
    assert hashlib.sha256(message).hexdigest() == FIXED_TICKETS["H44150200001"]
    assert v.institution_ticket(SEED, FIXED_POOL_HASH, "H44150200001") == int(FIXED_TICKETS["H44150200001"], 16)


def test_inspector_ticket_appends_the_inspector_code():
    message = f"{SEED}|{FIXED_POOL_HASH}|H44152100004|I004".encode()
    expected = int.from_bytes(hashlib.sha256(message).digest(), "big")
    assert v.inspector_ticket(SEED, FIXED_POOL_HASH, "H44152100004", "I004") == expected
    assert v.ticket_hex(expected) == "062d2a926747bdd5de5ccfa3e8889adc6e796f89a1af02402678e21fa96dc14a"


def test_stratified_selection_of_the_fixed_vector_is_frozen():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    assert [row["institution_code"] for row in replay["selected"]] == FIXED_SELECTION
    assert [row["ticket"] for row in replay["selected"]] == [FIXED_TICKETS[code] for code in FIXED_SELECTION]
    strata = {row["stratum"]: (row["population"], row["drawn"]) for row in replay["strata"]}
    # ceil(0.02 x 1) = 1, ceil(0.5 x 3) = 2, ceil(0.3 x 2) = 1, E is empty.
    assert strata == {"A": (1, 1), "B": (3, 2), "D": (2, 1), "E": (0, 0)}


def test_lowest_tickets_win_within_each_stratum():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    chosen = {row["institution_code"] for row in replay["selected"]}
    stratum_b = sorted(["H44150200002", "H44150200003", "H44152100004"], key=FIXED_TICKETS.get)
    assert chosen & set(stratum_b) == set(stratum_b[:2])


def test_inclusion_probabilities_cover_every_pool_institution():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    assert replay["inclusion_probabilities"] == {
        "H44150200001": 1.0,
        "H44150200002": 2 / 3,
        "H44150200003": 2 / 3,
        "H44152100004": 2 / 3,
        "H44152100005": 0.5,
        "P44150200006": 0.5,
    }


def test_team_assignment_of_the_fixed_vector_is_frozen():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    teams = {team["institution_code"]: team["inspector_codes"] for team in replay["assignments"]}
    assert teams == FIXED_TEAMS


def test_fixed_teams_respect_recusal_workload_and_certification():
    replay = v.replay_draw(FIXED_POOL, FIXED_POOL_HASH, SEED)
    certified = {i["inspector_code"] for i in FIXED_POOL["inspectors"]["available"] if i["certified"]}
    load: dict[str, int] = {}
    for team in replay["assignments"]:
        assert team["lead_inspector_code"] in certified
        assert team["inspector_codes"][0] == team["lead_inspector_code"]
        for code in team["inspector_codes"]:
            load[code] = load.get(code, 0) + 1
    assert "I003" not in FIXED_TEAMS["H44150200001"]
    assert max(load.values()) <= 2


def test_risk_weighted_probabilities_of_the_fixed_vector_are_frozen():
    pool = risk_pool()
    weights = {
        unit["institution_code"]: v.parse_weight(unit["institution_code"], unit["weight"]) for unit in pool["units"]
    }
    assert v.pps_probability_units(weights, 3, Fraction("0.05")) == FIXED_RISK_UNITS


def test_risk_weighted_selection_of_the_fixed_vector_is_frozen():
    pool = risk_pool()
    pool_hash = v.compute_pool_hash(pool)
    assert pool_hash == FIXED_RISK_POOL_HASH
    replay = v.replay_draw(pool, pool_hash, SEED)
    assert replay["systematic_start"] == FIXED_RISK_START
    assert [row["institution_code"] for row in replay["selected"]] == FIXED_RISK_SELECTION


def test_systematic_start_is_the_seed_and_pool_hash_digest_mod_2_to_the_32():
    digest = hashlib.sha256(f"{SEED}|{FIXED_RISK_POOL_HASH}".encode()).digest()
    assert v.systematic_start(SEED, FIXED_RISK_POOL_HASH) == int.from_bytes(digest, "big") % 2**32 == FIXED_RISK_START


# --------------------------------------------------------------------------- algorithm properties


@pytest.mark.parametrize(
    ("ratio", "population", "expected"),
    [("0.15", 20, 3), ("0.02", 1, 1), ("0.02", 50, 1), ("0.02", 51, 2), ("0.3", 10, 3), ("1", 7, 7), ("0.05", 0, 0)],
)
def test_stratum_sample_size_is_exact_ceiling(ratio, population, expected):
    assert v.stratum_sample_size(Fraction(ratio), population) == expected


def test_pps_probabilities_sum_to_the_sample_size_and_keep_the_floor():
    weights = {f"H{i:011d}": w for i, w in enumerate([0, 0, 5, 1_000_000, 3, 77, 0, 12])}
    units = v.pps_probability_units(weights, 4, Fraction("0.1"))
    assert sum(units.values()) == 4 * v.PROBABILITY_SCALE
    assert min(units.values()) >= Fraction("0.1") * v.PROBABILITY_SCALE
    assert units["H00000000003"] == v.PROBABILITY_SCALE


def test_pps_with_all_weights_zero_is_equal_probability():
    units = v.pps_probability_units({"H1": 0, "H2": 0, "H3": 0, "H4": 0}, 2, Fraction("0.01"))
    assert set(units.values()) == {v.PROBABILITY_SCALE // 2}


def test_pps_refuses_a_floor_the_sample_cannot_pay_for():
    with pytest.raises(v.DrawSpecificationError, match="min_inclusion_probability"):
        v.pps_probability_units({"H1": 1, "H2": 1, "H3": 1}, 1, Fraction("0.5"))


@pytest.mark.parametrize("start", [0, 1, 2**31, 2**32 - 1])
def test_systematic_pass_draws_exactly_the_sample_size(start):
    units = {"a": 2**31, "b": 2**32, "c": 2**30, "d": 2**30}
    assert len(v.select_systematic(["a", "b", "c", "d"], units, start)) == 2
    assert "b" in v.select_systematic(["a", "b", "c", "d"], units, start)


def test_canonical_json_refuses_floating_point_numbers():
    with pytest.raises(v.DrawSpecificationError, match="floating-point"):
        v.canonical_json({"design": {"ratios": {"A": 0.02}}})


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("dice", "31415 92653 58979 32384", "31415926535897932384"),
        ("dice", "3141-5926-5358-9793-2384", "31415926535897932384"),
        ("beacon", "  6A1F0C9E2B7D4A33E1F0C9E2B7D4A33E  ", "6A1F0C9E2B7D4A33E1F0C9E2B7D4A33E"),
    ],
)
def test_seed_is_normalised(source, value, expected):
    assert v.normalise_seed(source, value) == expected


@pytest.mark.parametrize(
    ("source", "value", "message"),
    [
        ("dice", "", "digits"),
        ("dice", "1234", "20 to 200 digits"),
        ("dice", "3141592653589793238x", "only the digits"),
        ("beacon", "short", "16 to 1024"),
        ("beacon", "abc|def0123456789abcdef", "without spaces or '|'"),
        ("coin", "31415926535897932384", "seed source must be one of"),
    ],
)
def test_bad_seeds_are_refused_with_the_rule(source, value, message):
    with pytest.raises(v.DrawSpecificationError, match=message):
        v.normalise_seed(source, value)


def test_team_error_names_the_institution_and_region_in_chinese_and_english():
    pool = copy.deepcopy(FIXED_POOL)
    pool["inspectors"]["available"] = [{"inspector_code": "I001", "region_code": "441502", "certified": True}]
    with pytest.raises(v.TeamAssignmentError) as caught:
        v.assign_teams([("H44150200012", "441502")], pool["inspectors"], SEED, FIXED_POOL_HASH)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.message_zh.startswith(
        "机构 H44150200012 无法组成检查组：辖区 441502 可用执法人员 1 名，需要 2 名（其中持证 ≥1）"
    )
    assert "institution H44150200012" in error.message_en and "region 441502" in error.message_en


# --------------------------------------------------------------------------- verification


def test_untampered_draw_verifies():
    result = v.verify(draw_document())
    assert result.ok, result.discrepancy
    assert result.discrepancy is None


def test_untampered_risk_weighted_draw_verifies():
    result = v.verify(draw_document(risk_pool()))
    assert result.ok, result.discrepancy


def test_changed_pool_is_caught_by_the_pool_hash():
    document = draw_document()
    document["pool"]["units"].pop()
    result = v.verify(document)
    assert not result.ok
    assert result.discrepancy.startswith("pool_hash")


def test_swapped_selection_names_the_first_differing_entry():
    document = draw_document()
    document["selected"][1]["institution_code"] = "H44150200003"
    result = v.verify(document)
    assert not result.ok
    assert result.discrepancy.startswith("selected[1]['institution_code']")


def test_changed_seed_is_caught():
    document = draw_document()
    document["seed"]["value"] = "27182818284590452353"
    result = v.verify(document)
    assert not result.ok
    assert "selected" in result.discrepancy or "inclusion" in result.discrepancy or "assignments" in result.discrepancy


def test_changed_team_is_caught():
    document = draw_document()
    document["assignments"][0]["inspector_codes"] = ["I004", "I999"]
    result = v.verify(document)
    assert not result.ok
    assert result.discrepancy.startswith("assignments[0]")


def test_edited_inclusion_probability_is_caught():
    document = draw_document()
    document["inclusion_probabilities"]["H44150200003"] = 0.5
    result = v.verify(document)
    assert not result.ok
    assert "H44150200003" in result.discrepancy


def test_a_rounding_rule_other_than_ceil_is_not_replayed():
    document = draw_document()
    document["pool"]["design"]["rounding"] = "floor"
    document["pool_hash"] = v.compute_pool_hash(document["pool"])
    result = v.verify(document)
    assert not result.ok
    assert "rounding must be 'ceil'" in result.discrepancy


def test_seed_not_in_canonical_form_is_refused():
    document = draw_document()
    document["seed"]["value"] = "31415 92653 58979 32384"
    result = v.verify(document)
    assert not result.ok
    assert "canonical" in result.discrepancy


def test_verifier_imports_only_the_standard_library():
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules


def test_verifier_runs_as_a_script(tmp_path):
    good = tmp_path / "draw.json"
    good.write_text(json.dumps(draw_document(), ensure_ascii=False), encoding="utf-8")
    bad_document = draw_document()
    bad_document["selected"][0]["ticket"] = "0" * 64
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bad_document), encoding="utf-8")
    copied = tmp_path / "verify_draw.py"  # as published: alone, next to the draw
    copied.write_text(VERIFIER.read_text(encoding="utf-8"), encoding="utf-8")

    ok = subprocess.run([sys.executable, str(copied), str(good)], capture_output=True, text=True, cwd=tmp_path)
    tampered = subprocess.run([sys.executable, str(copied), str(bad)], capture_output=True, text=True, cwd=tmp_path)

    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout
    assert tampered.returncode == 1
    assert "selected[0]['ticket']" in tampered.stdout
