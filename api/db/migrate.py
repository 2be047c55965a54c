"""Alembic migrations of the operational database, driven from CEMS settings.

``ensure_schema`` upgrades to the latest revision (idempotent); ``cems db upgrade`` and the
API's start-up call it. New revisions: ``cems db revision -m "..."`` (autogenerate).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from api.db.engine import sync_engine
from data_contracts.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(settings: Settings) -> str | None:
    engine = sync_engine(settings)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def ensure_schema(settings: Settings) -> None:
    """Upgrade the operational database to the latest migration (no-op when current)."""
    if current_revision(settings) == head_revision():
        return
    engine = sync_engine(settings)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by copying it and dropping the original; with foreign
                # keys on, that drop would cascade (a user's sessions and passkeys). Off for
                # the migration (it only takes effect outside a transaction), checked after.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            with conn.begin():
                config = alembic_config(settings)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows whose foreign keys do not match")
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    finally:
        engine.dispose()


def revision(settings: Settings, message: str) -> None:
    """Autogenerate a new migration from the models (development)."""
    command.revision(alembic_config(settings), message=message, autogenerate=True)
