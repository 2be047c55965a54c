"""Entry point of the ``cems`` command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from api.cli import airflow, contracts, generate, legacy_import, ml, pipeline, status

app = typer.Typer(
    name="cems",
    help="CEMS: customer-experience management for telecom operators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

app.command("generate")(generate.generate)
app.command("import")(legacy_import.import_file)
app.command("status")(status.status)
app.add_typer(contracts.app, name="contracts")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(airflow.app, name="airflow")
app.add_typer(ml.app, name="ml")

if __name__ == "__main__":
    app()
