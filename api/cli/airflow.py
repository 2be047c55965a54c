"""`cems airflow ...`: run Airflow on this repository's DAGs with settings from CEMS_*.

Nothing is configured by hand: :func:`airflow_env` derives every Airflow setting CEMS cares
about (home, DAGs folder, metadata database, executor) from :class:`Settings`, and the
commands run the ``airflow`` of this environment with it.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly
from data_contracts.settings import Settings, get_settings

app = typer.Typer(
    help="Run Airflow on the CEMS DAGs (configured from CEMS_* settings).", no_args_is_help=True
)
console = Console()

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DEFAULT_PORT = 8080


def airflow_env(settings: Settings, port: int = DEFAULT_PORT) -> dict[str, str]:
    """The environment variables that point Airflow at CEMS: home, DAGs, metadata DB."""
    airflow_home = Path(settings.airflow_home).expanduser().resolve()
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Each task may start a Spark driver; on one machine a few at a time is plenty.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX": "glob",  # what dags/.airflowignore is written in
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_database_url,
        "AIRFLOW__API__PORT": str(port),
        # Task processes report to the API server; it must be the one this env starts.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        # Tasks read CEMS settings themselves; pin the home so every process sees the same one.
        "CEMS_HOME": str(settings.home),
    }


def _checked_env(port: int = DEFAULT_PORT) -> dict[str, str]:
    if not DAGS_FOLDER.is_dir():
        raise UserError(
            f"no DAGs folder at {DAGS_FOLDER}; run `cems airflow` from a source checkout "
            "installed with `make setup`."
        )
    return airflow_env(get_settings(), port)


def _run_airflow(args: list[str], env: dict[str, str]) -> int:
    """Run this environment's ``airflow`` with the CEMS environment on top of ours."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "airflow", *args]
    return subprocess.run(command, env={**os.environ, **env}, check=False).returncode


@app.command("env")
@friendly
def env(
    port: Annotated[
        int, typer.Option(help="Port of the Airflow API server and UI.")
    ] = DEFAULT_PORT,
) -> None:
    """Print the Airflow settings as shell exports: `eval $(cems airflow env)`."""
    for key, value in _checked_env(port).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@app.command("migrate")
@friendly
def migrate() -> None:
    """Create or upgrade the Airflow metadata database (`airflow db migrate`)."""
    variables = _checked_env()
    console.print(f"Migrating the Airflow metadata database {_safe_url(variables)}")
    code = _run_airflow(["db", "migrate"], variables)
    if code != 0:
        console.print("[bold red]airflow db migrate failed[/]; see its output above.")
        raise typer.Exit(code)


@app.command("standalone")
@friendly
def standalone(
    port: Annotated[
        int, typer.Option(help="Port of the Airflow API server and UI.")
    ] = DEFAULT_PORT,
) -> None:
    """Run Airflow locally (scheduler, DAG processor, API server, triggerer) on the CEMS DAGs.

    Migrates the metadata database first. Stop it with Ctrl-C.
    """
    if _port_in_use(port):
        raise UserError(f"port {port} is already in use; pass a free one with --port.")
    variables = _checked_env(port)
    home = variables["AIRFLOW_HOME"]
    console.print(
        f"Airflow UI: [bold]http://localhost:{port}[/] (user admin; the password is printed "
        f"below and kept in {home}/simple_auth_manager_passwords.json.generated)"
    )
    console.print(f"AIRFLOW_HOME={home}, DAGs from {variables['AIRFLOW__CORE__DAGS_FOLDER']}")
    try:
        code = _run_airflow(["standalone"], variables)
    except KeyboardInterrupt:
        code = 0
    if code not in (0, -2, 130):  # Ctrl-C reaches airflow too
        raise typer.Exit(code)


def _safe_url(variables: dict[str, str]) -> str:
    """The metadata database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    url = make_url(variables["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    return url.render_as_string(hide_password=True)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
