"""Shared fixtures: a fresh store per test on SQLite, and on PostgreSQL when a server is named."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.storage import create_engine, upgrade

POSTGRES_URL = os.environ.get("MEDCREDIT_TEST_POSTGRES_URL")


def _postgres_database() -> tuple[str, callable]:
    """A fresh database on the test server, dropped afterwards."""
    admin = create_engine(POSTGRES_URL)
    name = f"medcredit_test_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A migrated, empty store (engine) with its own data directory; runs on both databases."""
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(tmp_path / "data"))
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("PostgreSQL tests need MEDCREDIT_TEST_POSTGRES_URL (set by .ci/run when a server answers)")
        url, drop = _postgres_database()
        request.addfinalizer(drop)
    else:
        url = f"sqlite:///{tmp_path / 'medcredit.db'}"
    engine = create_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A migrated SQLite store only (for tests that need no second database)."""
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(tmp_path / "data"))
    engine = create_engine(f"sqlite:///{tmp_path / 'medcredit.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()
