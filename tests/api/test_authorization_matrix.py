"""Every route × every role × someone else's object: nobody reads another customer's data.

The table below names each customer-data route with the permission it needs; a test fails
when a route is added without a row here, so a new route cannot skip the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import deltalake
import pytest
from api_client import Api
from fastapi.routing import APIRoute

from api.core.permissions import CUSTOMER_SELF, GRANTS, Permission, Role
from data_contracts.settings import Settings


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {customer}, {account}, {bill} are filled with the target's ids
    permission: Permission
    staff_only: bool = False  # no customer ever, not even for their own data


CUSTOMER = "/tmf-api/customerManagement/v5/customer"
ACCOUNT = "/tmf-api/accountManagement/v5/billingAccount"
BILL = "/tmf-api/customerBillManagement/v5/customerBill"
USAGE = "/tmf-api/usageManagement/v5/usage"

ROUTES = [
    Route("GET", CUSTOMER + "/{customer}", Permission.CUSTOMER_READ),
    Route("GET", CUSTOMER + "/{customer}?unmask=true", Permission.CUSTOMER_UNMASK),
    Route("GET", CUSTOMER + "?name=an", Permission.CUSTOMER_SEARCH, staff_only=True),
    Route("GET", "/api/v1/customers/{customer}/360", Permission.CUSTOMER_360, staff_only=True),
    Route("GET", ACCOUNT + "?customer_id={customer}", Permission.BILLING_READ),
    Route("GET", ACCOUNT + "/{account}", Permission.BILLING_READ),
    Route("GET", BILL + "?customer_id={customer}", Permission.BILLING_READ),
    Route("GET", BILL + "/{bill}", Permission.BILLING_READ),
    Route("GET", "/api/v1/customers/{customer}/transactions", Permission.BILLING_READ),
    Route("GET", USAGE + "?customer_id={customer}", Permission.USAGE_READ),
    Route("GET", "/api/v1/customers/{customer}/usage-patterns", Permission.USAGE_PATTERNS_READ),
    Route("GET", "/api/v1/admin/customers/{customer}/export", Permission.CUSTOMER_EXPORT, True),
    Route(
        "GET", "/api/v1/admin/customers/{customer}/data-export", Permission.CUSTOMER_EXPORT, True
    ),
    Route("GET", "/api/v1/admin/users", Permission.USERS_MANAGE, staff_only=True),
    Route("GET", "/api/v1/admin/audit/failed-logins", Permission.AUDIT_READ, staff_only=True),
    Route("GET", "/api/v1/admin/audit/mfa-failures", Permission.AUDIT_READ, staff_only=True),
    Route(
        "GET",
        "/api/v1/admin/audit/customer-access?customer_id={customer}",
        Permission.AUDIT_READ,
        staff_only=True,
    ),
    Route("GET", "/api/v1/admin/audit/verify", Permission.AUDIT_READ, staff_only=True),
]
# Routes that hold no customer's data, or only the caller's own session.
NOT_CUSTOMER_DATA = {
    "/health", "/ready", "/metrics", "/api/v1/me",
    "/api/v1/admin/users/{user_id}/revoke-sessions", "/api/v1/admin/users/{user_id}/unlock",
}  # fmt: skip
# Customer-data routes that change data: trying them as every role against the shared
# customers would erase them, so each has its own test against an id no store holds.
TESTED_ELSEWHERE = {
    "/api/v1/admin/customers/{customer_id}/erasure": "tests/api/test_privacy.py",
}


@dataclass(frozen=True)
class Target:
    customer: str
    account: str
    bill: str


def _target(settings: Settings, customer_id: str) -> Target:
    gold = settings.gold_root
    accounts = deltalake.DeltaTable(f"{gold}/dim_billing_accounts").to_pyarrow_table(
        columns=["account_id", "customer_id"]
    )
    account = next(r["account_id"] for r in accounts.to_pylist() if r["customer_id"] == customer_id)
    bills = deltalake.DeltaTable(f"{gold}/fct_billing_transactions").to_pyarrow_table(
        columns=["invoice_id", "customer_id", "transaction_type"]
    )
    bill = next(
        r["invoice_id"]
        for r in bills.to_pylist()
        if r["customer_id"] == customer_id and r["transaction_type"] == "invoice"
    )
    return Target(customer_id, account, bill)


@pytest.fixture(scope="module")
def targets(gold_settings: Settings) -> tuple[Target, Target]:
    """Two customers who each hold an account and a bill: the caller's and a stranger's."""
    bills = deltalake.DeltaTable(
        f"{gold_settings.gold_root}/fct_billing_transactions"
    ).to_pyarrow_table(columns=["customer_id", "transaction_type"])
    billed = sorted(
        {r["customer_id"] for r in bills.to_pylist() if r["transaction_type"] == "invoice"}
    )
    assert len(billed) >= 2, "the test operator needs two billed customers"
    return _target(gold_settings, billed[0]), _target(gold_settings, billed[-1])


def _url(route: Route, target: Target) -> str:
    return route.path.format(customer=target.customer, account=target.account, bill=target.bill)


def test_every_customer_data_route_is_in_the_matrix(api: Api):
    listed = {r.path.split("?")[0] for r in ROUTES}
    templates = {
        "/api/v1/customers/{customer_id}/360": "/api/v1/customers/{customer}/360",
    }
    missing = []
    for route in api.client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute) or route.path.startswith("/auth"):
            continue
        if route.path in NOT_CUSTOMER_DATA or route.path in TESTED_ELSEWHERE:
            continue
        path = templates.get(route.path, route.path)
        for name, placeholder in (
            ("{customer_id}", "{customer}"),
            ("{account_id}", "{account}"),
            ("{bill_id}", "{bill}"),
        ):
            path = path.replace(name, placeholder)
        if path not in listed:
            missing.append(route.path)
    assert not missing, f"routes missing from the authorization matrix: {missing}"
    paths = {r.path for r in api.client.app.routes if isinstance(r, APIRoute)}  # type: ignore[attr-defined]
    assert set(TESTED_ELSEWHERE) <= paths, "a route tested elsewhere no longer exists"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_against_a_foreign_customer(api: Api, targets, role: Role):
    own, foreign = targets
    if role is Role.CUSTOMER:
        headers = api.customer(own.customer)
    else:
        headers, _ = api.staff(role)  # MFA just done: step-up is fresh
    failures = []
    for route in ROUTES:
        response = api.client.request(route.method, _url(route, foreign), headers=headers)
        if role is Role.CUSTOMER:
            expected = {403, 404}
        else:
            expected = {200} if route.permission in GRANTS[role] else {403}
        if response.status_code not in expected:
            failures.append(f"{route.method} {route.path}: {response.status_code}, want {expected}")
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
    assert not failures, "\n".join(failures)


def test_a_customer_reads_their_own_data_and_nothing_staff_only(api: Api, targets):
    own, _foreign = targets
    headers = api.customer(own.customer)
    failures = []
    for route in ROUTES:
        response = api.client.request(route.method, _url(route, own), headers=headers)
        allowed = route.permission in CUSTOMER_SELF and not route.staff_only
        expected = {200} if allowed else {403, 404}
        if response.status_code not in expected:
            failures.append(f"{route.method} {route.path}: {response.status_code}, want {expected}")
    assert not failures, "\n".join(failures)


def test_pii_is_masked_for_roles_that_do_not_need_it(api: Api, targets):
    _own, foreign = targets
    for role in (Role.MARKETING_ANALYST, Role.NETWORK_OPS, Role.SUPPORT_AGENT):
        headers, _ = api.staff(role)
        view = api.client.get(f"/api/v1/customers/{foreign.customer}/360", headers=headers)
        assert view.status_code == 200
        customer = view.json()["customer"]
        assert customer["pii_masked"] is True
        for medium in customer["contactMedium"]:
            value = medium.get("emailAddress") or medium.get("phoneNumber") or ""
            assert "***" in value or set(value) <= {"*", *"0123456789"}
        if role is not Role.SUPPORT_AGENT:
            unmask = api.client.get(
                f"/api/v1/customers/{foreign.customer}/360?unmask=true", headers=headers
            )
            assert unmask.status_code == 403
    marketing, _ = api.staff(Role.MARKETING_ANALYST)
    view = api.client.get(f"/api/v1/customers/{foreign.customer}/360", headers=marketing).json()
    assert view["billing"] is None and view["usage"] is None  # not their business
    assert view["churn"] is not None  # retention is


def test_only_admins_create_accounts(api: Api):
    body = {"email": "new.agent@example.test", "role": "support_agent",
            "password": "a perfectly long staff password"}  # fmt: skip
    for role in (Role.SUPPORT_AGENT, Role.MARKETING_ANALYST, Role.NETWORK_OPS):
        headers, _ = api.staff(role)
        assert api.client.post("/api/v1/admin/users", json=body, headers=headers).status_code == 403
    admin, _ = api.staff(Role.ADMIN)
    created = api.client.post("/api/v1/admin/users", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["mfa_enrolled"] is False
    again = api.client.post("/api/v1/admin/users", json=body, headers=admin)
    assert again.status_code == 409
