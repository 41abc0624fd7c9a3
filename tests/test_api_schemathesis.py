"""Generated requests against the OpenAPI description: no server error, no response outside it.

Runs in-process (WSGI) with a bounded number of examples per operation, on SQLite and, when a
server is named, on PostgreSQL.
"""

# ruff: noqa: F811 (test functions take the imported fixtures by name)
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.auth import create_token
from tests.api_fixtures import (  # noqa: F401 (pytest fixtures are used by name)
    _factory_rows,
    build_app,
    module_store,
)

MAX_EXAMPLES = 12  # per operation: bounded so the suite stays well under a minute per database

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(module_store, _factory_rows):
    app = build_app(module_store, _factory_rows)
    secret = create_token(module_store, name="schemathesis", role="admin", regions="all").secret
    yield app, secret
    app.extensions["medcredit.engine"].dispose()


def operations(app):
    """Every operation of the app's own OpenAPI description."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_exercised(live):
    app, _secret = live
    labels = {operation.label for operation in operations(app)}
    assert "GET /api/v1/institutions/{code}" in labels and "POST /api/v1/imports" in labels


@pytest.mark.slow
def test_generated_requests_get_documented_answers(live):
    app, secret = live
    headers = {"Authorization": f"Bearer {secret}"}
    for operation in operations(app):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
