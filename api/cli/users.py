"""``cems users``: create and list sign-in accounts (staff and customers)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from typing import Annotated

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly
from api.core.permissions import Role

app = typer.Typer(help="Sign-in accounts: staff (password + TOTP) and customers.")
console = Console(highlight=False)


def _password(value: str | None) -> str:
    if value:
        return value
    env = os.environ.get("CEMS_NEW_USER_PASSWORD")
    if env:
        return env
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise UserError("the two passwords differ; run the command again.")
    return first


@app.command("create")
@friendly
def create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[Role, typer.Option(help="Role of the account.")],
    customer_id: Annotated[
        str | None, typer.Option(help="CRM customer id (customer accounts only).")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (else $CEMS_NEW_USER_PASSWORD, else asked without echo).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the account as JSON.")] = False,
) -> None:
    """Create an account; staff enrol their TOTP app at their first sign-in."""
    from api.auth.accounts import create_account
    from api.core.passwords import PasswordPolicyError
    from data_contracts.settings import get_settings

    try:
        user = asyncio.run(
            create_account(
                get_settings(),
                email=email,
                role=role,
                password=_password(password),
                customer_id=customer_id,
                display_name=name,
            )
        )
    except PasswordPolicyError as exc:
        raise UserError(str(exc).rstrip(".") + ".") from None
    except ValueError as exc:
        raise UserError(f"{exc}.") from None
    if as_json:
        typer.echo(json.dumps(user, indent=2))
        return
    console.print(f"Created {user['role']} account {user['email']} (id {user['id']}).")
    if role is not Role.CUSTOMER:
        console.print("At the first sign-in the API returns a TOTP secret to add to an app.")


@app.command("demo")
@friendly
def demo() -> None:
    """Create one demo account per role (development only) and print how to sign in."""
    from api.auth.accounts import ensure_demo_accounts
    from data_contracts.settings import get_settings

    try:
        accounts = asyncio.run(ensure_demo_accounts(get_settings()))
    except ValueError as exc:
        raise UserError(f"{exc}.") from None
    typer.echo("Demo accounts (development only):")
    for a in accounts:
        extra = f"customer {a['customer_id']}" if a["customer_id"] else f"TOTP {a['totp_secret']}"
        typer.echo(f"  {a['role']:<18} {a['email']:<20} password: {a['password']:<36} {extra}")
    console.print(
        "Staff sign in with POST /auth/login, then POST /auth/mfa with the current code "
        "(`cems users code --email agent@demo.test` prints it)."
    )


@app.command("code")
@friendly
def code(email: Annotated[str, typer.Option(help="A demo staff account's email.")]) -> None:
    """Print the current TOTP code of a staff account (development only)."""
    import sqlalchemy as sa

    from api.auth.models import User, email_index
    from api.core.clock import SystemClock
    from api.core.totp import totp_code
    from api.crypto.keyring import open_keyring, use_keyring
    from api.db.engine import sync_engine
    from api.db.migrate import ensure_schema
    from data_contracts.settings import get_settings

    settings = get_settings()
    if settings.environment != "development":
        raise UserError("TOTP codes are printed only in development; use an authenticator app.")
    ensure_schema(settings)
    engine = sync_engine(settings)
    try:
        with use_keyring(open_keyring(settings)), engine.connect() as conn:
            wanted = User.email_bidx == email_index(email.strip().lower())
            secret = conn.execute(sa.select(User.totp_secret).where(wanted)).scalar()
    finally:
        engine.dispose()
    if not secret:
        raise UserError(f"{email} has no TOTP secret (not a staff account, or not enrolled).")
    typer.echo(totp_code(secret, SystemClock().now()))
