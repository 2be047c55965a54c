"""Where each source drops its files in the landing zone (one naming scheme for all writers)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from data_contracts.loader import Contract

MICROBATCH_SUFFIX = {"jsonl_microbatch": "jsonl", "parquet_microbatch": "parquet"}


def crm_export_path(landing: Path, entity: str) -> Path:
    """The CRM's nightly CSV export of one table."""
    return landing / "crm" / "export" / f"{entity}.csv"


def daily_file_path(landing: Path, contract: Contract, day: date) -> Path:
    """A billing or inventory daily file: CSV, or the legacy fixed-width ``.DAT``."""
    folder = landing / contract.source / contract.entity
    if contract.delivery == "fixed_width_daily":
        return folder / f"{contract.entity.upper()}_{day:%Y%m%d}.DAT"
    return folder / f"{contract.entity}_{day:%Y%m%d}.csv"


def microbatch_path(landing: Path, contract: Contract, batch_start: datetime, part: str) -> Path:
    """A collector's or edge agent's micro-batch file, partitioned by arrival date."""
    suffix = MICROBATCH_SUFFIX[contract.delivery]
    return (
        landing
        / contract.source
        / contract.entity
        / f"date={batch_start:%Y-%m-%d}"
        / f"{contract.entity}_{batch_start:%Y%m%dT%H%M}_{part}.{suffix}"
    )
