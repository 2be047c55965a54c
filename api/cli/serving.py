"""``cems serving``: publish the gold marts to the API's serving tables."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly

app = typer.Typer(help="Serving tables the API reads: publish gold marts atomically.")
console = Console(highlight=False)


@app.command("publish")
@friendly
def publish(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Load the gold marts as a new serving version and switch it in."""
    from api.serving.publish import PublishError
    from api.serving.publish import publish as run_publish
    from data_contracts.settings import get_settings

    try:
        result = run_publish(get_settings())
    except PublishError as exc:
        raise UserError(f"{exc}; the previous version keeps serving.") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    counts = ", ".join(f"{n:,} {mart}" for mart, n in result.row_counts.items())
    console.print(
        f"Serving version {result.version} (as of {result.as_of_date}) published in "
        f"{result.seconds:.1f} s: {counts}."
    )
