"""Smart-audit signals from the claims make an institution a targeted pick, with the reason and check item."""

from __future__ import annotations

import pandas as pd

from features import import_paths
from scoring.selection_store import SMART_AUDIT_SIGNALS, default_targeting_rules, select_and_save_targeted
from tests.factories import default_tables, write_tables


def test_settlement_after_death_triggers_a_targeted_visit(sqlite_store, tmp_path):
    tables = default_tables()
    tables["deaths"] = pd.DataFrame({"patient_id": ["PT2"], "death_date": ["2024-02-01"]})  # C3 settled 2024-02-11
    import_paths([write_tables(tmp_path / "city", tables)], engine=sqlite_store)
    grades = pd.DataFrame({"institution_code": tables["institutions"]["institution_code"], "grade": "A", "score": 95.0})
    selection = select_and_save_targeted(sqlite_store, as_of="2024-06-01", budget=1, grades=grades, actor="test")
    picks = selection.selected.set_index("institution_code")
    assert "P44150200003" in picks.index and bool(picks.loc["P44150200003", "trigger"])
    assert "deceased_settlement" in picks.loc["P44150200003", "items"]
    reasons = selection.reasons[selection.reasons["institution_code"] == "P44150200003"]
    signal = reasons[reasons["code"] == "smart_audit:clm_deceased_settlement_n_12m"]
    assert len(signal) == 1 and signal["zh"].iloc[0] and signal["en"].iloc[0]


def test_default_rules_name_every_signal_in_both_languages():
    rules = default_targeting_rules()
    assert set(rules.signal_thresholds) == set(SMART_AUDIT_SIGNALS)
    assert set(rules.signal_labels) == set(SMART_AUDIT_SIGNALS)
    assert all(label["zh"] and label["en"] for label in rules.signal_labels.values())
