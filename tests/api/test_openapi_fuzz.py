"""schemathesis against our OpenAPI document, signed in as every role.

Hypothesis generates requests for every operation from the schema; every answer must be
documented, of the declared content type, valid against its schema, and never a 5xx.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_client import Api, serial
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.core.clock import FrozenClock
from api.core.permissions import Role
from api.main import create_app
from data_contracts.settings import Settings

# Calls that would end the fuzzers' own sessions; their behaviour has its own tests.
SESSION_ENDING = ("/auth/logout", "/auth/password", "/api/v1/admin/users/{user_id}/revoke-sessions")
# Calls that would erase customers of the shared, read-only lakehouse (tests/api/test_privacy.py
# covers them on copies).
DESTRUCTIVE = ("/api/v1/admin/customers/{customer_id}/erasure",)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The schema is read from an app built at import; the fixture points that same app at the
# published test store and starts it before the first call.
# The import-time home holds generated keys: removed when the interpreter exits.
_IMPORT_HOME = tempfile.TemporaryDirectory(prefix="cems-fuzz-")
APP = create_app(Settings(home=Path(_IMPORT_HOME.name)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
    path=[*SESSION_ENDING, *DESTRUCTIVE]
)


@pytest.fixture(scope="module")
def role_headers(served: Settings, customer_ids: list[str]) -> Iterator[dict[str, Any]]:
    APP.state.settings = served
    APP.state.clock = clock = FrozenClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    n = next(serial)
    with TestClient(APP, client=(f"192.0.2.{n % 250}", 40000)) as client:
        api = Api(client, clock, served)
        headers: dict[str, Any] = {"anonymous": {}}
        headers[Role.CUSTOMER.value] = api.customer(customer_ids[0])
        for role in Role:
            if role is not Role.CUSTOMER:
                headers[role.value] = api.staff(role)[0]
        yield headers


ROLES = itertools.cycle(["anonymous", *(r.value for r in Role)])


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_as_every_role(case: Any, role_headers: Any) -> None:
    # Each generated request goes out as the next role in turn, anonymous included.
    case.call_and_validate(headers=role_headers[next(ROLES)], checks=CHECKS)
