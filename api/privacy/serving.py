"""The operational database: serving tables, sign-in accounts and the audit log.

Serving tables keep a few versions of each mart (the current one, the one before it for
readers still on it, and a loading one during a publish); an export shows the current
version, an erasure deletes the customer from every version. Sign-in accounts are exported
without their secrets (password hash, TOTP secret, session token hashes, passkey public
keys) and erased with their sessions, passkeys and pending sign-in steps. Audit entries are
exported (what was done with the customer's data, by which role) but never erased: the log
keeps the fact of each access and of the erasure itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from api.audit.models import AuditEntry
from api.auth.models import Ceremony, Passkey, Session, User
from api.db.base import Base
from api.serving.models import (
    Publication,
    ServingAccount,
    ServingCustomer,
    ServingCustomerName,
    ServingTransaction,
    ServingUsage,
    ServingUsagePattern,
)

SERVING_TABLES: tuple[type[Any], ...] = (
    ServingCustomer,
    ServingCustomerName,  # blind indexes of the name's words
    ServingAccount,
    ServingTransaction,
    ServingUsage,
    ServingUsagePattern,
)
_USER_FIELDS = (
    "id", "email", "role", "display_name", "customer_id", "created_at", "password_changed_at",
    "totp_enrolled_at", "failed_logins", "locked_until", "disabled",
)  # fmt: skip
_SESSION_FIELDS = (
    "id", "user_id", "role", "auth_method", "authenticated_at", "expires_at", "last_seen_at",
    "mfa_at", "revoked_at", "revoke_reason", "source_address", "user_agent",
)  # fmt: skip
MATCHED_BY = {
    **{m.__tablename__: "customer_id (current version)" for m in SERVING_TABLES},
    "users": "customer_id",
    "sessions": "user_id of the customer's sign-in accounts",
    "passkeys": "user_id of the customer's sign-in accounts",
    "audit_entries": "customer_id, or one of the customer's sign-in accounts as the actor",
}
_PASSKEY_FIELDS = ("user_id", "sign_count", "transports", "aaguid", "created_at", "last_used_at")


def _fields(obj: Base, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _user_ids(conn: sa.Connection, customer_id: str) -> list[str]:
    return list(conn.scalars(sa.select(User.id).where(User.customer_id == customer_id)))


def export(conn: sa.Connection, customer_id: str) -> dict[str, list[dict[str, Any]]]:
    """Everything the operational database holds on the customer, table by table."""
    found: dict[str, list[dict[str, Any]]] = {}
    current = conn.scalar(sa.select(Publication.version).where(Publication.status == "current"))
    for model in SERVING_TABLES:
        table = model.__table__
        query = sa.select(table).where(table.c.customer_id == customer_id)
        query = query.where(table.c.version == current).order_by(*table.primary_key.columns)
        rows = []
        for row in conn.execute(query).mappings():
            record = {k: v for k, v in row.items() if k != "payload"}
            if "payload" in row:
                record["payload"] = json.loads(row["payload"])
            rows.append(record)
        found[model.__tablename__] = rows
    session = orm.Session(bind=conn)
    users = session.scalars(sa.select(User).where(User.customer_id == customer_id)).all()
    ids = [u.id for u in users]
    found["users"] = [_fields(u, _USER_FIELDS) for u in users]
    sessions = session.scalars(
        sa.select(Session).where(Session.user_id.in_(ids)).order_by(Session.authenticated_at)
    ).all()
    found["sessions"] = [_fields(s, _SESSION_FIELDS) for s in sessions]
    passkeys = session.scalars(
        sa.select(Passkey).where(Passkey.user_id.in_(ids)).order_by(Passkey.created_at)
    ).all()
    found["passkeys"] = [
        {
            "credential_id": base64.urlsafe_b64encode(p.credential_id).decode().rstrip("="),
            **_fields(p, _PASSKEY_FIELDS),
        }
        for p in passkeys
    ]
    found["audit_entries"] = _audit(session, customer_id, set(ids))
    session.close()
    return found


def _audit(session: orm.Session, customer_id: str, own: set[str]) -> list[dict[str, Any]]:
    """Entries about the customer; who acted is named only when it was the customer."""
    about = AuditEntry.customer_id == customer_id
    if own:
        about = sa.or_(about, AuditEntry.actor_id.in_(own))
    entries = session.scalars(
        sa.select(AuditEntry).where(about).order_by(AuditEntry.occurred_at, AuditEntry.id)
    ).all()
    result = []
    for e in entries:
        mine = e.actor_id in own
        result.append(
            {
                "occurred_at": e.occurred_at,
                "action": e.action,
                "resource": e.resource,
                "outcome": e.outcome,
                "status_code": e.status_code,
                "actor_role": e.actor_role,
                "actor": e.actor_label if mine else None,
                "source_address": e.source_address if mine else None,
            }
        )
    return result


def erase(conn: sa.Connection, customer_id: str) -> dict[str, int]:
    """Delete the customer from every serving version and their sign-in accounts.

    Runs in the caller's transaction; returns rows deleted per table.
    """
    counts: dict[str, int] = {}
    for model in SERVING_TABLES:
        table = model.__table__
        result = conn.execute(sa.delete(table).where(table.c.customer_id == customer_id))
        counts[model.__tablename__] = int(result.rowcount or 0)
    ids = _user_ids(conn, customer_id)
    # Children first: the foreign keys cascade, but not on every SQLite connection.
    for model, column in (
        (Session, Session.user_id),
        (Passkey, Passkey.user_id),
        (Ceremony, Ceremony.user_id),
    ):
        result = conn.execute(sa.delete(model).where(column.in_(ids)))
        counts[model.__tablename__] = int(result.rowcount or 0)
    result = conn.execute(sa.delete(User).where(User.customer_id == customer_id))
    counts[User.__tablename__] = int(result.rowcount or 0)
    return counts
