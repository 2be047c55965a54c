"""Privacy bodies (GDPR and CCPA): the full data export and the erasure report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TableSearched(BaseModel):
    store: str = Field(examples=["lakehouse"], description="serving, lakehouse or warehouse.")
    table: str = Field(examples=["silver/crm/customers"])
    matched_by: str = Field(
        examples=["customer_id, else account_id"],
        description="The columns (in order) or raw text that tie a row to the customer.",
    )
    rows: int


class LandingFile(BaseModel):
    path: str = Field(examples=["crm/export/customers.csv"], description="Under the landing root.")
    matches: int = Field(description="Lines (or Parquet rows) that mention one of the keys.")


class ExportManifest(BaseModel):
    keys: dict[str, list[str]] = Field(
        description="The customer's keys by column: accounts, subscriptions, invoices..."
    )
    tables: list[TableSearched]
    tables_searched: int
    rows_found: int
    landing_files: list[LandingFile] = Field(
        description="Raw deliveries that may mention the customer (not copied)."
    )
    not_included: list[str] = Field(description="What the export leaves out, and why.")


class DataExport(BaseModel):
    """Everything CEMS holds on one customer: rows by store and table, and the manifest."""

    customer_id: str
    exported_at: datetime
    stores: dict[str, dict[str, list[dict[str, Any]]]] = Field(
        description="store (serving, lakehouse) -> table -> the customer's rows."
    )
    manifest: ExportManifest


class ErasureReport(BaseModel):
    """What an erasure removed, per store and table (no data)."""

    customer_id: str
    erasure_id: int = Field(description="The erasure ledger's entry.")
    erased_at: datetime
    previously_erased: bool = Field(description="An earlier erasure of this customer exists.")
    rows_erased: int
    counts: dict[str, dict[str, int]] = Field(
        description="store (lakehouse, warehouse, serving) -> table -> rows erased."
    )
    history_purged: list[str] = Field(
        description="Delta tables whose older versions were dropped (no time travel back)."
    )
    landing_files: list[LandingFile] = Field(
        description="Raw deliveries that still mention the customer, for the landing "
        "zone's retention to remove."
    )
