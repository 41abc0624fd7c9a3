"""Smart-audit signals from the claims make an institution a targeted pick, with the reason and check item."""

from __future__ import annotations

import pandas as pd

from features import import_paths
from features.simulate import simulate_city
from scoring.selection_store import (
    SMART_AUDIT_SIGNALS,
    default_targeting_rules,
    select_and_save_targeted,
    smart_audit_signals,
)


def test_institutions_far_outside_their_peers_are_targeted_with_the_signal_as_reason(sqlite_store, tmp_path):
    city = simulate_city(tmp_path / "city", n_institutions=120, years=2, seed=5, claims_per_institution_year=300)
    import_paths([city.data_dir], engine=sqlite_store)
    as_of = pd.Timestamp("2024-01-01")
    signals = smart_audit_signals(sqlite_store, as_of, SMART_AUDIT_SIGNALS).set_index("institution_code")
    above = {
        (code, name)
        for name, (threshold, _) in SMART_AUDIT_SIGNALS.items()
        for code in signals.index[signals[name] > threshold]
    }
    assert above, "the simulated city should put some institution far outside its peers"
    grades = pd.DataFrame({"institution_code": signals.index, "grade": "A", "score": 95.0})
    selection = select_and_save_targeted(sqlite_store, as_of=as_of, budget=1, grades=grades, actor="test")
    picks = selection.selected.set_index("institution_code")
    reasons = set(zip(selection.reasons["institution_code"], selection.reasons["code"], strict=True))
    for code, name in above:
        assert bool(picks.loc[code, "trigger"])
        assert (code, f"smart_audit:{name}") in reasons
        assert SMART_AUDIT_SIGNALS[name][1] in picks.loc[code, "items"]
    assert len(picks) < len(signals) / 4  # leads, not a blanket: most institutions are not triggered


def test_default_rules_name_every_signal_in_both_languages():
    rules = default_targeting_rules()
    assert set(rules.signal_thresholds) == set(SMART_AUDIT_SIGNALS)
    assert set(rules.signal_labels) == set(SMART_AUDIT_SIGNALS)
    assert all(label["zh"] and label["en"] for label in rules.signal_labels.values())
