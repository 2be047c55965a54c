"""Entry point of the ``cems`` command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from api.cli import (
    airflow,
    audit,
    contracts,
    dashboards,
    db,
    generate,
    keys,
    legacy_import,
    ml,
    pipeline,
    privacy,
    serve,
    serving,
    status,
    users,
)

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
app.command("serve")(serve.serve)
app.add_typer(contracts.app, name="contracts")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(airflow.app, name="airflow")
app.add_typer(ml.app, name="ml")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="users")
app.add_typer(serving.app, name="serving")
app.add_typer(db.app, name="db")
app.add_typer(privacy.app, name="privacy")
app.add_typer(keys.app, name="keys")

if __name__ == "__main__":
    app()
