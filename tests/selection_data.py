"""A small deterministic city for the inspection-selection tests, as contract files, and fixtures holding it.

Two counties: 441502 (40 institutions, 8 inspectors) and 441521 (12 institutions, 4 inspectors).
Edge cases on purpose: a suspended institution, one designated after the draw date, one at its
yearly routine cap, one whose check item was inspected recently, an inactive inspector and an
inspector with a declared conflict; complaints and referrals for targeting.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features import import_paths
from features.storage import create_engine, upgrade

AS_OF = "2025-06-30"
CITY = "441502"
COUNTY = "441521"
GRADES = "ABCDB"

SUSPENDED = f"H{CITY}00003"
NOT_YET = f"H{CITY}00004"
AT_CAP = f"H{CITY}00005"
SAME_ITEM = f"H{CITY}00006"
COMPLAINED = f"H{CITY}00007"
REFERRED = f"H{COUNTY}00002"


def institution_codes(region: str, n: int) -> list[str]:
    return [f"H{region}{i:05d}" for i in range(1, n + 1)]


def institutions() -> pd.DataFrame:
    rows = []
    for region, n in ((CITY, 40), (COUNTY, 12)):
        for i, code in enumerate(institution_codes(region, n), start=1):
            rows.append(
                {
                    "institution_code": code,
                    "name": f"测试医院{region[-2:]}-{i:02d}",
                    "kind": "hospital" if i % 3 else "clinic",
                    "ownership": "public" if i % 2 else "private",
                    "region_code": region,
                    "designated_since": "2026-01-01" if code == NOT_YET else "2015-03-01",
                    "status": "suspended" if code == SUSPENDED else "active",
                }
            )
    return pd.DataFrame(rows)


def inspectors() -> pd.DataFrame:
    rows = []
    for region, n, prefix in ((CITY, 8, "E"), (COUNTY, 4, "F")):
        for i in range(1, n + 1):
            rows.append(
                {
                    "inspector_code": f"{prefix}{i:03d}",
                    "name": f"执法员{prefix}{i}",
                    "region_code": region,
                    "certified": "true" if i % 2 else "false",
                    "active": "false" if (prefix, i) == ("E", 8) else "true",
                    "conflicts": f"H{CITY}00001" if (prefix, i) == ("E", 1) else "",
                }
            )
    return pd.DataFrame(rows)


def inspections() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "inspection_id": "X2025-01",
                "institution_code": AT_CAP,
                "start_date": "2025-03-03",
                "kind": "routine",
                "level": "city",
                "items": "pharmacy",
                "inspector_codes": "E002;E003",
                "found_violation": "false",
                "result_published": "2025-03-20",
            },
            {
                "inspection_id": "X2024-09",
                "institution_code": SAME_ITEM,
                "start_date": "2024-09-10",
                "kind": "targeted",
                "level": "city",
                "items": "inpatient",
                "inspector_codes": "E004;E005",
                "found_violation": "true",
                "amount_found": "5000",
            },
        ]
    )


def complaints() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "complaint_id": ["C1", "C2", "C3"],
            "institution_code": [COMPLAINED, COMPLAINED, f"H{CITY}00009"],
            "received_date": ["2025-05-01", "2023-01-01", "2025-05-02"],
            "substantiated": ["true", "true", "false"],
        }
    )


def referrals() -> pd.DataFrame:
    return pd.DataFrame(
        {"referral_id": ["R1"], "institution_code": [REFERRED], "date": ["2025-04-01"], "department": ["health"]}
    )


def grades() -> pd.DataFrame:
    """Credit grades for every institution (cycling through A, B, C, D, B) with scores."""
    codes = institutions()["institution_code"].tolist()
    grade = [GRADES[i % len(GRADES)] for i in range(len(codes))]
    score = [{"A": 95.0, "B": 85.0, "C": 75.0, "D": 60.0}[g] - i * 0.01 for i, g in enumerate(grade)]
    return pd.DataFrame({"institution_code": codes, "grade": grade, "score": score})


def write_city(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "institutions": institutions(),
        "inspectors": inspectors(),
        "inspections": inspections(),
        "complaints": complaints(),
        "referrals": referrals(),
    }
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def load_city(engine, folder: Path) -> None:
    """Write the city's files to ``folder`` and import them into ``engine``."""
    import_paths([write_city(folder)], engine=engine, actor="test")


# --------------------------------------------------------------------------- fixtures: the loaded city
#
# Migrating and importing take about two seconds a store, so the loaded city is built once per
# session and database, and every test gets its own copy: a file copy on SQLite, CREATE DATABASE
# ... TEMPLATE on PostgreSQL (still over a second there, so only the tests whose outcome could
# depend on the database use ``loaded``, the others ``loaded_sqlite``). A test module binds the
# fixtures it uses by assignment: ``loaded = selection_data.loaded``.

POSTGRES_URL = os.environ.get("MEDCREDIT_TEST_POSTGRES_URL")


class CityTemplates:
    """The loaded city per database, built on first use and copied for each test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._admin = None

    def sqlite_copy(self, target: Path) -> str:
        if self._sqlite is None:
            self._sqlite = self.folder / "city.db"
            self._build(f"sqlite:///{self._sqlite}")
        shutil.copyfile(self._sqlite, target)
        return f"sqlite:///{target}"

    def postgres_copy(self) -> tuple[str, Callable[[], None]]:
        if self._postgres is None:
            self._admin = create_engine(POSTGRES_URL)
            self._postgres = self._create_database()
            self._build(self._url(self._postgres))
        name = self._create_database(template=self._postgres)
        return self._url(name), lambda: self._drop(name)

    def close(self) -> None:
        if self._postgres is not None:
            self._drop(self._postgres)
            self._admin.dispose()

    def _build(self, url: str) -> None:
        engine = create_engine(url)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MEDCREDIT_DATA_DIR", str(self.folder / "data"))
            upgrade(engine)
            load_city(engine, self.folder / "files")
        engine.dispose()  # a template database must have no open connection

    def _create_database(self, template: str | None = None) -> str:
        name = f"medcredit_test_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
        return name

    def _drop(self, name: str) -> None:
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _url(self, name: str) -> str:
        return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def city_templates(tmp_path_factory: pytest.TempPathFactory):
    templates = CityTemplates(tmp_path_factory.mktemp("city-template"))
    yield templates
    templates.close()


def _loaded_store(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, templates: CityTemplates, backend: str):
    monkeypatch.setenv("MEDCREDIT_DATA_DIR", str(tmp_path / "data"))
    if backend == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("PostgreSQL tests need MEDCREDIT_TEST_POSTGRES_URL")
        url, drop = templates.postgres_copy()
        request.addfinalizer(drop)
    else:
        url = templates.sqlite_copy(tmp_path / "medcredit.db")
    return create_engine(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def loaded(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, city_templates: CityTemplates):
    """A store holding the city (migrated and imported), its own copy; on both databases like ``store``."""
    engine = _loaded_store(request, tmp_path, monkeypatch, city_templates, request.param)
    yield engine
    engine.dispose()


@pytest.fixture
def loaded_sqlite(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, city_templates: CityTemplates):
    """A SQLite store holding the city, for tests whose outcome does not depend on the database."""
    engine = _loaded_store(request, tmp_path, monkeypatch, city_templates, "sqlite")
    yield engine
    engine.dispose()
