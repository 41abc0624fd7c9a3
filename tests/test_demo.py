"""The README's main command runs the whole chain (here on a small city, without serving)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import cli


@pytest.mark.slow
def test_demo_simulates_imports_grades_trains_draws_and_plans(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDCREDIT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["demo", "--institutions", "80", "--years", "3", "--seed", "3", "--no-serve"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for stage in range(1, 7):
        assert f"[{stage}]" in result.output
    assert "[7]" not in result.output
    out = tmp_path / "demo-output"
    assert (out / "store" / "medcredit.db").exists()
    published = next((out / "publication").rglob("*.json"))
    document = json.loads(published.read_text(encoding="utf-8"))
    assert document["pool_hash"] and document["seed"]
    assert list(out.glob("plan-*.csv"))
    store = (out / "store").resolve()
    assert f"export MEDCREDIT_DATA_DIR={store}" in result.output
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(store))
    leads = CliRunner().invoke(cli, ["features", "leads", "--selection", "1"])
    assert leads.exit_code == 0, leads.output
    assert "targeted selection #1" in leads.output and "线索 leads:" in leads.output
