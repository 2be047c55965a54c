"""``cems generate``: a deterministic synthetic operator, delivered like the real sources."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api.cli.errors import UserError, friendly
from data_contracts.settings import Settings, get_settings
from data_contracts.synthetic.config import DEFAULT_START_DATE, BadRecordRates, GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult
from data_contracts.synthetic.generate import generate as run_generate

console = Console()
DEFAULT_BAD_RECORD_RATE = sum(BadRecordRates().__dict__.values())


@friendly
def generate(
    customers: Annotated[
        int, typer.Option(min=1, max=50_000_000, help="Number of customers.")
    ] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of activity to simulate.")] = 90,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed; the same seed gives byte-identical output.")
    ] = 7,
    start_date: Annotated[
        datetime,
        typer.Option(formats=["%Y-%m-%d"], help="First day of the simulated window (UTC)."),
    ] = datetime.combine(DEFAULT_START_DATE, datetime.min.time()),
    kpi_days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Per-minute cell KPIs for the last N days only (default: every day)."
        ),
    ] = None,
    bad_record_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.2, help="Share of delivered rows deliberately broken for the quarantine."
        ),
    ] = DEFAULT_BAD_RECORD_RATE,
    crm_url: Annotated[
        str | None,
        typer.Option(
            help="CRM database URL (default: SQLite under CEMS_HOME; e.g. postgresql+psycopg://...)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON only.")
    ] = False,
) -> None:
    """Generate CRM, billing, network and interaction data for every contract.

    Writes the CRM database and its CSV export, billing daily files (CSV and the legacy
    fixed-width layout), network and interaction micro-batches, and a manifest with
    checksums and ground truth. Everything is replaced atomically.
    """
    if kpi_days is not None and kpi_days > days:
        raise UserError(
            f"--kpi-days ({kpi_days}) cannot exceed --days ({days}); lower it or drop it."
        )
    settings = get_settings()
    if crm_url:
        settings = Settings(**{**settings.model_dump(), "crm_database_url": crm_url})
    factor = bad_record_rate / DEFAULT_BAD_RECORD_RATE
    config = GeneratorConfig(
        customers=customers,
        days=days,
        seed=seed,
        start_date=start_date.date(),
        kpi_days=kpi_days,
        bad_records=BadRecordRates().scaled(factor),
    )
    started = time.perf_counter()
    result = _run(config, settings, show_progress=not as_json)
    elapsed = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps(_summary(result, elapsed), indent=2, sort_keys=True))
    else:
        _print_summary(result, elapsed)


def _run(config: GeneratorConfig, settings: Settings, show_progress: bool) -> GenerateResult:
    try:
        if not show_progress:
            return run_generate(config, settings)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            return run_generate(config, settings, report)
    except OSError as exc:
        raise UserError(
            f"could not write the generated data ({exc.strerror or exc}); "
            "check that CEMS_HOME is writable and has free space."
        ) from exc


def _summary(result: GenerateResult, elapsed: float) -> dict[str, object]:
    cfg = result.config
    return {
        "customers": cfg.customers,
        "days": cfg.days,
        "seed": cfg.seed,
        "start_date": cfg.start_date.isoformat(),
        "row_counts": result.row_counts,
        "planted_bad_records": result.planted,
        "customers_churned": result.customers_churned,
        "landing_path": str(result.landing_path),
        "generated_path": str(result.generated_path),
        "crm_database_url": _safe_url(result.crm_database_url),
        "files_written": result.files_written,
        "seconds": round(elapsed, 2),
    }


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _print_summary(result: GenerateResult, elapsed: float) -> None:
    table = Table(title="Generated sources", show_lines=False)
    table.add_column("Contract")
    table.add_column("Rows delivered", justify="right")
    table.add_column("Planted bad records", justify="right")
    for name, rows in result.row_counts.items():
        planted = result.planted.get(name, {})
        detail = ", ".join(f"{kind} {count:,}" for kind, count in planted.items()) or "-"
        table.add_row(name, f"{rows:,}", detail)
    console.print(table)
    cfg = result.config
    churn_rate = result.customers_churned / cfg.customers
    end = date.fromordinal(cfg.start_date.toordinal() + cfg.days - 1)
    console.print(
        f"[bold green]Done[/] in {elapsed:,.1f} s: {cfg.customers:,} customers, "
        f"{cfg.start_date} to {end}, seed {cfg.seed}; {result.customers_churned:,} churned "
        f"({churn_rate:.1%}).\n"
        f"  CRM database   {_safe_url(result.crm_database_url)}\n"
        f"  Landing zone   {result.landing_path} ({result.files_written:,} files)\n"
        f"  Manifest       {result.generated_path / 'manifest.json'}\n"
        f"  Ground truth   {result.generated_path / 'ground_truth'}"
    )
