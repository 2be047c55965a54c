"""``cems users create`` and ``cems db upgrade``: accounts from the command line."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from api.audit.keys import load_key
from api.audit.verify import verify
from api.auth.models import User
from api.cli.main import app
from api.db.engine import sync_engine
from api.db.migrate import head_revision
from data_contracts.settings import get_settings

runner = CliRunner()


def test_create_staff_account_then_refuse_a_duplicate(cems_home):
    args = ["users", "create", "--email", "Agent@Operator.test", "--role", "support_agent"]
    result = runner.invoke(app, [*args, "--password", "long enough staff password", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["email"] == "agent@operator.test" and created["role"] == "support_agent"
    engine = sync_engine(get_settings())
    with engine.connect() as conn:
        user = conn.execute(sa.select(User.password_hash, User.totp_enrolled_at)).mappings().one()
    engine.dispose()
    assert user["password_hash"].startswith("$argon2id$")
    assert user["totp_enrolled_at"] is None  # enrolled at first sign-in
    again = runner.invoke(app, [*args, "--password", "long enough staff password"])
    assert again.exit_code == 2
    assert "already exists" in again.output
    report = verify(get_settings(), load_key(get_settings()))
    assert report.ok and report.entries_checked >= 1  # the creation is audited


def test_weak_password_and_missing_customer_id_are_one_sentence_errors(cems_home):
    weak = runner.invoke(
        app,
        ["users", "create", "--email", "a@b.test", "--role", "admin", "--password", "password"],
    )
    assert weak.exit_code == 2
    assert "Error:" in weak.output and "Traceback" not in weak.output
    orphan = runner.invoke(
        app,
        [
            "users", "create", "--email", "c@b.test", "--role", "customer",
            "--password", "a long customer passphrase",
        ],
    )  # fmt: skip
    assert orphan.exit_code == 2 and "customer id" in orphan.output


def test_db_upgrade_reaches_the_head_revision(cems_home):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
