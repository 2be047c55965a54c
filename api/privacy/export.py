"""Data subject access: everything CEMS holds on one customer, as one JSON document.

``stores`` groups the rows by store and table: ``serving`` (the operational database:
current serving rows, sign-in accounts without their secrets, sessions, passkeys, the audit
entries about the customer) and ``lakehouse`` (every Delta table: bronze, silver, quarantine,
gold marts and the churn models' gold tables). ``manifest`` lists every table searched, how
it was matched and how many rows it gave, the keys that led to them (the customer's
accounts, subscriptions, invoices, tickets, payments), the warehouse's counts and the
landing files that mention the customer.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from api.crypto.keyring import load_keyring, use_keyring
from api.db.engine import sync_engine
from api.privacy import lakehouse, landing, serving, warehouse
from data_contracts.settings import Settings

NOT_INCLUDED = (
    lakehouse.KEPT["audit"] + ".",
    "The DuckDB warehouse holds the same rows as the gold marts; the manifest counts them "
    "(store 'warehouse') instead of repeating them.",
    "Landing files are raw deliveries, kept as received; the manifest names those that "
    "mention the customer (landing_files) without copying them.",
    "The operator's source systems (CRM, billing, network) are theirs, not CEMS's; ask the "
    "operator for what they hold.",
)
_AUDIT_TABLE = "audit_entries"


def jsonable(value: Any) -> Any:
    """``value`` with dates, decimals and bytes as JSON values (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@dataclass(frozen=True)
class TableSearched:
    store: str
    table: str
    matched_by: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "table": self.table,
            "matched_by": self.matched_by,
            "rows": self.rows,
        }


@dataclass
class CustomerData:
    """The export of one customer: rows by store and table, and the manifest."""

    customer_id: str
    exported_at: datetime
    keys: dict[str, list[str]]
    stores: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    tables: list[TableSearched] = field(default_factory=list)
    landing_files: list[landing.LandingFile] = field(default_factory=list)

    @property
    def rows_found(self) -> int:
        return sum(len(rows) for tables in self.stores.values() for rows in tables.values())

    @property
    def holds_data(self) -> bool:
        """Whether anything but audit entries (which name any id ever asked for) was found."""
        return any(
            rows
            for store in self.stores.values()
            for table, rows in store.items()
            if table != _AUDIT_TABLE
        )

    def manifest(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "tables": [t.to_dict() for t in self.tables],
            "tables_searched": len(self.tables),
            "rows_found": self.rows_found,
            "landing_files": [f.to_dict() for f in self.landing_files],
            "not_included": list(NOT_INCLUDED),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "exported_at": self.exported_at.isoformat(),
            "stores": self.stores,
            "manifest": self.manifest(),
        }


def export_customer(
    settings: Settings, customer_id: str, *, now: datetime, include_landing: bool = True
) -> CustomerData:
    """Search every store for ``customer_id`` (blocking: call it from a worker thread)."""
    tables = lakehouse.find_tables(settings)
    keys = lakehouse.discover(tables, customer_id)
    data = CustomerData(customer_id, now, keys.to_dict(), {"serving": {}, "lakehouse": {}})
    engine = sync_engine(settings)
    try:
        with engine.connect() as conn, use_keyring(load_keyring(settings, conn)):
            found = serving.export(conn, customer_id)
    finally:
        engine.dispose()
    for name, rows in found.items():
        data.tables.append(TableSearched("serving", name, serving.MATCHED_BY[name], len(rows)))
        if rows:
            data.stores["serving"][name] = jsonable(rows)
    for table in tables:
        rows_found = lakehouse.rows(table, keys)
        n = rows_found.num_rows if rows_found is not None else 0
        data.tables.append(TableSearched("lakehouse", table.name, table.matched_by, n))
        if rows_found is not None and n:
            data.stores["lakehouse"][table.name] = jsonable(rows_found.to_pylist())
    if "://" not in settings.warehouse_path:
        for name, n in warehouse.count(Path(settings.warehouse_path), keys).items():
            data.tables.append(TableSearched("warehouse", name, "as the gold marts", n))
    if include_landing:
        data.landing_files = landing.mentions(settings.landing_path, keys)
    return data
