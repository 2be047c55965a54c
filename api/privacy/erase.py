"""Erasure (right to be forgotten): remove one customer from every store CEMS keeps.

In order: every lakehouse Delta table (delete, zero-retention vacuum, older versions
dropped; see :mod:`api.privacy.lakehouse`), the DuckDB warehouse (delete, then the file is
rewritten), then in one transaction of the operational database every serving version, the
customer's sign-in accounts with their sessions and passkeys, and a row in the erasure
ledger (hashes and counts, no data). The caller audits it (``customer.erase``).

Erasing twice is fine: the second run finds nothing and reports zero rows. A run that
stops half-way (a concurrent writer, a full disk) can simply be run again; tables are
erased children first, so the keys that lead to the rest are found again.

Deleting rows means giving up time travel: each table the erasure changed keeps only its
latest version. Run erasures outside the landing and dbt windows; a job reading a table at
the moment its old files are vacuumed fails and must be retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.audit.keys import load_or_create_key
from api.auth.models import User
from api.crypto.keyring import load_keyring, use_keyring
from api.db.engine import sync_engine
from api.privacy import lakehouse, landing, ledger, serving, warehouse
from api.serving.models import ServingCustomer
from data_contracts.settings import Settings

STORES = ("lakehouse", "warehouse", "serving")


class NothingHeldError(LookupError):
    """No store holds the customer and no erasure of them is recorded."""


class ErasureError(RuntimeError):
    """The erasure stopped half-way; ``counts`` says what was already erased. Run it again."""

    def __init__(self, message: str, counts: dict[str, dict[str, int]]) -> None:
        super().__init__(message)
        self.counts = counts


@dataclass
class ErasureResult:
    """What one erasure did: rows erased per store and table, and what is left to others."""

    customer_id: str
    erasure_id: int
    erased_at: datetime
    previously_erased: bool
    counts: dict[str, dict[str, int]]
    history_purged: list[str] = field(default_factory=list)
    landing_files: list[landing.LandingFile] = field(default_factory=list)

    @property
    def rows_erased(self) -> int:
        return sum(n for tables in self.counts.values() for n in tables.values())

    def audit_detail(self) -> dict[str, Any]:
        """Counts only: the audit log keeps the fact of the erasure, not the data."""
        return {
            "erasure_id": self.erasure_id,
            "rows_erased": self.rows_erased,
            "tables": {
                f"{store}:{table}": n
                for store, tables in self.counts.items()
                for table, n in tables.items()
                if n
            },
            "history_purged_tables": len(self.history_purged),
            "landing_files_remaining": len(self.landing_files),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "erasure_id": self.erasure_id,
            "erased_at": self.erased_at.isoformat(),
            "previously_erased": self.previously_erased,
            "rows_erased": self.rows_erased,
            "counts": self.counts,
            "history_purged": self.history_purged,
            "landing_files": [f.to_dict() for f in self.landing_files],
        }


def _serving_holds(conn: sa.Connection, customer_id: str) -> bool:
    for column in (ServingCustomer.customer_id, User.customer_id):
        if conn.scalar(sa.select(column).where(column == customer_id).limit(1)) is not None:
            return True
    return False


def erase_customer(
    settings: Settings,
    customer_id: str,
    *,
    now: datetime,
    requested_by: str,
    request_id: str | None = None,
) -> ErasureResult:
    """Erase ``customer_id`` everywhere (blocking: call it from a worker thread).

    Raises :class:`NothingHeldError` (and changes nothing) when no store holds the customer
    and the ledger records no earlier erasure; :class:`ErasureError` when a store fails.
    """
    key = load_or_create_key(settings)
    tables = lakehouse.find_tables(settings)
    keys = lakehouse.discover(tables, customer_id)
    engine = sync_engine(settings)
    counts: dict[str, dict[str, int]] = {store: {} for store in STORES}
    purged: list[str] = []
    try:
        with engine.connect() as conn:
            previously = ledger.was_erased(conn, key, customer_id)
            held = keys.matched or _serving_holds(conn, customer_id)
        if not held and not previously:
            raise NothingHeldError(f"no store holds customer {customer_id}")
        try:
            for table in lakehouse.erase_order(tables):
                done = lakehouse.erase_table(table, keys)
                counts["lakehouse"][table.name] = done.rows
                if done.history_purged:
                    purged.append(table.name)
            if "://" not in settings.warehouse_path:
                counts["warehouse"] = warehouse.erase(Path(settings.warehouse_path), keys)
            with engine.begin() as conn, use_keyring(load_keyring(settings, conn)):
                counts["serving"] = serving.erase(conn, customer_id)
                erasure_id = ledger.record(
                    conn,
                    key,
                    customer_id=customer_id,
                    keys=keys.pairs(),
                    erased_at=now,
                    requested_by=requested_by,
                    request_id=request_id,
                    counts=counts,
                )
        except Exception as exc:
            raise ErasureError(
                f"the erasure of {customer_id} stopped ({type(exc).__name__}: {exc}); what "
                "was erased stays erased, run it again to finish",
                counts,
            ) from exc
    finally:
        engine.dispose()
    return ErasureResult(
        customer_id=customer_id,
        erasure_id=erasure_id,
        erased_at=now,
        previously_erased=previously,
        counts=counts,
        history_purged=purged,
        landing_files=landing.mentions(settings.landing_path, keys),
    )
