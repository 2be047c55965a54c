"""What the commands that touch the operational database share (audit, privacy)."""

from __future__ import annotations

import getpass

from data_contracts.settings import Settings


def operational_settings() -> Settings:
    """The settings, with the operational database migrated to the latest revision."""
    from api.db.migrate import ensure_schema
    from data_contracts.settings import get_settings

    settings = get_settings()
    ensure_schema(settings)
    return settings


def operator_name() -> str:
    """Who runs the command, as the audit log records it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this container
        return "cli:unknown"
