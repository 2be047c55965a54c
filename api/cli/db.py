"""``cems db``: migrations of the operational database (Alembic)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.errors import friendly

app = typer.Typer(help="Operational database: Alembic migrations.")


@app.command("upgrade")
@friendly
def upgrade() -> None:
    """Bring the database to the latest migration."""
    from api.db.migrate import current_revision, ensure_schema
    from data_contracts.settings import get_settings

    settings = get_settings()
    ensure_schema(settings)
    typer.echo(f"Operational database at revision {current_revision(settings)}.")


@app.command("revision")
@friendly
def revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does.")],
) -> None:
    """Autogenerate a migration from the models (for developers)."""
    from api.db.migrate import ensure_schema
    from api.db.migrate import revision as make_revision
    from data_contracts.settings import get_settings

    settings = get_settings()
    ensure_schema(settings)
    make_revision(settings, message)
