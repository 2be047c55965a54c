"""`cems pipeline ...`: run the lakehouse pipeline steps by hand (the DAGs call the same code)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.errors import UserError, friendly

app = typer.Typer(help="Run pipeline steps: landing into the lakehouse.", no_args_is_help=True)
console = Console()


class Source(StrEnum):
    crm = "crm"
    billing = "billing"
    telemetry = "telemetry"
    interactions = "interactions"
    all = "all"


@app.command("land")
@friendly
def land(
    source: Annotated[Source, typer.Option(help="Which source system to land.")] = Source.all,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reconciliation as JSON only.")
    ] = False,
) -> None:
    """Land new source data into bronze and silver, quarantining rows that break their contract.

    Prints a reconciliation per contract: rows received = rows in silver + quarantined +
    duplicates removed. Exits 1 if a batch breaks more rows than its error budget allows.
    """
    from spark_jobs.batches import ErrorBudgetError
    from spark_jobs.jars import JarsMissingError
    from spark_jobs.pipeline import SOURCES
    from spark_jobs.pipeline import land as run_land

    sources = list(SOURCES) if source is Source.all else [source.value]
    try:
        reports = run_land(sources)
    except JarsMissingError as exc:
        raise UserError(str(exc)) from None
    except ErrorBudgetError as exc:
        console.print(f"[bold red]Quality gate failed:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2, sort_keys=True))
        return
    table = Table(title="Landing reconciliation")
    for column in (
        "Contract",
        "Batch",
        "Received",
        "Silver",
        "Quarantined",
        "Duplicates",
        "Balanced",
    ):
        table.add_column(column, justify="left" if column == "Contract" else "right")
    for r in reports:
        table.add_row(
            r.contract,
            str(r.batch_id),
            f"{r.received:,}",
            f"{r.silver:,}",
            f"{r.quarantined_total:,}",
            f"{r.duplicates:,}",
            "yes" if r.balanced else "[red]NO[/]",
        )
    console.print(table)
    if not reports:
        console.print("Nothing new to land.")
    for r in reports:
        for reason, count in sorted(r.quarantined.items()):
            console.print(f"  {r.contract}: {count:,} quarantined: {reason}")
