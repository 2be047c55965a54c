"""``cems status``: what CEMS_HOME holds right now."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.errors import UserError, friendly
from data_contracts.settings import get_settings

console = Console()


@friendly
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON only.")] = False,
) -> None:
    """Show where state lives and what the last ``cems generate`` produced."""
    settings = get_settings()
    manifest_path = settings.generated_path / "manifest.json"
    if not manifest_path.exists():
        raise UserError(f"nothing generated yet under {settings.home}; run `cems generate` first.")
    manifest = json.loads(manifest_path.read_text())
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "home": str(settings.home),
                    "manifest": {k: v for k, v in manifest.items() if k != "files"},
                },
                indent=2,
            )
        )
        return
    params = manifest["parameters"]
    table = Table(title=f"CEMS_HOME {settings.home}")
    table.add_column("What")
    table.add_column("Where")
    table.add_row("CRM database", settings.crm_database_url)
    table.add_row("Landing zone", f"{settings.landing_path} ({len(manifest['files']):,} files)")
    table.add_row("Lakehouse", settings.lakehouse_root)
    table.add_row("Warehouse", settings.warehouse_path)
    table.add_row("MLflow", settings.mlflow_tracking_uri)
    table.add_row("Serving DB", settings.serving_database_url)
    console.print(table)
    churn = manifest["churn"]
    console.print(
        f"Last generation: {params['customers']:,} customers x {params['days']} days from "
        f"{params['start_date']}, seed {params['seed']}; "
        f"churn {churn['churned']:,} ({churn['rate']:.1%}); "
        f"{sum(manifest['row_counts'].values()):,} rows delivered, "
        f"{sum(sum(v.values()) for v in manifest['planted'].values()):,} planted bad records."
    )
