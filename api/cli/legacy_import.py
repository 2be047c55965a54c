"""``cems import``: bring another vendor's customer export in through a declarative mapping."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.errors import UserError, friendly
from data_contracts.legacy_import import (
    ImportMapping,
    ImportResult,
    LegacyImportError,
    load_mapping,
    read_vendor_file,
    run_import,
)

stdout = Console(highlight=False)
progress_console = Console(stderr=True)


def _as_of(value: str | None, mapping: ImportMapping) -> date:
    """--as-of, else the mapping's as_of, else today's UTC date (a CLI default only)."""
    if value is None:
        return mapping.as_of or datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date; use YYYY-MM-DD.") from None


def _summary(result: ImportResult, seconds: float) -> Table:
    table = Table(
        title=f"Imported {result.source_file.name} with mapping {result.mapping}",
        show_header=False,
    )
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    table.add_row("As of", result.as_of.isoformat())
    table.add_row("Rows read", f"{result.rows_read:,}")
    table.add_row("Rows imported", f"{result.rows_imported:,}")
    style = "red" if result.rows_rejected else ""
    table.add_row("Rows rejected", f"[{style}]{result.rows_rejected:,}[/]" if style else "0")
    for contract, rows in result.rows_per_contract.items():
        table.add_row(f"  {contract}", f"{rows:,}")
    table.add_row("CRM database", result.crm_database)
    table.add_row("Files written", "\n".join(str(p) for p in result.files_written) or "none")
    table.add_row("Reject report", str(result.reject_report))
    table.add_row("Took", f"{seconds:.1f} s")
    return table


@friendly
def import_file(
    file: Annotated[
        Path | None,
        typer.Argument(help="The vendor's export file (CSV).", show_default=False),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping",
            "-m",
            help="Mapping YAML: a path, or the name of a bundled mapping such as ibm_telco.",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date the export was taken (YYYY-MM-DD). "
            "Default: the mapping's as_of, else today (UTC).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print only the summary, as JSON.")
    ] = False,
) -> None:
    """Import another vendor's customer export into the CRM and billing sources.

    The mapping says how the vendor's columns become rows of our contracts.

    CRM rows are upserted into the CRM database (its export is refreshed).

    Billing rows land in the daily file of the as-of date.

    Rows that cannot be mapped are skipped and listed in a reject report.

    Importing the same file for the same as-of date again changes nothing.
    """
    if mapping is None:
        raise UserError("Pass the mapping with --mapping MAPPING.yaml (e.g. --mapping ibm_telco).")
    if file is None:
        raise UserError("Give the export file to import: cems import --mapping MAPPING.yaml FILE.")
    started = time.perf_counter()
    try:
        spec = load_mapping(mapping)
        day = _as_of(as_of, spec)
        vendor = read_vendor_file(spec, file)
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=progress_console,
            transient=True,
            disable=json_output or not progress_console.is_terminal,
        ) as progress:
            task = progress.add_task(f"Mapping {file.name}", total=len(vendor.rows))

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_import(spec, vendor, day, on_progress=advance)
    except LegacyImportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"Cannot write {exc.filename or 'the output'}: {exc.strerror}.") from None
    seconds = time.perf_counter() - started
    if json_output:
        typer.echo(json.dumps({**result.to_dict(), "seconds": round(seconds, 2)}))
        return
    stdout.print(_summary(result, seconds))
    if result.rows_rejected:
        stdout.print(
            f"[yellow]{result.rows_rejected:,} rows were not imported; "
            f"see {result.reject_report}[/]"
        )
