"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import api.db.models  # noqa: F401  (registers every table)
from api.db.base import Base
from api.db.engine import sync_engine
from api.db.migrate import current_revision, ensure_schema, head_revision
from data_contracts.settings import Settings


def test_migrations_match_the_models(tmp_path):
    settings = Settings(home=tmp_path)
    ensure_schema(settings)
    ensure_schema(settings)  # idempotent
    assert current_revision(settings) == head_revision()
    engine = sync_engine(settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models changed without a migration (cems db revision -m ...): {diff}"


def test_revision_0004_encrypts_what_earlier_revisions_stored_in_clear(tmp_path):
    """An operator upgrading a database with accounts and a publication keeps them usable."""
    import json
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    from api.auth.models import Session, User, email_index
    from api.crypto.keyring import open_keyring, use_keyring
    from api.db.migrate import alembic_config
    from api.serving.models import ServingCustomer, ServingCustomerName

    settings = Settings(home=tmp_path)
    engine = sync_engine(settings)
    with engine.begin() as conn:
        config = alembic_config(settings)
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
    record = {"customer_id": "C1", "first_name": "Ana", "last_name": "García Ruiz",
              "email": "ana.garcia@example.test", "phone_number": "+34 612 345 678"}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, role, display_name, totp_secret, failed_logins,"
                " disabled, created_at) VALUES ('u1', 'ana@example.test', 'customer', 'Ana',"
                " 'JBSWY3DPEHPK3PXP', 0, false, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO sessions (id, token_hash, user_id, role, auth_method,"
                " authenticated_at, expires_at, last_seen_at, source_address, user_agent)"
                " VALUES ('s1', 'h1', 'u1', 'customer', 'password', :now, :now, :now,"
                " '10.0.0.9', 'AgentString/1')"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO serving_customers (version, customer_id, email_lc, phone_digits,"
                " name_lc, payload) VALUES (1, 'C1', 'ana.garcia@example.test', '34612345678',"
                " 'ana garcía ruiz', :payload)"
            ),
            {"payload": json.dumps(record)},
        )
    engine.dispose()

    ensure_schema(settings)  # to head: 0004 encrypts the rows above

    raw = b"".join(f.read_bytes() for f in (tmp_path / "serving").glob("serving.db*"))
    for clear in (b"ana@example.test", b"JBSWY3DPEHPK3PXP", b"AgentString", b"612345678"):
        assert clear not in raw
    engine = sync_engine(settings)
    with use_keyring(open_keyring(settings)), engine.connect() as conn:
        user = conn.execute(
            sa.select(User.email, User.display_name, User.totp_secret).where(
                User.email_bidx == email_index("ANA@example.test")
            )
        ).one()
        session = conn.execute(sa.select(Session.source_address, Session.user_agent)).one()
        customer = conn.execute(
            sa.select(ServingCustomer.payload).where(
                ServingCustomer.phone_bidx == open_keyring(settings).blind("phone", "612345678")
            )
        ).scalar_one()
        words = conn.execute(sa.select(sa.func.count()).select_from(ServingCustomerName)).scalar()
    engine.dispose()
    assert tuple(user) == ("ana@example.test", "Ana", "JBSWY3DPEHPK3PXP")
    assert tuple(session) == ("10.0.0.9", "AgentString/1")
    assert json.loads(customer) == record and words == 3  # ana, garcía, ruiz
