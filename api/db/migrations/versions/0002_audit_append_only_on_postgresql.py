"""On PostgreSQL, audit entries are append-only and nothing under five years old is deleted.

Defence in depth beside the HMAC chain (which detects tampering): the database itself
refuses UPDATE of any audit entry and DELETE of one younger than five years, so only the
retention job's archive-then-delete of old entries gets through. SQLite has no such
triggers; there the chain is the guard.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        create or replace function cems_audit_entries_guard() returns trigger
        language plpgsql as $$
        begin
            if tg_op = 'UPDATE' then
                raise exception 'audit entries are append-only (entry %)', old.id;
            end if;
            if old.occurred_at > now() - interval '5 years' then
                raise exception 'audit entry % is younger than five years and is kept', old.id;
            end if;
            return old;
        end
        $$
        """
    )
    op.execute(
        "create trigger audit_entries_append_only before update or delete on audit_entries "
        "for each row execute function cems_audit_entries_guard()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("drop trigger if exists audit_entries_append_only on audit_entries")
    op.execute("drop function if exists cems_audit_entries_guard()")
