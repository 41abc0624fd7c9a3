"""Fixtures for the API and dashboard tests: an app on the ``store`` fixture's database, with the
factories' small city imported and one token per kind of user.

Test modules import what they use: ``from tests.api_fixtures import app, client, tokens``
(and ``_factory_rows`` when they build an app of their own).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.auth import create_token, requires
from features import import_paths
from features.storage import create_engine, metadata, upgrade
from scoring import credit_store
from tests.factories import default_tables, write_tables

COUNTY = "441502"  # three of the factories' institutions
OTHER_COUNTY = "441521"  # one pharmacy
OWN_INSTITUTION = "H44150200001"
OTHER_INSTITUTION = "P44152100004"


@dataclass(frozen=True)
class Tokens:
    admin: str
    auditor: str
    credit_staff: str
    planner_other_county: str
    scheduler_county: str
    scheduler_all: str

    @staticmethod
    def header(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


def _boom():
    raise RuntimeError("internal detail that must not leak: /secret/path")


# Inspectors of both counties, so that draws can form teams of two (one certified).
INSPECTORS = pd.DataFrame(
    {
        "inspector_code": [f"E{i}" for i in range(1, 9)],
        "name": ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"],
        "region_code": [COUNTY] * 5 + [OTHER_COUNTY] * 3,
        "certified": ["true", "true", "false", "true", "false", "true", "true", "false"],
        "active": ["true"] * 8,
    }
)
GRADED_AS_OF = "2024-12-31"
_NOT_COPIED = {"api_tokens", "audit_log", "alembic_version"}


@pytest.fixture(scope="session")
def _factory_rows(tmp_path_factory) -> dict[str, list[dict]]:
    """The factories' tables imported once (through the real importer) and graded by one credit run
    (through the credit store), as stored rows of every table."""
    folder = tmp_path_factory.mktemp("factory-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDCREDIT_DATA_DIR", str(folder / "data"))
        engine = create_engine(f"sqlite:///{folder / 'store.db'}")
        upgrade(engine)
        tables = {name: frame for name, frame in default_tables().items() if name != "claims"}
        tables["inspectors"] = INSPECTORS
        import_paths([write_tables(folder / "files", tables)], engine=engine, actor="tests")
        credit_store.run_evaluation(engine, GRADED_AS_OF, "national-100", actor="tests")
        with engine.connect() as connection:
            rows = {
                table.name: [dict(r._mapping) for r in connection.execute(sa.select(table))]
                for table in metadata.sorted_tables
                if table.name not in _NOT_COPIED
            }
        engine.dispose()
    return {name: table_rows for name, table_rows in rows.items() if table_rows}


def _copy_rows(engine, rows: dict[str, list[dict]]) -> None:
    """Insert stored rows in dependency order (much faster per test than importing again)."""
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            if table_rows:
                connection.execute(metadata.tables[name].insert(), table_rows)
        if engine.dialect.name == "postgresql":  # keep id sequences ahead of the copied ids
            for table, column in (("imports", "import_id"), ("import_files", "id"), ("credit_runs", "run_id")):
                if rows.get(table):
                    connection.execute(
                        sa.text(f"SELECT setval('{table}_{column}_seq', (SELECT max({column}) FROM {table}))")
                    )


def build_app(store, rows: dict[str, list[dict]], **config):
    """An app on ``store``'s database holding the factories' tables."""
    url = store.url.render_as_string(hide_password=False)
    _copy_rows(store, rows)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret", **config})
    # a route that fails unexpectedly, to check the 500 problem (added before the first request)
    app.add_url_rule("/api/v1/_boom", "boom", requires("institutions:read")(_boom))
    return app


@pytest.fixture
def app(store, _factory_rows):
    app = build_app(store, _factory_rows)
    yield app
    app.extensions["medcredit.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(app) -> Tokens:
    return _make_tokens(app)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_store(request, tmp_path_factory):
    """Like conftest's ``store`` but shared by a module's tests (for generated-case suites where a
    fresh database per case would dominate the run time)."""
    import os
    import uuid

    folder = tmp_path_factory.mktemp("module-store")
    patch = pytest.MonkeyPatch()
    patch.setenv("MEDCREDIT_DATA_DIR", str(folder / "data"))
    request.addfinalizer(patch.undo)
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{folder / 'medcredit.db'}")
    else:
        server = os.environ.get("MEDCREDIT_TEST_POSTGRES_URL")
        if not server:
            pytest.skip("PostgreSQL tests need MEDCREDIT_TEST_POSTGRES_URL")
        admin, name = create_engine(server), f"medcredit_test_{uuid.uuid4().hex[:12]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        request.addfinalizer(drop)
        engine = create_engine(sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()


def _make_tokens(app) -> Tokens:
    engine = app.extensions["medcredit.engine"]

    def make(role: str, regions, name: str) -> str:
        return create_token(engine, name=name, role=role, regions=regions).secret

    return Tokens(
        admin=make("admin", "all", "管理员"),
        auditor=make("auditor", "all", "审计员"),
        credit_staff=make("credit_staff", "all", "信用科"),
        planner_other_county=make("planner", [OTHER_COUNTY], "海丰规划"),
        scheduler_county=make("scheduler", [COUNTY], "城区调度"),
        scheduler_all=make("scheduler", "all", "市局调度"),
    )


@pytest.fixture(scope="module")
def shared_app(module_store, _factory_rows):
    """One app per module and database, for tests that only read (and append audit entries)."""
    app = build_app(module_store, _factory_rows)
    yield app
    app.extensions["medcredit.engine"].dispose()


@pytest.fixture(scope="module")
def shared_tokens(shared_app) -> Tokens:
    return _make_tokens(shared_app)


@pytest.fixture
def shared_client(shared_app):
    return shared_app.test_client()
