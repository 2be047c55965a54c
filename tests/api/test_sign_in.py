"""Sign-in: passwords, lockout, throttling, staff TOTP, 12-hour expiry, step-up, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from api_client import CUSTOMER_PASSWORD, STAFF_PASSWORD, Api

from api.audit.models import AuditEntry
from api.auth.models import User, email_index
from api.core.permissions import Role
from api.core.totp import totp_code
from api.crypto.keyring import load_keyring, use_keyring
from api.db.engine import sync_engine

PROBLEM = "application/problem+json"


def audit_actions(api: Api, email: str) -> list[str]:
    """The audited actions of an account: staff are labelled by e-mail, customers by id."""
    engine = sync_engine(api.settings)
    with engine.connect() as conn, use_keyring(load_keyring(api.settings, conn)):
        user_id = conn.scalar(sa.select(User.id).where(User.email_bidx == email_index(email)))
        rows = conn.execute(
            sa.select(AuditEntry.action)
            .where(sa.or_(AuditEntry.actor_label == email, AuditEntry.actor_id == user_id))
            .order_by(AuditEntry.occurred_at, AuditEntry.id)
        ).scalars()
        actions = list(rows)
    engine.dispose()
    return actions


def test_customer_signs_in_with_a_password_and_sees_the_session(api: Api, customer_ids):
    email = api.create(Role.CUSTOMER, customer_ids[0])
    response = api.login(email, CUSTOMER_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "authenticated"
    headers = {"Authorization": "Bearer " + body["session"]["token"]}
    session = api.client.get("/auth/session", headers=headers).json()
    assert session["role"] == "customer"
    assert session["customer_id"] == customer_ids[0]
    assert session["auth_method"] == "password"
    assert "auth.login" in audit_actions(api, email)


def test_wrong_password_is_a_problem_and_an_unknown_account_answers_the_same(
    api: Api, customer_ids
):
    email = api.create(Role.CUSTOMER, customer_ids[0])
    wrong = api.login(email, "not the password at all, sorry")
    unknown = api.login("nobody@example.test", "not the password at all, sorry")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/invalid-credentials")
        assert response.json()["detail"] == "The email or password is not correct."


def test_repeated_failures_lock_the_account_until_the_lockout_ends(api: Api, customer_ids):
    email = api.create(Role.CUSTOMER, customer_ids[0])
    for _ in range(api.settings.login_max_failures):
        assert api.login(email, "wrong wrong wrong wrong").status_code == 401
    locked = api.login(email, CUSTOMER_PASSWORD)  # even the right password
    assert locked.status_code == 423
    assert locked.json()["type"].endswith("/account-locked")
    assert int(locked.headers["Retry-After"]) > 0
    api.clock.advance(timedelta(minutes=api.settings.login_lockout_minutes + 1))
    assert api.login(email, CUSTOMER_PASSWORD).status_code == 200
    actions = audit_actions(api, email)
    assert actions.count("auth.login_failed") == api.settings.login_max_failures - 1
    assert "auth.lockout" in actions
    assert "auth.login_locked" in actions


def test_sign_in_attempts_are_throttled_per_address(api: Api):
    limit = api.settings.login_rate_per_minute
    statuses = [
        api.login(f"probe{i}@example.test", "whatever whatever whatever").status_code
        for i in range(limit + 2)
    ]
    assert statuses[:limit] == [401] * limit
    assert statuses[limit:] == [429, 429]
    api.clock.advance(timedelta(minutes=1))
    assert api.login("probe@example.test", "whatever whatever whatever").status_code == 401


def test_staff_enrol_totp_at_first_sign_in_then_need_a_code_every_time(api: Api):
    email = api.create(Role.SUPPORT_AGENT)
    first = api.login(email, STAFF_PASSWORD).json()
    assert first["status"] == "mfa_enrolment_required"
    assert first["totp_uri"].startswith("otpauth://totp/")
    assert first["session"] is None  # no session on the password alone
    secret = first["totp_secret"]
    bad = api.client.post("/auth/mfa", json={"ticket": first["mfa_ticket"], "code": "000000"})
    assert bad.status_code == 401
    code = totp_code(secret, api.clock.now())
    ok = api.client.post("/auth/mfa", json={"ticket": first["mfa_ticket"], "code": code})
    assert ok.status_code == 200
    second = api.login(email, STAFF_PASSWORD).json()
    assert second["status"] == "mfa_required"
    assert second["totp_secret"] is None  # the secret is shown once
    replay = api.client.post("/auth/mfa", json={"ticket": second["mfa_ticket"], "code": code})
    assert replay.status_code == 401  # a spent code never works twice
    api.clock.advance(timedelta(seconds=30))
    fresh = totp_code(secret, api.clock.now())
    assert (
        api.client.post(
            "/auth/mfa", json={"ticket": second["mfa_ticket"], "code": fresh}
        ).status_code
        == 200
    )
    actions = audit_actions(api, email)
    assert {"auth.mfa_enrolled", "auth.mfa", "auth.mfa_failed"} <= set(actions)


def test_a_staff_session_ends_twelve_hours_after_sign_in_whatever_the_activity(api: Api):
    headers, _secret = api.staff(Role.SUPPORT_AGENT)
    for _ in range(35):  # active every 20 minutes for 11 h 40 min
        api.clock.advance(timedelta(minutes=20))
        assert api.client.get("/auth/session", headers=headers).status_code == 200
    api.clock.advance(timedelta(minutes=20))  # 12 h after sign-in
    ended = api.client.get("/auth/session", headers=headers)
    assert ended.status_code == 401
    assert ended.json()["type"].endswith("/session-expired")
    assert "time limit" in ended.json()["detail"]


def test_an_idle_staff_session_ends(api: Api):
    headers, _ = api.staff(Role.SUPPORT_AGENT)
    api.clock.advance(timedelta(minutes=api.settings.staff_idle_minutes + 1))
    response = api.client.get("/auth/session", headers=headers)
    assert response.status_code == 401
    assert "inactivity" in response.json()["detail"]


def test_sensitive_data_needs_a_recent_step_up(api: Api, customer_ids):
    headers, secret = api.staff(Role.SUPPORT_AGENT)
    url = f"/api/v1/customers/{customer_ids[0]}/360?unmask=true"
    assert api.client.get(url, headers=headers).status_code == 200  # MFA at sign-in is recent
    api.clock.advance(timedelta(minutes=api.settings.step_up_minutes + 1))
    refused = api.client.get(url, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/step-up-required")
    assert refused.json()["step_up_url"] == "/auth/step-up"
    masked = api.client.get(f"/api/v1/customers/{customer_ids[0]}/360", headers=headers)
    assert masked.status_code == 200 and masked.json()["customer"]["pii_masked"] is True
    api.step_up(headers, secret)
    unmasked = api.client.get(url, headers=headers)
    assert unmasked.status_code == 200
    assert unmasked.json()["customer"]["pii_masked"] is False


def test_logout_password_change_and_admin_revoke_end_sessions(api: Api, customer_ids):
    email = api.create(Role.CUSTOMER, customer_ids[0])
    tokens = [api.login(email, CUSTOMER_PASSWORD).json()["session"]["token"] for _ in range(3)]
    h1, h2, h3 = ({"Authorization": f"Bearer {t}"} for t in tokens)
    assert api.client.post("/auth/logout", headers=h1).status_code == 204
    assert api.client.get("/auth/session", headers=h1).status_code == 401
    assert api.client.get("/auth/session", headers=h2).status_code == 200
    weak = api.client.post(
        "/auth/password",
        json={"current_password": CUSTOMER_PASSWORD, "new_password": "password"},
        headers=h2,
    )
    assert weak.status_code == 422 and weak.json()["type"].endswith("/weak-password")
    new_password = "another quite long passphrase 9"
    changed = api.client.post(
        "/auth/password",
        json={"current_password": CUSTOMER_PASSWORD, "new_password": new_password},
        headers=h2,
    )
    assert changed.status_code == 200 and changed.json()["sessions_ended"] == 2
    assert api.client.get("/auth/session", headers=h2).status_code == 401
    assert api.client.get("/auth/session", headers=h3).status_code == 401
    assert api.login(email, CUSTOMER_PASSWORD).status_code == 401
    token = api.login(email, new_password).json()["session"]["token"]
    customer = {"Authorization": f"Bearer {token}"}
    user_id = api.client.get("/auth/session", headers=customer).json()["user_id"]
    admin, _ = api.staff(Role.ADMIN)
    revoked = api.client.post(f"/api/v1/admin/users/{user_id}/revoke-sessions", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["sessions_ended"] == 1
    assert api.client.get("/auth/session", headers=customer).status_code == 401
    assert {"auth.logout", "auth.password_changed"} <= set(audit_actions(api, email))


@pytest.mark.parametrize("missing", ["no header", "bad token"])
def test_requests_without_a_live_session_are_refused(api: Api, customer_ids, missing):
    headers = {} if missing == "no header" else {"Authorization": "Bearer forged-token"}
    response = api.client.get(
        f"/tmf-api/customerManagement/v5/customer/{customer_ids[0]}", headers=headers
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
