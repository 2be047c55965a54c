"""The API's audit trail: who did what to which customer, never a secret, chain intact."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from api_client import CUSTOMER_PASSWORD, STAFF_PASSWORD, Api

from api.audit.keys import load_key
from api.audit.models import AuditEntry
from api.audit.verify import verify
from api.core.permissions import Role
from api.core.totp import totp_code
from api.db.engine import sync_engine


def _entries(api: Api, request_ids: set[str]) -> list[dict]:
    engine = sync_engine(api.settings)
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(AuditEntry).where(AuditEntry.request_id.in_(request_ids)))
            .mappings()
            .all()
        )
    engine.dispose()
    return [dict(r) for r in rows]


def test_reads_denials_and_sign_ins_are_audited_without_secrets(api: Api, customer_ids):
    own, foreign = customer_ids[4], customer_ids[5]
    email = api.create(Role.CUSTOMER, own)
    ids: set[str] = set()

    def call(method: str, url: str, **kw):
        response = api.client.request(method, url, **kw)
        ids.add(response.headers["x-request-id"])
        return response

    call("POST", "/auth/login", json={"email": email, "password": "wrong password, long one"})
    login = call("POST", "/auth/login", json={"email": email, "password": CUSTOMER_PASSWORD})
    token = login.json()["session"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    user_id = api.client.get("/auth/session", headers=headers).json()["user_id"]
    call("GET", f"/tmf-api/customerManagement/v5/customer/{own}", headers=headers)
    call("GET", f"/tmf-api/customerManagement/v5/customer/{foreign}", headers=headers)

    staff_email = api.create(Role.SUPPORT_AGENT)
    first = call("POST", "/auth/login", json={"email": staff_email, "password": STAFF_PASSWORD})
    secret = first.json()["totp_secret"]
    code = totp_code(secret, api.clock.now())
    mfa = call("POST", "/auth/mfa", json={"ticket": first.json()["mfa_ticket"], "code": code})
    staff = {"Authorization": "Bearer " + mfa.json()["token"]}
    call("GET", f"/api/v1/customers/{foreign}/360", headers=staff)

    entries = _entries(api, ids)
    by_action = {(e["action"], e["outcome"]) for e in entries}
    assert ("auth.login_failed", "failure") in by_action
    assert ("auth.login", "success") in by_action
    assert ("auth.mfa", "success") in by_action
    assert ("customer.read", "success") in by_action
    assert ("access.denied", "denied") in by_action
    assert ("customer.read_360", "success") in by_action
    read = next(e for e in entries if e["action"] == "customer.read")
    assert read["customer_id"] == own and read["actor_role"] == "customer"
    # Customers are named by account id only: their e-mail is personal data kept encrypted.
    assert read["actor_label"] is None and read["actor_id"] == user_id
    assert read["source_address"].startswith("10.")
    denied = next(e for e in entries if e["action"] == "access.denied")
    assert denied["customer_id"] == foreign
    agent = next(e for e in entries if e["action"] == "customer.read_360")
    assert agent["actor_label"] == staff_email and agent["customer_id"] == foreign
    text = repr(entries)
    for secret_value in (CUSTOMER_PASSWORD, STAFF_PASSWORD, token, secret, code, "wrong password"):
        assert secret_value not in text
    assert verify(api.settings, load_key(api.settings)).ok


def test_admin_reviews_failed_sign_ins_and_customer_access(api: Api, customer_ids):
    victim = api.create(Role.CUSTOMER, customer_ids[6])
    for _ in range(3):
        api.login(victim, "guessing guessing guessing")
    agent, _ = api.staff(Role.SUPPORT_AGENT)
    api.client.get(f"/api/v1/customers/{customer_ids[6]}/360", headers=agent)
    admin, _ = api.staff(Role.ADMIN)
    since = (api.clock.now() - timedelta(hours=1)).isoformat()
    until = (api.clock.now() + timedelta(minutes=1)).isoformat()  # the clock is frozen
    failed = api.client.get(
        "/api/v1/admin/audit/failed-logins", params={"since": since, "until": until}, headers=admin
    )
    assert failed.status_code == 200
    row = next(r for r in failed.json() if r["account"] == victim)
    assert row["failures"] == 3 and row["source_address"].startswith("10.")
    access = api.client.get(
        "/api/v1/admin/audit/customer-access",
        params={"since": since, "until": until, "customer_id": customer_ids[6]},
        headers=admin,
    ).json()
    assert any(
        r["actor_role"] == "support_agent" and "customer.read_360" in r["actions"] for r in access
    )
    verified = api.client.get("/api/v1/admin/audit/verify", headers=admin)
    assert verified.status_code == 200 and verified.json()["ok"] is True
    refused = api.client.get("/api/v1/admin/audit/failed-logins", headers=agent)
    assert refused.status_code == 403
