"""GDPR and CCPA (issue 7): data subject access export, erasure, consent in marketing segments.

Every test that writes works on a copy of the shared landed lakehouse (never the shared one):
markers are planted in tables the fixture leaves empty for the chosen customer (an invoice
and a payment reached only through the customer's account, a ticket status change reached
only through a ticket, a quarantined row mentioning them), then the export must return
them and the erasure must leave none of them readable, time travel included.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import deltalake
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from api_client import Api, serial
from deltalake.exceptions import DeltaError
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.audit.keys import load_key, load_or_create_key
from api.audit.models import AuditEntry
from api.audit.verify import verify
from api.auth.accounts import create_account
from api.auth.models import Passkey, Session, User
from api.cli.main import app as cli
from api.core.clock import FrozenClock
from api.core.permissions import Role
from api.db.engine import sync_engine
from api.main import create_app
from api.privacy import ledger
from api.privacy.erase import NothingHeldError, erase_customer
from api.privacy.export import export_customer
from api.privacy.models import Erasure
from api.privacy.serving import SERVING_TABLES
from api.serving.publish import publish
from data_contracts.settings import Settings, get_settings

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
UNKNOWN = "C99999999"  # in no store: safe to aim an erasure at, even on the shared data
UNKNOWN_OWN = "C99999998"  # a sign-in account's id that no data store holds either
runner = CliRunner()


# ------------------------------------------------------------------ an independent oracle


@dataclass
class Ids:
    """The customer's ids, read straight from the tables (not through api.privacy)."""

    customer: str
    accounts: set[str] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    invoices: set[str] = field(default_factory=set)
    tickets: set[str] = field(default_factory=set)
    payments: set[str] = field(default_factory=set)

    @property
    def all(self) -> set[str]:
        return (
            {self.customer}
            | self.accounts
            | self.subscriptions
            | self.invoices
            | (self.tickets | self.payments)
        )


def _rows(path: Path, version: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        deltalake.DeltaTable(str(path), version=version).to_pyarrow_table().to_pylist()
    )
    return rows


def ids_of(lake: Path, customer: str) -> Ids:
    ids = Ids(customer)
    for layer in ("bronze", "silver"):
        for row in _rows(lake / layer / "crm" / "accounts"):
            if row["customer_id"] == customer:
                ids.accounts.add(row["account_id"])
        for row in _rows(lake / layer / "crm" / "subscriptions"):
            if row["customer_id"] == customer:
                ids.subscriptions.add(row["subscription_id"])
        for row in _rows(lake / layer / "interactions" / "tickets"):
            if row["customer_id"] == customer:
                ids.tickets.add(row["ticket_id"])
    for row in _rows(lake / "quarantine" / "rows"):
        payload = json.loads(row["raw_payload"])
        if row["contract"] == "crm.subscriptions" and payload.get("customer_id") == customer:
            ids.subscriptions.add(payload["subscription_id"])
    for layer in ("bronze", "silver"):
        for row in _rows(lake / layer / "billing" / "invoices"):
            if row["account_id"] in ids.accounts:
                ids.invoices.add(row["invoice_id"])
        for row in _rows(lake / layer / "billing" / "payments"):
            if row["account_id"] in ids.accounts:
                ids.payments.add(row["payment_id"])
    return ids


def is_customers(row: dict[str, Any], ids: Ids) -> bool:
    """The customer's row: by its first key column that has a value, or a raw mention."""
    for column, known in (
        ("customer_id", {ids.customer}),
        ("account_id", ids.accounts),
        ("subscription_id", ids.subscriptions),
        ("invoice_id", ids.invoices),
        ("ticket_id", ids.tickets),
    ):
        if row.get(column) is not None:
            if row[column] in known:
                return True
            break
    raw = " ".join(str(row.get(c) or "") for c in ("raw_payload", "_corrupt_record"))
    return any(key in raw for key in ids.all)


def delta_tables(lake: Path) -> list[Path]:
    return sorted(p.parent for p in lake.rglob("_delta_log") if p.is_dir())


# ------------------------------------------------------------------ the planted copy


@dataclass
class Planted:
    settings: Settings
    customer: str
    ids: Ids
    markers: dict[str, str]
    profile: dict[str, Any]  # the customer's silver row (personal fields)

    @property
    def lake(self) -> Path:
        return Path(self.settings.lakehouse_root)


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    schema = pa.schema(deltalake.DeltaTable(str(path)).schema().to_arrow())
    deltalake.write_deltalake(str(path), pa.Table.from_pylist(rows, schema=schema), mode="append")


def _pick_customer(lake: Path) -> str:
    """A customer with a quarantined subscription (its usage is held back behind it) and a
    retention action: their data reaches every layer, quarantine and gold/ml included."""
    quarantined = {
        json.loads(r["raw_payload"]).get("customer_id")
        for r in _rows(lake / "quarantine" / "rows")
        if r["contract"] == "crm.subscriptions"
    }
    actions = {r["customer_id"] for r in _rows(lake / "gold" / "ml" / "retention_actions")}
    current = {r["customer_id"] for r in _rows(lake / "gold" / "dim_customers")}
    chosen = sorted(quarantined & actions & current)
    assert chosen, "the test operator needs a scored customer with a quarantined subscription"
    return str(chosen[0])


def plant(settings: Settings) -> Planted:
    lake = Path(settings.lakehouse_root)
    customer = _pick_customer(lake)
    ids = ids_of(lake, customer)
    account = sorted(ids.accounts)[0]
    markers = {
        "invoice": "INV-PRIVACY-MARKER",
        "payment": "PAY-PRIVACY-MARKER",
        "ticket": "TCK-PRIVACY-MARKER",
        "agent": "agent-privacy-marker",
        "quarantine": "privacy.marker@example.test",
    }
    at = datetime(2026, 8, 9, 12, 0, tzinfo=UTC)
    _append(lake / "silver/billing/invoices", [{
        "invoice_id": markers["invoice"], "account_id": account, "issue_date": at.date(),
        "total_amount": 42, "currency": "EUR", "_source_file": "planted", "_batch_id": 99,
    }])  # fmt: skip
    _append(lake / "silver/billing/payments", [{
        "payment_id": markers["payment"], "invoice_id": markers["invoice"], "account_id": account,
        "amount": 42, "currency": "EUR", "payment_status": "succeeded", "paid_at": at,
    }])  # fmt: skip
    _append(lake / "silver/interactions/tickets", [{
        "ticket_id": markers["ticket"], "customer_id": customer, "category": "billing",
        "ticket_status": "open", "opened_at": at,
    }])  # fmt: skip
    _append(lake / "silver/interactions/ticket_status_changes", [{
        "ticket_id": markers["ticket"], "changed_at": at, "from_status": "open",
        "to_status": "pending", "agent_id": markers["agent"],
    }])  # fmt: skip
    payload = {"customer_id": customer, "email": markers["quarantine"]}
    _append(lake / "quarantine/rows", [{
        "contract": "crm.customers", "source_file": "planted", "batch_id": 99,
        "reason": "email does not match its pattern", "reasons": ["email does not match"],
        "raw_payload": json.dumps(payload), "ingested_at": at,
    }])  # fmt: skip
    ids = ids_of(lake, customer)  # now with the planted invoice, payment and ticket
    profile = next(r for r in _rows(lake / "silver/crm/customers") if r["customer_id"] == customer)
    return Planted(settings, customer, ids, markers, profile)


@pytest.fixture
def planted(gold_settings: Settings, tmp_path: Path) -> Planted:
    """A copy of the shared home (lakehouse, warehouse, landing), published, with markers."""
    home = tmp_path / "home"
    shutil.copytree(gold_settings.home, home, ignore=shutil.ignore_patterns("sources"))
    settings = Settings(home=home)
    publish(settings)
    return plant(settings)


def _add_passkey(settings: Settings, customer: str) -> None:
    engine = sync_engine(settings)
    with engine.begin() as conn:
        user_id = conn.scalar(sa.select(User.id).where(User.customer_id == customer))
        conn.execute(
            sa.insert(Passkey).values(
                credential_id=b"planted-credential", user_id=user_id, public_key=b"pk",
                created_at=NOW,
            )
        )  # fmt: skip
    engine.dispose()


@pytest.fixture
def copy_api(planted: Planted) -> Iterator[Api]:
    clock = FrozenClock(NOW)
    n = next(serial)
    app = create_app(planted.settings, clock)
    with TestClient(app, client=(f"10.77.{n % 250}.1", 50000)) as client:
        yield Api(client, clock, planted.settings)


# ------------------------------------------------------------------ export


def test_export_returns_every_personal_field_we_hold(planted: Planted) -> None:
    settings, customer, ids = planted.settings, planted.customer, planted.ids
    asyncio.run(
        create_account(
            settings, email="privacy.customer@example.test", role=Role.CUSTOMER,
            password="a long passphrase nobody guesses 7", customer_id=customer,
        )
    )  # fmt: skip
    _add_passkey(settings, customer)

    data = export_customer(settings, customer, now=NOW)
    document = json.loads(json.dumps(data.to_dict()))  # machine-readable: plain JSON
    text = json.dumps(document)

    # Lakehouse: every Delta table, its rows of the customer and nothing else.
    expected = {}
    for path in delta_tables(planted.lake):
        name = path.relative_to(planted.lake).as_posix()
        expected[name] = sum(is_customers(r, ids) for r in _rows(path))
    state = {n: c for n, c in expected.items() if n.startswith("_")}  # batch logs, watermarks
    assert state and not any(state.values())
    expected = {n: c for n, c in expected.items() if not n.startswith("_")}
    manifest = document["manifest"]
    searched = {t["table"]: t["rows"] for t in manifest["tables"] if t["store"] == "lakehouse"}
    assert searched == expected
    lakehouse = document["stores"]["lakehouse"]
    assert set(lakehouse) == {name for name, n in expected.items() if n}
    for layer in (
        "bronze/",
        "silver/",
        "quarantine/",
        "gold/",
        "gold/ml/churn_scores",
        "gold/ml/retention_actions",
        "silver/billing/payments",
        "silver/interactions/ticket_status_changes",
        "silver/billing/usage_daily",
    ):
        assert any(name.startswith(layer) for name in lakehouse), layer  # fmt: skip
    for marker in planted.markers.values():
        assert marker in text, marker
    # Every column of the customer's rows, personal ones included, as held.
    (row,) = lakehouse["silver/crm/customers"]
    schema = deltalake.DeltaTable(str(planted.lake / "silver/crm/customers")).schema()
    assert set(row) == {f.name for f in schema.fields}
    for column in ("first_name", "last_name", "email", "phone_number", "address_line",
                   "postal_code"):  # fmt: skip
        assert row[column] == planted.profile[column]
    assert row["date_of_birth"] == (
        planted.profile["date_of_birth"] and planted.profile["date_of_birth"].isoformat()
    )
    held_back = [r for r in lakehouse["quarantine/rows"] if r["contract"] == "billing.usage_daily"]
    assert held_back, "usage held back behind the quarantined subscription is the customer's"
    keys = manifest["keys"]
    assert set(keys["account_id"]) == ids.accounts
    assert set(keys["subscription_id"]) == ids.subscriptions
    assert set(keys["invoice_id"]) >= ids.invoices and set(keys["ticket_id"]) == ids.tickets

    # Serving store: current rows of every serving table, and the sign-in account.
    serving = document["stores"]["serving"]
    (profile,) = serving["serving_customers"]
    assert profile["payload"]["email"] == planted.profile["email"]
    gold_accounts = sum(
        is_customers(r, ids) for r in _rows(planted.lake / "gold/dim_billing_accounts")
    )
    assert len(serving["serving_billing_accounts"]) == gold_accounts
    assert serving["serving_usage_daily"] and serving["serving_usage_patterns"]
    (user,) = serving["users"]
    assert user["email"] == "privacy.customer@example.test" and user["customer_id"] == customer
    assert "password_hash" not in user and "totp_secret" not in user
    assert len(serving["passkeys"]) == 1 and "public_key" not in serving["passkeys"][0]
    assert all("token_hash" not in s for s in serving.get("sessions", []))

    # Manifest: the warehouse's copy counted, landing files named, what is left out said.
    warehouse = {t["table"]: t["rows"] for t in manifest["tables"] if t["store"] == "warehouse"}
    assert warehouse["gold.dim_customers"] == 1
    assert warehouse["gold.fct_usage_daily"] == expected["gold/fct_usage_daily"]
    landing = {f["path"] for f in manifest["landing_files"]}
    assert "crm/export/customers.csv" in landing
    assert manifest["rows_found"] == sum(
        len(v) for s in document["stores"].values() for v in s.values()
    )
    assert manifest["tables_searched"] == len(manifest["tables"]) and manifest["not_included"]


def test_export_of_an_unknown_customer_holds_nothing(
    gold_settings: Settings, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", lakehouse_root=gold_settings.lakehouse_root)
    publish(settings)
    data = export_customer(settings, UNKNOWN, now=NOW, include_landing=False)
    assert not data.holds_data and data.rows_found == 0
    assert data.tables and all(t.rows == 0 for t in data.tables)


# ------------------------------------------------------------------ erasure through the API


def _erase_url(customer: str) -> str:
    return f"/api/v1/admin/customers/{customer}/erasure"


def _export_url(customer: str) -> str:
    return f"/api/v1/admin/customers/{customer}/data-export"


def _versions(lake: Path) -> dict[Path, int]:
    return {p: deltalake.DeltaTable(str(p)).version() for p in delta_tables(lake)}


def _log_text(log: Path) -> str:
    parts = []
    for item in sorted(log.iterdir()):
        if item.name.endswith(".parquet"):
            parts.append(str(pq.read_table(item).to_pylist()))
        elif item.is_file():
            parts.append(item.read_text(errors="replace"))
    return "\n".join(parts)


def assert_gone_from_the_lakehouse(
    lake: Path, ids: Ids, values: set[str], before: dict[Path, int]
) -> None:
    """No version, no data file on disk and no log file holds the customer."""
    for path in delta_tables(lake):
        assert not [r for r in _rows(path) if is_customers(r, ids)], path
        for version in range(before.get(path, 0) + 1):
            try:
                old = _rows(path, version)
            except (DeltaError, OSError):  # the version is gone: nothing to travel back to
                continue
            assert not [r for r in old if is_customers(r, ids)], (path, version)
        for data in path.rglob("*.parquet"):
            if "_delta_log" not in data.parts:
                assert not [r for r in pq.read_table(data).to_pylist() if is_customers(r, ids)]
        log = _log_text(path / "_delta_log")
        found = [v for v in values if v in log]
        assert not found, (path, found)  # no statistics, predicates or checksums naming them


def test_erasure_leaves_nothing_readable_time_travel_included(
    planted: Planted, copy_api: Api
) -> None:
    api, settings, customer, ids = copy_api, planted.settings, planted.customer, planted.ids
    customer_headers = api.customer(customer)  # a sign-in account with a live session
    _add_passkey(settings, customer)
    admin, secret = api.staff(Role.ADMIN)
    lake, before = planted.lake, _versions(planted.lake)
    personal = {planted.profile["email"], planted.profile["phone_number"]}
    values = ids.all | personal | set(planted.markers.values())
    silver = lake / "silver/crm/customers"
    assert [r for r in _rows(silver, 0) if r["customer_id"] == customer]  # time travel worked
    warehouse = Path(settings.warehouse_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        held = con.execute(
            "select count(*) from gold.dim_customers where email = ?", [planted.profile["email"]]
        ).fetchone()
    assert held == (1,)  # (whether the raw file shows it literally depends on compression)

    # An MFA check older than 15 minutes is not enough; nothing is erased.
    api.clock.advance(timedelta(minutes=16))
    stale = api.client.post(_erase_url(customer), headers=admin)
    assert stale.status_code == 403 and stale.json()["type"].endswith("/step-up-required")
    assert _versions(lake) == before

    api.step_up(admin, secret)
    response = api.client.post(_erase_url(customer), headers=admin)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["customer_id"] == customer and report["previously_erased"] is False
    lakehouse = report["counts"]["lakehouse"]
    for name in (
        "silver/crm/customers",
        "quarantine/rows",
        "gold/ml/churn_scores",
        "silver/billing/payments",
        "silver/interactions/ticket_status_changes",
    ):
        assert lakehouse[name] > 0, name  # fmt: skip
    assert report["counts"]["serving"]["users"] == 1
    assert report["counts"]["serving"]["passkeys"] == 1
    assert report["counts"]["warehouse"]["gold.dim_customers"] == 1
    assert "silver/crm/customers" in report["history_purged"]
    assert report["rows_erased"] == sum(n for s in report["counts"].values() for n in s.values())
    assert "crm/export/customers.csv" in {f["path"] for f in report["landing_files"]}

    # The lakehouse: no table, no older version, no file on disk.
    assert_gone_from_the_lakehouse(lake, ids, values, before)
    for path in delta_tables(lake):  # every table tied to customers keeps one version only
        names = {f.name for f in deltalake.DeltaTable(str(path)).schema().fields}
        if names & {"customer_id", "account_id", "subscription_id", "ticket_id", "raw_payload"}:
            latest = deltalake.DeltaTable(str(path)).version()
            for version in range(latest):
                with pytest.raises(DeltaError):
                    deltalake.DeltaTable(str(path), version=version)
    with pytest.raises(DeltaError):  # the version is gone
        _rows(silver, 0)
    # The warehouse, rewritten without them.
    assert planted.profile["email"].encode() not in warehouse.read_bytes()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select count(*) from gold.dim_customers where customer_id = ?", [customer]
        ).fetchone()
    assert row == (0,)
    # The serving store: no version of any table, no sign-in account, session or passkey.
    engine = sync_engine(settings)
    with engine.connect() as conn:
        for model in SERVING_TABLES:
            table = model.__table__
            held = conn.scalar(sa.select(sa.func.count()).where(table.c.customer_id == customer))
            assert held == 0, model.__tablename__
        assert conn.scalar(sa.select(sa.func.count()).where(User.customer_id == customer)) == 0
        assert conn.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
        sessions = conn.scalar(
            sa.select(sa.func.count()).where(Session.role == Role.CUSTOMER.value)
        )
        assert sessions == 0
        entries = conn.execute(
            sa.select(AuditEntry.customer_id, AuditEntry.detail, AuditEntry.outcome).where(
                AuditEntry.action == "customer.erase"
            )
        ).all()
        ledger_rows = conn.execute(sa.select(Erasure)).mappings().all()
        assert ledger.was_erased(conn, load_key(settings), customer)
    engine.dispose()
    me = api.client.get("/api/v1/me", headers=customer_headers)
    assert me.status_code == 401  # the account and its sessions are gone

    # The audit log keeps the fact (who, when, counts), verifies, and holds no personal data.
    assert [(c, o) for c, _, o in entries] == [(customer, "success")]
    detail = entries[0][1] or ""
    assert json.loads(detail)["rows_erased"] == report["rows_erased"]
    assert not [v for v in values - {customer} if v in detail]
    assert verify(settings, load_key(settings)).ok
    (entry,) = ledger_rows
    assert customer not in json.dumps({k: str(v) for k, v in entry.items()})
    assert entry["rows_erased"] == report["rows_erased"]

    # Idempotent: a second erasure finds nothing, says so, and is recorded too.
    again = api.client.post(_erase_url(customer), headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["rows_erased"] == 0 and again.json()["previously_erased"] is True
    assert again.json()["history_purged"] == []
    # And there is nothing left to export.
    assert api.client.get(_export_url(customer), headers=admin).status_code == 404
    assert verify(settings, load_key(settings)).ok


def test_nothing_is_erased_for_a_customer_no_store_holds(planted: Planted) -> None:
    before = _versions(planted.lake)
    with pytest.raises(NothingHeldError):
        erase_customer(planted.settings, UNKNOWN, now=NOW, requested_by="test")
    assert _versions(planted.lake) == before
    engine = sync_engine(planted.settings)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Erasure)) == 0
    engine.dispose()


# ------------------------------------------------------------------ who may


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN], ids=lambda r: r.value)
def test_only_admins_reach_the_erasure(api: Api, role: Role) -> None:
    # An id no store holds: a wrong grant here could not erase anyone from the shared data.
    if role is Role.CUSTOMER:
        headers = api.customer(UNKNOWN_OWN)  # never UNKNOWN: its account would be data held
        own = api.client.post(_erase_url(UNKNOWN_OWN), headers=headers)
        assert own.status_code == 404  # not even their own: erasure is an admin's act
        expected = 404
    else:
        headers, _ = api.staff(role)  # MFA just done: step-up is fresh
        expected = 403
    response = api.client.post(_erase_url(UNKNOWN), headers=headers)
    assert response.status_code == expected
    assert response.headers["content-type"] == "application/problem+json"


def test_admin_erasure_needs_step_up_and_an_existing_customer(api: Api) -> None:
    engine = sync_engine(api.settings)
    with engine.connect() as conn:  # guard the shared lakehouse: UNKNOWN must hold nothing
        assert conn.scalar(sa.select(User.id).where(User.customer_id == UNKNOWN)) is None
    engine.dispose()
    admin, secret = api.staff(Role.ADMIN)
    api.clock.advance(timedelta(minutes=16))
    stale = api.client.post(_erase_url(UNKNOWN), headers=admin)
    assert stale.status_code == 403 and stale.json()["step_up_url"] == "/auth/step-up"
    api.step_up(admin, secret)
    missing = api.client.post(_erase_url(UNKNOWN), headers=admin)
    assert missing.status_code == 404  # nothing held, nothing done, nothing recorded


def test_full_export_is_admin_only_with_step_up_and_audited(
    api: Api, customer_ids: list[str]
) -> None:
    target = customer_ids[0]
    for role in (Role.SUPPORT_AGENT, Role.MARKETING_ANALYST, Role.NETWORK_OPS):
        headers, _ = api.staff(role)
        assert api.client.get(_export_url(target), headers=headers).status_code == 403
    own = api.customer(target)
    assert api.client.get(_export_url(target), headers=own).status_code == 404
    admin, secret = api.staff(Role.ADMIN)
    api.clock.advance(timedelta(minutes=16))
    assert api.client.get(_export_url(target), headers=admin).status_code == 403
    api.step_up(admin, secret)
    response = api.client.get(_export_url(target) + "?landing=false", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == target
    assert body["stores"]["lakehouse"]["silver/crm/customers"][0]["customer_id"] == target
    assert body["manifest"]["rows_found"] > 0 and response.headers["ETag"]
    engine = sync_engine(api.settings)
    with engine.connect() as conn:
        audited = conn.execute(
            sa.select(AuditEntry.customer_id, AuditEntry.detail)
            .where(AuditEntry.action == "customer.export_full")
            .order_by(AuditEntry.id.desc())
        ).first()
    engine.dispose()
    assert audited is not None and audited[0] == target and audited[1] is not None
    assert json.loads(audited[1])["rows_found"] == body["manifest"]["rows_found"]


# ------------------------------------------------------------------ the command line


def test_cli_exports_and_erases_with_yes_only(
    gold_settings: Settings, cems_home: Path, tmp_path: Path
) -> None:
    shutil.copytree(gold_settings.home, cems_home, ignore=shutil.ignore_patterns("sources"))
    settings = get_settings()
    publish(settings)
    customer = _pick_customer(Path(settings.lakehouse_root))
    out = tmp_path / "export.json"
    exported = runner.invoke(
        cli, ["privacy", "export", "--customer", customer, "--output", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["customer_id"] == customer
    assert out.stat().st_mode & 0o077 == 0  # personal data: the owner's only
    refused = runner.invoke(cli, ["privacy", "erase", "--customer", customer])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert export_customer(settings, customer, now=NOW, include_landing=False).holds_data
    erased = runner.invoke(cli, ["privacy", "erase", "--customer", customer, "--yes", "--json"])
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.output)["rows_erased"] > 0
    assert not export_customer(settings, customer, now=NOW, include_landing=False).holds_data
    unknown = runner.invoke(cli, ["privacy", "erase", "--customer", UNKNOWN, "--yes"])
    assert unknown.exit_code == 2 and "No store holds customer" in unknown.output
    engine = sync_engine(settings)
    with engine.connect() as conn:
        actions = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.actor_label).where(
                AuditEntry.customer_id == customer
            )
        ).all()
    engine.dispose()
    assert {a for a, _ in actions} == {"customer.export_full", "customer.erase"}
    assert all((label or "").startswith("cli:") for _, label in actions)
    assert verify(settings, load_or_create_key(settings)).ok


# ------------------------------------------------------------------ consent


def test_marketing_segments_exclude_customers_who_opted_out(
    gold_settings: Settings, tmp_path: Path
) -> None:
    """Rebuilt from this checkout's dbt models on a copy (the shared build may predate them)."""
    from spark_jobs.marts import build

    home = tmp_path / "home"
    shutil.copytree(gold_settings.home, home, ignore=shutil.ignore_patterns("sources"))
    settings = Settings(home=home)
    result = build("duckdb", settings, select="dim_customers agg_retention_segments")
    assert result.nodes["assert_retention_segments_honour_consent"] == "pass"
    assert result.nodes["retention_segments_exclude_customers_who_opted_out"] == "pass"
    customers = _rows(Path(settings.gold_root) / "dim_customers")
    segments = _rows(Path(settings.gold_root) / "agg_retention_segments")
    opted_out = {
        c["customer_id"] for c in customers
        if not c["has_marketing_consent"] or c["is_do_not_sell"]
    }  # fmt: skip
    would_qualify = {
        c["customer_id"] for c in customers
        if c["has_marketing_consent"] and c["is_do_not_sell"] and not c["is_churned"]
        and c["active_subscription_count"] > 0
    }  # fmt: skip
    assert would_qualify, "the operator needs consenting customers who opted out of sale"
    assert len({s["customer_id"] for s in segments}) == len(segments) > 0  # one row a customer
    assert not {s["customer_id"] for s in segments} & opted_out
